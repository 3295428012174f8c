/**
 * String `format`s (date-time, date, time, uuid, email, ipv4, ipv6): each format's automaton accepts
 * only strings ajv + ajv-formats (full mode) accept — random walks through the constraint, validated by
 * ajv — and accepts the usual spellings while refusing invalid ones (dates per month and leap year,
 * hour and octet ranges, group counts).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { buildVocabulary, compileConstraint, createConstraint, type JsonSchema } from '../src/runtime/grammar/index.ts';
import { FORMAT_PATTERNS } from '../src/runtime/grammar/formats.ts';
import { acceptsBytes } from './helpers/constrained.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ strict: false }));
const utf8 = new TextEncoder();
const MULTI = ['20', '-0', ':5', 'T1', 'Z"', '::', 'ab', '.com', '@', '\\u00'];
const EOS = 256 + MULTI.length;
const vocab = buildVocabulary([...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...MULTI.map((t) => utf8.encode(t)), null]);

function accepts(schema: JsonSchema, value: string): boolean {
  return acceptsBytes(createConstraint({ type: 'json_schema', schema }, vocab, [EOS]), JSON.stringify(value));
}

/** A random walk through the constraint: token choices from `picks`, ended within `budget` tokens. */
function walk(schema: JsonSchema, budget: number, picks: number[]): string {
  const c = createConstraint({ type: 'json_schema', schema }, vocab, [EOS]);
  const bytes: number[] = [];
  for (let left = budget, i = 0; !c.isFinished(); left--, i++) {
    assert.ok(left > 0, 'finished within the budget');
    const ids = c.allowedTokenIds(left);
    const id = ids[picks[i % picks.length]! % ids.length]!;
    if (id === EOS) break;
    c.accept(id);
    bytes.push(...vocab.bytesOf(id)!);
  }
  return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes))) as string;
}

const EXAMPLES: Record<string, { valid: string[]; invalid: string[] }> = {
  date: {
    valid: ['2024-02-29', '2000-02-29', '2023-12-31', '0001-01-01', '1999-04-30'],
    invalid: ['2023-02-29', '1900-02-29', '2023-04-31', '2023-13-01', '2023-00-10', '2023-1-01', '23-01-01', '2023-01-01T'],
  },
  time: {
    valid: ['00:00:00Z', '23:59:59.123456789+05:30', '12:30:00-00:00'],
    invalid: ['24:00:00Z', '12:60:00Z', '12:00:60Z', '12:00:00', '12:00:00+24:00', '12:00Z', '12:00:00.Z'],
  },
  'date-time': {
    valid: ['2024-02-29T12:00:00Z', '1985-04-12T23:20:50.52+01:00'],
    invalid: ['2023-02-29T12:00:00Z', '2024-01-01 12:00:00Z', '2024-01-01T12:00:00', '2024-01-01'],
  },
  uuid: {
    valid: ['123e4567-e89b-12d3-a456-426614174000', 'ABCDEF01-2345-6789-ABCD-EF0123456789'],
    invalid: ['123e4567e89b12d3a456426614174000', '123e4567-e89b-12d3-a456-42661417400', 'g23e4567-e89b-12d3-a456-426614174000'],
  },
  email: {
    valid: ['a@b.co', "first.o'neil+tag@mail.example-host.org", 'X_Y@Z9.IO'],
    invalid: ['a@b', '@b.co', 'a..b@c.de', 'a@-b.co', 'a@b-.co', 'a b@c.de', '.a@b.co'],
  },
  ipv4: {
    valid: ['0.0.0.0', '255.255.255.255', '192.168.1.10'],
    invalid: ['256.1.1.1', '01.1.1.1', '1.1.1', '1.1.1.1.1', '1.1.1.-1'],
  },
  ipv6: {
    valid: ['::', '::1', '1::', 'fe80::1:2', '2001:db8:0:0:0:0:2:1', '2001:DB8::8:800:200C:417A', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8'],
    invalid: ['1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7', 'g::1'],
  },
};

describe('format automata: examples', () => {
  for (const [format, { valid, invalid }] of Object.entries(EXAMPLES)) {
    test(format, () => {
      const schema = { type: 'string', format };
      for (const v of valid) {
        assert.ok(ajv.validate(schema, v), `ajv accepts ${v}`);
        assert.ok(accepts(schema, v), `accepts ${v}`);
      }
      for (const v of invalid) assert.ok(!accepts(schema, v), `refuses ${v}`);
    });
  }

  test('every enforced format has examples here', () => {
    assert.deepEqual(Object.keys(FORMAT_PATTERNS).sort(), Object.keys(EXAMPLES).sort());
  });
});

describe('format automata: every string a random walk produces validates with ajv-formats', () => {
  for (const format of Object.keys(FORMAT_PATTERNS)) {
    test(format, () => {
      const schema = { type: 'string', format };
      const validate = ajv.compile(schema);
      fc.assert(
        fc.property(fc.array(fc.nat(), { minLength: 50, maxLength: 50 }), (picks) => {
          const value = walk(schema, 120, picks);
          assert.ok(validate(value), `${format}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
        }),
        { numRuns: 150 },
      );
    });
  }
});

describe('format in schemas', () => {
  test('format without type implies a string; unknown formats stay annotations', () => {
    assert.ok(accepts({ format: 'uuid' }, '123e4567-e89b-12d3-a456-426614174000'));
    assert.ok(accepts({ type: 'string', format: 'uri' }, 'not a uri'));
    assert.ok(accepts({ type: 'string', format: 'hostname', maxLength: 3 }, 'a b'));
  });

  test('format with minLength / maxLength; enum values filtered by format', () => {
    assert.ok(accepts({ type: 'string', format: 'ipv4', maxLength: 7 }, '1.2.3.4'));
    assert.ok(!accepts({ type: 'string', format: 'ipv4', maxLength: 7 }, '10.2.3.4'));
    assert.throws(() => compileConstraint({ type: 'json_schema', schema: { type: 'string', format: 'uuid', maxLength: 10 } }), /matches no string/);
    assert.ok(accepts({ enum: ['x', '1.2.3.4'], format: 'ipv4' }, '1.2.3.4'));
    assert.ok(!accepts({ enum: ['x', '1.2.3.4'], format: 'ipv4' }, 'x'));
  });

  test('an object of formatted fields validates with ajv under random walks', () => {
    const schema = {
      type: 'object',
      properties: { when: { type: 'string', format: 'date-time' }, id: { type: 'string', format: 'uuid' }, ip: { type: 'string', format: 'ipv6' } },
      required: ['when', 'id', 'ip'],
      additionalProperties: false,
    };
    const validate = ajv.compile(schema);
    fc.assert(
      fc.property(fc.array(fc.nat(), { minLength: 30, maxLength: 30 }), (picks) => {
        const c = createConstraint({ type: 'json_schema', schema }, vocab, [EOS]);
        const bytes: number[] = [];
        for (let left = 300, i = 0; !c.isFinished(); left--, i++) {
          assert.ok(left > 0);
          const ids = c.allowedTokenIds(left);
          const id = ids[picks[i % picks.length]! % ids.length]!;
          if (id === EOS) break;
          c.accept(id);
          bytes.push(...vocab.bytesOf(id)!);
        }
        const value = JSON.parse(new TextDecoder().decode(Uint8Array.from(bytes))) as unknown;
        assert.ok(validate(value), `${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
      }),
      { numRuns: 40 },
    );
  });
});
