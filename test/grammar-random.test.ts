/**
 * Constrained decoding with the real Llama 3.1 vocabulary and seeded RANDOM logits: whatever the
 * logits, the output must parse and validate against the schema (ajv), and finish within max_tokens.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConstraint, getTokenVocabulary, type ConstraintSpec, type JsonSchema, type TokenVocabulary } from '../src/runtime/grammar/index.ts';
import type { TextTokenizer } from '../src/tokenizer/index.ts';
import { EOS_IDS, llamaTokenizer, runConstrained, schemaErrors } from './helpers/constrained.ts';

const SEEDS = 12;

const SCHEMAS: Record<string, Exclude<JsonSchema, boolean>> = {
  'object with required fields': {
    type: 'object',
    properties: { name: { type: 'string' }, age: { type: 'integer' }, active: { type: 'boolean' }, note: { type: 'string' } },
    required: ['name', 'age', 'active'],
    additionalProperties: false,
  },
  enums: {
    type: 'object',
    properties: {
      color: { enum: ['red', 'green', 'blue'] },
      size: { type: 'string', enum: ['S', 'M', 'L', 'XL', 'XXL'] },
      level: { enum: [1, 12, 123, null, true] },
      fixed: { const: { a: [1, 'ü'] } },
    },
    required: ['color', 'size', 'level', 'fixed'],
    additionalProperties: false,
  },
  arrays: {
    type: 'object',
    properties: {
      tags: { type: 'array', items: { type: 'string', maxLength: 12 }, minItems: 1, maxItems: 4 },
      matrix: { type: 'array', items: { type: 'array', items: { type: 'integer' }, maxItems: 3 }, maxItems: 3 },
      any: { type: 'array' },
    },
    required: ['tags', 'matrix', 'any'],
    additionalProperties: false,
  },
  'nested objects': {
    type: 'object',
    properties: {
      user: {
        type: 'object',
        properties: {
          id: { type: 'integer', minimum: 1 },
          address: {
            type: 'object',
            properties: { city: { type: 'string', minLength: 2, maxLength: 20 }, zip: { type: 'string', maxLength: 5 } },
            required: ['city'],
            additionalProperties: false,
          },
        },
        required: ['id', 'address'],
        additionalProperties: false,
      },
      meta: { type: 'object' },
    },
    required: ['user', 'meta'],
    additionalProperties: false,
  },
  numbers: {
    type: 'object',
    properties: {
      x: { type: 'number' },
      p: { type: 'number', minimum: 0, maximum: 1 },
      t: { type: 'number', exclusiveMinimum: -2.5, exclusiveMaximum: 3 },
      n: { type: 'integer', minimum: -40, maximum: 1234 },
      big: { type: 'integer', minimum: 1000000 },
      neg: { type: 'integer', maximum: -7 },
    },
    required: ['x', 'p', 't', 'n', 'big', 'neg'],
    additionalProperties: false,
  },
  'anyOf, nullable, $ref': {
    type: 'object',
    $defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } },
    properties: {
      where: { $ref: '#/$defs/point' },
      maybe: { type: ['string', 'null'], maxLength: 8 },
      either: { anyOf: [{ type: 'integer' }, { $ref: '#/$defs/point' }, { type: 'array', items: { $ref: '#/$defs/point' }, maxItems: 2 }] },
      pick: { oneOf: [{ const: 'a' }, { const: 'ab' }, { type: 'boolean' }] },
    },
    required: ['where', 'maybe', 'either', 'pick'],
  },
  'recursive tree': {
    $defs: {
      node: {
        type: 'object',
        properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
        required: ['v'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
  'top-level array': { type: 'array', items: { type: 'string', enum: ['x', 'y'] }, minItems: 2 },
};

describe('constrained decoding, Llama 3.1 vocabulary, random logits', () => {
  let tok: TextTokenizer;
  let vocab: TokenVocabulary;
  before(async () => {
    tok = await llamaTokenizer();
    vocab = getTokenVocabulary(tok);
  });

  for (const [name, schema] of Object.entries(SCHEMAS)) {
    test(`json_schema ${name}: ${SEEDS} seeds parse and validate`, () => {
      const spec: ConstraintSpec = { type: 'json_schema', schema, limits: { maxStringLength: 24 } };
      for (let seed = 1; seed <= SEEDS; seed++) {
        const run = runConstrained(createConstraint(spec, vocab, EOS_IDS), tok, { seed, maxTokens: 300 });
        assert.ok(run.finished, `seed ${seed}: not finished: ${run.text}`);
        const value = JSON.parse(run.text) as unknown;
        assert.equal(schemaErrors(schema, value), null, `seed ${seed}: ${run.text}`);
      }
    });
  }

  test('json_object: always a JSON object, default limits', () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = runConstrained(createConstraint({ type: 'json_object' }, vocab, EOS_IDS), tok, { seed, maxTokens: 160 });
      const value = JSON.parse(run.text) as unknown;
      assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), run.text);
    }
  });

  test('greedy decoding under a schema is valid too', () => {
    const schema = SCHEMAS['object with required fields']!;
    for (let seed = 1; seed <= 5; seed++) {
      const run = runConstrained(createConstraint({ type: 'json_schema', schema }, vocab, EOS_IDS), tok, { seed, maxTokens: 400, temperature: 0 });
      assert.equal(schemaErrors(schema, JSON.parse(run.text)), null, run.text);
    }
  });

  test('tight max_tokens: the value is still closed in time', () => {
    const schema = SCHEMAS['nested objects']!;
    const spec: ConstraintSpec = { type: 'json_schema', schema };
    const minimal = createConstraint(spec, vocab, EOS_IDS).completionLength();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const maxTokens = minimal + (seed % 7) * 3;
      const run = runConstrained(createConstraint(spec, vocab, EOS_IDS), tok, { seed, maxTokens });
      assert.ok(run.ids.length <= maxTokens);
      assert.ok(run.finished, `seed ${seed}, max ${maxTokens}: ${run.text}`);
      assert.equal(schemaErrors(schema, JSON.parse(run.text)), null, run.text);
    }
  });

  test('adversarial logits that favour opening brackets and commas still close in time', () => {
    const schema = { type: 'object', properties: { a: { type: 'array', items: { type: 'array', items: {} } } }, required: ['a'] };
    const openers = [...'[{,"'].map((ch) => tok.encode(ch, { addSpecialTokens: false })[0]!);
    const bias = (logits: Float32Array): void => {
      for (const id of openers) logits[id] = logits[id]! + 50;
    };
    for (let seed = 1; seed <= 10; seed++) {
      const maxTokens = 40 + seed * 10;
      const run = runConstrained(createConstraint({ type: 'json_schema', schema }, vocab, EOS_IDS), tok, { seed, maxTokens, bias });
      assert.ok(run.finished, run.text);
      assert.equal(schemaErrors(schema, JSON.parse(run.text)), null, run.text);
    }
  });

  test('EOS is never allowed before the value is complete, then allowed and sampled', () => {
    const eosFirst = (logits: Float32Array): void => {
      for (const id of EOS_IDS) logits[id] = 1000;
    };
    const schema = { type: 'integer', minimum: 5, maximum: 500 };
    for (let seed = 1; seed <= 10; seed++) {
      const c = createConstraint({ type: 'json_schema', schema }, vocab, EOS_IDS);
      const run = runConstrained(c, tok, { seed, maxTokens: 20, bias: eosFirst });
      assert.ok(run.finished);
      const value = JSON.parse(run.text) as number;
      assert.equal(schemaErrors(schema, value), null, run.text);
    }
  });

  test('an allowed-token set holds only tokens whose text continues the value', () => {
    const c = createConstraint({ type: 'json_schema', schema: { enum: ['alpha', 'alpine', 'beta'] } }, vocab, EOS_IDS);
    const first = c.allowedTokenIds().map((id) => tok.decode([id]));
    assert.ok(first.length > 0);
    for (const text of first) assert.ok(['"alpha"', '"alpine"', '"beta"'].some((v) => v.startsWith(text)), text);
    c.accept(tok.encode('"alp', { addSpecialTokens: false })[0]!);
  });

  test('strings respect maxLength and minLength in code points, multi-byte characters included', () => {
    const schema = { type: 'object', properties: { s: { type: 'string', minLength: 3, maxLength: 5 } }, required: ['s'] };
    const multibyte = (logits: Float32Array): void => {
      for (const ch of ['é', '漢', '😀', 'ж']) for (const id of tok.encode(ch, { addSpecialTokens: false })) logits[id] = logits[id]! + 30;
    };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const run = runConstrained(createConstraint({ type: 'json_schema', schema }, vocab, EOS_IDS), tok, { seed, maxTokens: 60, bias: multibyte });
      const value = JSON.parse(run.text) as { s: string };
      assert.equal(schemaErrors(schema, value), null, run.text);
      assert.ok(!value.s.includes('\ufffd'), 'valid UTF-8');
    }
  });
});
