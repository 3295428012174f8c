/**
 * Contract: structured outputs with `pattern` and `format`, vLLM's `min_tokens`, and the EOS logprob,
 * through the official `openai` client against a real server, on the default model and the ONNX Runtime
 * GenAI fixture (random weights: only the constraint makes the output valid).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import OpenAI from 'openai';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false }));

const MODELS = [
  { name: 'default instruct model', dir: INSTRUCT, id: 'instruct' },
  { name: 'ONNX Runtime GenAI fixture', dir: FIXTURE, id: 'ortgenai-tiny-llama-fp16' },
];

const PATTERNS = { sku: '^[A-Z]{2,3}-\\d{3}$', note: 'ok|fine' } as const;
const SCHEMA = {
  type: 'object',
  properties: {
    sku: { type: 'string', pattern: PATTERNS.sku },
    note: { type: 'string', pattern: PATTERNS.note, maxLength: 24 },
    when: { type: 'string', format: 'date-time' },
    day: { type: 'string', format: 'date' },
    at: { type: 'string', format: 'time' },
    id: { type: 'string', format: 'uuid' },
    email: { type: 'string', format: 'email', maxLength: 40 },
    v4: { type: 'string', format: 'ipv4' },
    v6: { type: 'string', format: 'ipv6' },
  },
  required: ['sku', 'note', 'when', 'day', 'at', 'id', 'email', 'v4', 'v6'],
  additionalProperties: false,
};
const validate = ajv.compile(SCHEMA);

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Fill in the record.' }];
const responseFormat = { type: 'json_schema' as const, json_schema: { name: 'record', schema: SCHEMA, strict: true } };

/** Parses and checks one output: JSON, the schema with ajv-formats, and each pattern with RegExp. */
function check(content: string | null | undefined): void {
  const value = JSON.parse(content ?? '') as Record<string, string>;
  assert.ok(validate(value), `${content}: ${ajv.errorsText(validate.errors)}`);
  for (const [key, p] of Object.entries(PATTERNS)) assert.match(value[key]!, new RegExp(p, 'u'), content ?? '');
}

for (const m of MODELS) {
  describe(`structured outputs and min_tokens against ${m.name}`, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ chat: m.dir });
      client = server.client();
    });
    after(async () => server.close());

    test('pattern and format outputs are valid for seeds 1..8 at temperature 1', async () => {
      const answers = await Promise.all(
        [1, 2, 3, 4, 5, 6, 7, 8].map((seed) =>
          client.chat.completions.create({ model: m.id, messages, seed, temperature: 1, max_tokens: 400, response_format: responseFormat }),
        ),
      );
      for (const a of answers) {
        assert.equal(a.choices[0]!.finish_reason, 'stop');
        check(a.choices[0]!.message.content);
      }
    });

    test('streamed: the deltas assemble to a valid value', async () => {
      const stream = await client.chat.completions.create({
        model: m.id, messages, seed: 9, temperature: 1, max_tokens: 400, response_format: responseFormat, stream: true,
      });
      let content = '';
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
      check(content);
    });

    test('a pattern outside the subset is a 400 naming the construct and the schema place', async () => {
      const schema = { type: 'object', properties: { code: { type: 'string', pattern: '^(?=x)\\w+$' } } };
      await assert.rejects(
        client.chat.completions.create({ model: m.id, messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }),
        (e: unknown) => {
          assert.ok(e instanceof OpenAI.BadRequestError);
          assert.equal((e.error as { param?: string }).param, 'response_format.json_schema.schema');
          assert.match(e.message, /lookahead.*#\/properties\/code\/pattern/);
          return true;
        },
      );
    });

    test('min_tokens with EOS biased to be most likely; the ending EOS is not in logprobs', async () => {
      const eos = server.engines[0]!.spec.eosTokenIds;
      const logit_bias = Object.fromEntries(eos.map((id) => [String(id), 100]));
      const base = { model: m.id, messages, seed: 4, temperature: 1, max_tokens: 40, logit_bias, logprobs: true, ignore_eos: false };
      const plain = await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(plain.usage!.completion_tokens, 1);
      assert.equal(plain.choices[0]!.message.content, '');
      assert.deepEqual(plain.choices[0]!.logprobs!.content, []);
      const held = await client.chat.completions.create({ ...base, min_tokens: 6 } as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(held.choices[0]!.finish_reason, 'stop');
      assert.ok(held.usage!.completion_tokens >= 6);
      assert.equal(held.usage!.completion_tokens, 7, 'six tokens, then the EOS');
      assert.equal(held.choices[0]!.logprobs!.content!.length, 6);
    });
  });
}
