/**
 * Tool-call histories and parallel_tool_calls (issue 13): the shipped Llama 3.1 JSON template renders
 * several calls in one assistant turn (and renders everything Meta's template accepts identically),
 * --chat-template swaps a model's template, parallel_tool_calls false returns at most one call, and a
 * template failure never shows engine internals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type OpenAI from 'openai';
import { LLAMA31_CHAT_TEMPLATE, LLAMA31_TOOLS_TEMPLATE_FILE } from '../src/modelgen/llama31-chat-template.ts';
import { buildApp } from '../src/server/app.ts';
import { parseConfig } from '../src/server/config.ts';
import { DEFAULT_SERVER_LIMITS, type GenerateModel } from '../src/server/deps.ts';
import { parseToolCalls } from '../src/server/tools/index.ts';
import { CompiledChatTemplate, type ChatMessage } from '../src/tokenizer/chat-template.ts';
import { ChatTemplateError } from '../src/tokenizer/errors.ts';
import { FakeEngine, fakeModel } from './helpers/fake-engine.ts';
import { FIXTURE, INSTRUCT, REPO } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const SPECIAL = { bosToken: '<|begin_of_text|>', eosToken: '<|eot_id|>' };
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', description: 'Time in a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
];
const call = (id: string, name: string, args: Record<string, unknown>) => ({ id, type: 'function', function: { name, arguments: args } });

/** A conversation whose assistant turn called `calls`, each answered by a tool message. */
function history(calls: ReturnType<typeof call>[]): ChatMessage[] {
  return [
    { role: 'system', content: 'You help with travel.' },
    { role: 'user', content: 'Weather and time in Oslo?' },
    { role: 'assistant', content: null, tool_calls: calls },
    ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: `{"${c.function.name}": "ok"}` })),
  ] as unknown as ChatMessage[];
}

describe('the shipped Llama 3.1 JSON tools template', () => {
  const meta = new CompiledChatTemplate(LLAMA31_CHAT_TEMPLATE, 'tokenizer_config.json');
  const shipped = new CompiledChatTemplate(readFileSync(LLAMA31_TOOLS_TEMPLATE_FILE, 'utf8'), 'tokenizer_config.json');
  const opts = { addGenerationPrompt: true, tools: TOOLS as never };

  test("renders one call, and histories without calls, exactly as Meta's template", () => {
    for (const msgs of [history([call('a', 'get_weather', { city: 'Oslo' })]), history([]).slice(0, 2)]) {
      assert.equal(shipped.render(msgs, opts, SPECIAL), meta.render(msgs, opts, SPECIAL));
      assert.equal(shipped.render(msgs, { addGenerationPrompt: false }, SPECIAL), meta.render(msgs, { addGenerationPrompt: false }, SPECIAL));
    }
  });

  test('renders two calls in one turn, in the form the tool-call parser reads back', () => {
    const two = history([call('a', 'get_weather', { city: 'Oslo' }), call('b', 'get_time', { city: 'Oslo' })]);
    assert.throws(() => meta.render(two, opts, SPECIAL), (e: unknown) => e instanceof ChatTemplateError && /single tool-calls/.test(e.message));
    const text = shipped.render(two, opts, SPECIAL);
    const turn = /<\|start_header_id\|>assistant<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>/s.exec(text)![1]!;
    const parsed = parseToolCalls(turn, { functionNames: ['get_weather', 'get_time'] });
    assert.deepEqual(parsed.toolCalls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [['get_weather', { city: 'Oslo' }], ['get_time', { city: 'Oslo' }]]);
    assert.equal((text.match(/<\|start_header_id\|>ipython<\|end_header_id\|>/g) ?? []).length, 2, 'both tool results rendered');
  });

  test('a template failure inside the engine is told in plain words, never as an internal error', () => {
    // A value that refers to itself makes the engine's tojson recurse until JavaScript's stack runs out.
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    const template = new CompiledChatTemplate('{{ x | tojson }}', 'tokenizer_config.json');
    assert.throws(
      () => template.render([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true, templateKwargs: { x: loop } }, SPECIAL),
      (e: unknown) => e instanceof ChatTemplateError && !/stack|Maximum/i.test(e.message) && /could not render/.test(e.message),
    );
  });

  test('--chat-template takes a file; a missing one is a clear error', () => {
    assert.equal(parseConfig(['--chat-template', LLAMA31_TOOLS_TEMPLATE_FILE], {}).chatTemplate, LLAMA31_TOOLS_TEMPLATE_FILE);
    assert.equal(parseConfig(['--chat-template', 'templates/llama3.1-json-tools.jinja'], {}, REPO).chatTemplate, join(REPO, 'templates', 'llama3.1-json-tools.jinja'));
    assert.throws(() => parseConfig(['--chat-template', 'nope.jinja'], {}), /--chat-template/);
    assert.equal(parseConfig([], {}).chatTemplate, undefined);
  });
});

describe('parallel_tool_calls (routes, fake engine)', () => {
  let app: FastifyInstance;
  let engine: FakeEngine;
  before(async () => {
    const model = (await fakeModel()) as GenerateModel;
    engine = model.engine as FakeEngine;
    engine.script.deltas = ['{"name": "get_weather", "parameters": {"city": "Oslo"}}', '; ', '{"name": "get_time", "parameters": {"city": "Oslo"}}'];
    engine.script.finishReason = 'stop';
    app = buildApp({ models: [model], limits: DEFAULT_SERVER_LIMITS, isReady: () => true, logger: false, version: 't' });
  });
  after(async () => app.close());
  const ask = (extra: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'instruct', messages: [{ role: 'user', content: 'Oslo?' }], tools: TOOLS, ...extra } });

  test('true (the default) returns both calls; false returns only the first', async () => {
    const both = (await ask({})).json() as OpenAI.Chat.ChatCompletion;
    assert.deepEqual(both.choices[0]!.message.tool_calls!.map((c) => (c as { function: { name: string } }).function.name), ['get_weather', 'get_time']);
    const one = (await ask({ parallel_tool_calls: false })).json() as OpenAI.Chat.ChatCompletion;
    assert.deepEqual(one.choices[0]!.message.tool_calls!.map((c) => (c as { function: { name: string } }).function.name), ['get_weather']);
    assert.equal(one.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(one.choices[0]!.message.content, null);
  });

  test('streamed, false: only the first call appears in the deltas', async () => {
    const body = (await ask({ parallel_tool_calls: false, stream: true })).body;
    const frames = body.split('\n\n').filter((f) => f.startsWith('data: {')).map((f) => JSON.parse(f.slice(6)) as OpenAI.Chat.ChatCompletionChunk);
    const calls = frames.flatMap((f) => f.choices.flatMap((c) => c.delta.tool_calls ?? []));
    assert.deepEqual([...new Set(calls.map((c) => c.index))], [0]);
    assert.deepEqual(calls.filter((c) => c.function?.name).map((c) => c.function!.name), ['get_weather']);
    assert.equal(JSON.parse(calls.map((c) => c.function?.arguments ?? '').join('')).city, 'Oslo');
  });

  test('an invalid parallel_tool_calls is a 400 naming it', async () => {
    const r = await ask({ parallel_tool_calls: 'no' });
    assert.equal(r.statusCode, 400);
    assert.equal((r.json() as { error: { param: string } }).error.param, 'parallel_tool_calls');
  });
});

for (const m of [
  { name: 'default model', dir: INSTRUCT, chatTemplate: undefined as string | undefined },
  { name: 'shared fixture with --chat-template templates/llama3.1-json-tools.jinja', dir: FIXTURE, chatTemplate: LLAMA31_TOOLS_TEMPLATE_FILE },
]) {
  describe(`a two-call history is rendered, not refused (${m.name}, openai client)`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ chat: m.dir, ...(m.chatTemplate ? { chatTemplate: m.chatTemplate } : {}) });
    });
    after(async () => server.close());

    test('two calls and two tool results, then a new answer', async () => {
      const client = server.client();
      const messages = [
        { role: 'user', content: 'Weather and time in Oslo?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Oslo"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"city": "Oslo"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'Sunny, 21 C' },
        { role: 'tool', tool_call_id: 'call_2', content: '14:05' },
      ] as OpenAI.Chat.ChatCompletionMessageParam[];
      const r = await client.chat.completions.create({ model: server.models[0]!.id, messages, tools: TOOLS as never, max_tokens: 4, temperature: 0 });
      assert.equal(r.choices.length, 1);
      assert.ok(r.usage!.prompt_tokens > 40);
    });
  });
}
