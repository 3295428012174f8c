/**
 * Constrained decoding through the real engine (worker thread, ONNX session) with the random-weight
 * default model: every json_schema / json_object request returns valid JSON and ends with 'stop'.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.ts';
import { DEFAULT_SAMPLING_PARAMS } from '../src/runtime/sampling.ts';
import type { GenerationEvent } from '../src/runtime/types.ts';
import { INSTRUCT } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, textOf } from './helpers/engine.ts';
import { schemaErrors } from './helpers/constrained.ts';

const SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string', maxLength: 20 },
    temperature: { type: 'number', minimum: -50, maximum: 60 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 7 }, maxItems: 3 },
    windy: { type: 'boolean' },
  },
  required: ['city', 'temperature', 'unit', 'days'],
  additionalProperties: false,
};

function endOf(events: GenerationEvent[], index = 0): Extract<GenerationEvent, { type: 'end' }> {
  const end = events.find((e): e is Extract<GenerationEvent, { type: 'end' }> => e.type === 'end' && e.index === index);
  assert.ok(end, 'an end event');
  return end;
}

describe('engine with a json_schema constraint (models/instruct, random weights)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.start({ modelDir: INSTRUCT, limits: { maxNumSeqs: 8 } });
  });
  after(async () => engine.close());

  test('greedy and sampled requests (n = 2) return JSON valid against the schema, finish_reason stop', async () => {
    const requests = [
      greedyRequest(prompt(12, 1), { maxTokens: 200, ignoreEos: false, constraint: { type: 'json_schema', schema: SCHEMA } }),
      ...[1, 2, 3].map((seed) =>
        greedyRequest(prompt(9, seed + 10), {
          n: 2,
          maxTokens: 200,
          ignoreEos: false,
          sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 1, seed },
          constraint: { type: 'json_schema', schema: SCHEMA, limits: { maxStringLength: 16 } },
        }),
      ),
    ];
    const results = await Promise.all(requests.map((r) => collect(engine.generate(r))));
    results.forEach((events, r) => {
      for (let i = 0; i < requests[r]!.n; i++) {
        const text = textOf(events, i);
        assert.equal(endOf(events, i).finishReason, 'stop', text);
        assert.equal(schemaErrors(SCHEMA, JSON.parse(text)), null, text);
      }
    });
  });

  test('a tight max_tokens still yields complete JSON, json_object gives an object', async () => {
    const tight = await collect(
      engine.generate(greedyRequest(prompt(5, 3), { maxTokens: 60, constraint: { type: 'json_schema', schema: SCHEMA } })),
    );
    const text = textOf(tight);
    assert.ok(endOf(tight).completionTokens <= 60);
    assert.equal(schemaErrors(SCHEMA, JSON.parse(text)), null, text);
    const obj = await collect(
      engine.generate(
        greedyRequest(prompt(5, 4), { maxTokens: 80, sampling: { ...DEFAULT_SAMPLING_PARAMS, seed: 5 }, constraint: { type: 'json_object' } }),
      ),
    );
    const value = JSON.parse(textOf(obj)) as unknown;
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value));
  });

  test('an invalid schema fails only its own request', async () => {
    const bad = greedyRequest(prompt(5, 6), { constraint: { type: 'json_schema', schema: { type: 'string', pattern: '(x)\\1' } } });
    const events = await collect(engine.generate(bad));
    assert.ok(events.some((e) => e.type === 'error' && /pattern/.test(e.message)));
    const ok = await collect(engine.generate(greedyRequest(prompt(5, 7), { maxTokens: 4 })));
    assert.equal(endOf(ok).finishReason, 'length');
  });
});
