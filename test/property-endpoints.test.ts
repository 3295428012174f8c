/**
 * Property tests (fast-check): any JSON value in any field of every POST endpoint gets a 2xx or a 4xx in
 * the OpenAI error shape — never a 5xx — and the server answers a normal request afterwards.
 *
 * `npm test` runs them with a fixed seed and a bounded number of runs; `npm run fuzz` runs them longer with
 * a random seed (FUZZ_RUNS, FUZZ_SEED override both).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS } from '../src/server/deps.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);

/** A valid body per endpoint: the property replaces or adds one field with an arbitrary value. */
const BASES: Record<string, Record<string, unknown>> = {
  '/v1/chat/completions': { model: 'instruct', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 },
  '/v1/completions': { model: 'instruct', prompt: 'Hi', max_tokens: 2 },
  '/v1/score': { model: 'reward', messages: [{ role: 'user', content: 'Hi' }], responses: ['a', 'b'] },
  '/v1/rerank': { model: 'reward', query: 'q', documents: ['a', 'b'] },
  '/tokenize': { model: 'instruct', prompt: 'Hi' },
  '/detokenize': { model: 'instruct', tokens: [100, 200] },
  '/v1/responses': { model: 'instruct', input: 'Hi', max_output_tokens: 2 },
};

/** Field names the endpoints read, plus a few they do not. */
const FIELDS = [
  'model', 'messages', 'prompt', 'max_tokens', 'max_completion_tokens', 'n', 'best_of', 'temperature', 'top_p', 'top_k',
  'min_p', 'stop', 'stop_token_ids', 'seed', 'logprobs', 'top_logprobs', 'logit_bias', 'stream', 'stream_options',
  'tools', 'tool_choice', 'response_format', 'chat_template_kwargs', 'add_generation_prompt', 'echo', 'suffix',
  'responses', 'text_1', 'text_2', 'query', 'documents', 'top_n', 'return_documents', 'tokens', 'user',
  'presence_penalty', 'frequency_penalty', 'repetition_penalty', 'ignore_eos', 'skip_special_tokens', 'unknown_field',
  'input', 'instructions', 'max_output_tokens', 'text', 'previous_response_id', 'store', 'metadata', 'parallel_tool_calls',
];

/** JSON values, including deep nesting and odd strings. */
const jsonValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(null, true, 0, -1, 1e308, '', '\u0000', 'x'.repeat(5000), [], {}, [[[[[]]]]]),
  fc.array(fc.record({ role: fc.constantFrom('user', 'assistant', 'tool', 'system', 'x'), content: fc.jsonValue({ maxDepth: 2 }) }), { maxLength: 4 }),
  // Responses API input items.
  fc.array(
    fc.record({
      type: fc.constantFrom('message', 'function_call', 'function_call_output', 'reasoning', 'x'),
      role: fc.constantFrom('user', 'assistant', 'developer'),
      content: fc.oneof(fc.string(), fc.array(fc.record({ type: fc.constantFrom('input_text', 'output_text', 'input_image'), text: fc.jsonValue({ maxDepth: 1 }) }), { maxLength: 2 })),
      call_id: fc.oneof(fc.constant('call_1'), fc.jsonValue({ maxDepth: 1 })),
      name: fc.constantFrom('f', ''),
      arguments: fc.constantFrom('{}', '{"a":1}', 'not json', ''),
      output: fc.jsonValue({ maxDepth: 2 }),
    }, { requiredKeys: ['type'] }),
    { maxLength: 4 },
  ),
);

function checkAnswer(status: number, body: string): void {
  assert.ok(status < 500, `status ${status}: ${body.slice(0, 300)}`);
  if (status >= 400) {
    const e = (JSON.parse(body) as { error?: Record<string, unknown> }).error;
    assert.ok(e && typeof e.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e, body.slice(0, 300));
    assert.doesNotMatch(String(e.message), /\/work\/|node:internal|\bat .+\(.+:\d+:\d+\)/, 'no paths or stack frames');
  }
}

describe('property: any JSON in any field never costs a 5xx', () => {
  let app: FastifyInstance;
  before(async () => {
    const engine = new FakeEngine({}, await llamaTokenizer());
    const model = await fakeModel({ engine, contextLength: 512 });
    const reward = await fakeModel({ id: 'reward', task: 'reward' });
    app = buildApp({ models: [model, reward], limits: { ...DEFAULT_SERVER_LIMITS, maxTokens: 16 }, isReady: () => true, logger: false, version: 't' });
  });

  for (const [url, base] of Object.entries(BASES)) {
    test(`${url}: one field set to any JSON value`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...FIELDS), jsonValue, async (field, value) => {
          const r = await app.inject({ method: 'POST', url, payload: { ...base, [field]: value } });
          checkAnswer(r.statusCode, r.body);
        }),
        { seed: SEED, numRuns: RUNS },
      );
      const ok = await app.inject({ method: 'POST', url, payload: base });
      assert.equal(ok.statusCode, 200, `a normal request afterwards: ${ok.body.slice(0, 200)}`);
    });

    test(`${url}: any JSON document as the whole body`, async () => {
      await fc.assert(
        fc.asyncProperty(jsonValue, async (value) => {
          const r = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(value) });
          checkAnswer(r.statusCode, r.body);
        }),
        { seed: SEED + 1, numRuns: Math.ceil(RUNS / 3) },
      );
    });
  }
});
