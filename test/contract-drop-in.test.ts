/**
 * Contract tests (official `openai` client, real server) for the drop-in gaps of issue 13: model aliases,
 * request defaults from generation_config.json, parallel_tool_calls, on the default model and the
 * shared fixture.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type OpenAI from 'openai';
import { DEFAULT_MAX_NEW_TOKENS } from '../src/modelgen/folder.ts';
import { readGenerationDefaults } from '../src/server/generation-defaults.ts';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const MODELS = [
  { name: 'default instruct model', dir: INSTRUCT, id: 'instruct' },
  { name: 'ONNX Runtime GenAI fixture', dir: FIXTURE, id: 'ortgenai-tiny-llama-fp16' },
];
const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Tell me about the sea.' }];
const TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'] } } },
];

for (const m of MODELS) {
  describe(`drop-in details against the ${m.name} (openai client)`, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ chat: m.dir, aliases: ['gpt-4o-mini', 'gpt-4o'], generationConfig: 'auto' });
      client = server.client();
    });
    after(async () => server.close());

    test('aliases: listed by models.list(), usable as `model`, answers name the model', async () => {
      const ids = [];
      for await (const card of client.models.list()) ids.push(card.id);
      assert.deepEqual(ids, [m.id, 'gpt-4o-mini', 'gpt-4o']);
      assert.equal((await client.models.retrieve('gpt-4o')).id, 'gpt-4o');
      const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 2 });
      assert.equal(r.model, m.id);
      assert.equal(r.usage!.completion_tokens <= 2, true);
    });

    test('request defaults come from generation_config.json; a request\'s own values win', async () => {
      const d = readGenerationDefaults(m.dir).defaults;
      if (m.dir === FIXTURE) {
        assert.deepEqual(d, {}, 'the fixture ships no generation_config.json: OpenAI defaults');
      } else {
        assert.equal(d.maxNewTokens, DEFAULT_MAX_NEW_TOKENS);
        const long = await client.chat.completions.create({ model: m.id, messages, ignore_eos: true } as never) as OpenAI.Chat.ChatCompletion;
        assert.equal(long.usage!.completion_tokens, DEFAULT_MAX_NEW_TOKENS, 'no max_tokens: max_new_tokens');
      }
      // Sampling defaults: leaving temperature/top_p out equals sending the model's values, same seed.
      const base = { model: m.id, messages, max_tokens: 12, seed: 11, ignore_eos: true };
      const implicit = await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion;
      const explicit = await client.chat.completions.create({ ...base, temperature: d.temperature ?? 1, top_p: d.topP ?? 1 } as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(implicit.choices[0]!.message.content, explicit.choices[0]!.message.content);
      const own = await client.chat.completions.create({ ...base, max_tokens: 3 } as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(own.usage!.completion_tokens, 3);
    });

    test('parallel_tool_calls false: one call, through the client', async () => {
      const r = await client.chat.completions.create({ model: m.id, messages, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, max_tokens: 60, temperature: 0 });
      const calls = r.choices[0]!.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
      assert.ok(['get_weather', 'get_time'].includes((calls[0] as { function: { name: string } }).function.name));
    });
  });
}
