/**
 * The JSON-schema automaton and its constraint, on a tiny vocabulary of the 256 single bytes (plus a few
 * multi-byte tokens and an EOS id): exact acceptance, shortest completions, the budget rule, refusals.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildVocabulary,
  ConstraintError,
  ConstraintViolation,
  compileConstraint,
  createConstraint,
  type ConstraintSpec,
  type JsonSchema,
  type TokenConstraint,
} from '../src/runtime/grammar/index.ts';
import { classifyPlain } from '../src/runtime/grammar/vocab.ts';

const utf8 = new TextEncoder();
const MULTI = ['{"', '":', '","', 'true', '"}', '\u00e9"', '\u00e9'.slice(0, 1)];
const EOS = 256 + MULTI.length;
/** ids 0..255: single bytes; then MULTI tokens; then an EOS id without bytes; then a 2-byte half-character token. */
const BYTES: (Uint8Array | null)[] = [
  ...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)),
  ...MULTI.map((t) => utf8.encode(t)),
  null,
  Uint8Array.of(0xe6, 0xbc), // first two bytes of 漢 (e6 bc a2)
];
const HALF_HAN = EOS + 1;
const vocab = buildVocabulary(BYTES);

function constraint(schema: JsonSchema | null): TokenConstraint {
  const spec: ConstraintSpec = schema === null ? { type: 'json_object' } : { type: 'json_schema', schema };
  return createConstraint(spec, vocab, [EOS]);
}

/** Feeds `text` byte by byte; returns whether every byte was accepted and whether the value is complete. */
function feed(schema: JsonSchema | null, text: string): { ok: boolean; complete: boolean; c: TokenConstraint } {
  const c = constraint(schema);
  for (const b of utf8.encode(text)) {
    try {
      c.accept(b);
    } catch (err) {
      assert.ok(err instanceof ConstraintViolation);
      return { ok: false, complete: false, c };
    }
  }
  return { ok: true, complete: c.isComplete(), c };
}

function accepts(schema: JsonSchema | null, text: string): boolean {
  const r = feed(schema, text);
  return r.ok && r.complete;
}

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 5 }, age: { type: 'integer', minimum: 0, maximum: 120 }, pet: { enum: ['cat', 'dog'] } },
  required: ['name', 'age'],
  additionalProperties: false,
};

describe('grammar automaton: what it accepts', () => {
  const table: Array<[JsonSchema | null, string, boolean]> = [
    [PERSON, '{"name":"Ann","age":30}', true],
    [PERSON, '{"name": "Ann", "age": 30, "pet": "dog"}', true],
    [PERSON, '{"name":"Ann","age":30,"pet":"cow"}', false],
    [PERSON, '{"age":30,"name":"Ann"}', false], // declared order
    [PERSON, '{"name":"Ann"}', false], // required age missing
    [PERSON, '{"name":"Ann","age":30,}', false],
    [PERSON, '{"name":"Ann","age":030}', false],
    [PERSON, '{"name":"Ann","age":121}', false],
    [PERSON, '{"name":"Annabel","age":1}', false], // maxLength 5
    [PERSON, '{"name":"Ann","age":1,"x":1}', false],
    [PERSON, '{ "name":"Ann","age":1}', false], // no whitespace after '{'
    [PERSON, '{"name":  "Ann","age":1}', false], // at most one space
    [PERSON, '{"name":"A\\n\\u00e9","age":1}', true],
    [PERSON, '{"name":"\\ud800","age":1}', false], // no surrogate escapes
    [PERSON, '{"name":"\u00e9\u6f22","age":1}', true],
    [null, '{}', true],
    [null, '{"a":[1,-2.5e3,"x",{"b":null}],"c":true}', true],
    [null, '[1]', false],
    [null, '{"a":01}', false],
    [{ type: 'array', items: { type: 'number' }, minItems: 1, maxItems: 2 }, '[]', false],
    [{ type: 'array', items: { type: 'number' }, minItems: 1, maxItems: 2 }, '[1, 2.5]', true],
    [{ type: 'array', items: { type: 'number' }, minItems: 1, maxItems: 2 }, '[1,2,3]', false],
    [{ type: 'number', minimum: 0, maximum: 1 }, '0.75', true],
    [{ type: 'number', minimum: 0, maximum: 1 }, '1.5', false],
    [{ type: 'number', exclusiveMinimum: 0 }, '0', false],
    [{ type: 'number', exclusiveMinimum: 0 }, '0.001', true],
    [{ type: 'integer' }, '1.0', false],
    [{ type: 'integer', maximum: -7 }, '-7', true],
    [{ type: 'integer', maximum: -7 }, '-6', false],
    [{ enum: [1, 12] }, '1', true],
    [{ enum: [1, 12] }, '12', true],
    [{ enum: [1, 12] }, '2', false],
    [{ anyOf: [{ type: 'string', maxLength: 1 }, { type: 'null' }] }, 'null', true],
    [{ type: ['boolean', 'null'] }, 'false', true],
    [{ type: 'object', properties: {}, additionalProperties: false }, '{}', true],
    [{ type: 'object', properties: {}, additionalProperties: false }, '{"a":1}', false],
    [{ type: 'object', additionalProperties: { type: 'integer' } }, '{"k":1,"j":2}', true],
    [{ type: 'object', additionalProperties: { type: 'integer' } }, '{"k":"1"}', false],
    [{ const: { a: [1, 'x'] } }, '{"a":[1,"x"]}', true],
  ];
  for (const [schema, text, ok] of table) {
    test(`${ok ? 'accepts' : 'rejects'} ${text} for ${JSON.stringify(schema)}`, () => {
      assert.equal(accepts(schema, text), ok);
    });
  }

  test('invalid UTF-8 is refused inside strings (overlong, stray continuation)', () => {
    const c = constraint({ type: 'string' });
    c.accept(0x22);
    assert.throws(() => c.accept(0xc0), ConstraintViolation);
    assert.throws(() => c.accept(0x80), ConstraintViolation);
    c.accept(0xe6);
    assert.throws(() => c.accept(0x22), ConstraintViolation); // a quote inside a character
  });

  test('a token holding half a character continues only with its missing byte', () => {
    const c = constraint({ type: 'string', maxLength: 1 });
    c.accept(0x22);
    c.accept(HALF_HAN);
    // Any continuation byte completes the character (e6 bc 80..bf); nothing else may come.
    assert.deepEqual(c.allowedTokenIds(), Array.from({ length: 64 }, (_, i) => 0x80 + i));
    c.accept(0xa2);
    assert.deepEqual(c.allowedTokenIds(), [0x22]);
    c.accept(0x22);
    assert.ok(c.isFinished());
  });
});

describe('grammar constraint: completions, budget, EOS', () => {
  test('shortest completion in bytes', () => {
    const cases: Array<[JsonSchema, string, string]> = [
      [PERSON, '', '{"name":"","age":0}'],
      [PERSON, '{"name":"Ann","a', 'ge":0}'],
      [PERSON, '{"name":"Ann","age":3', ''.padEnd(1, '}')],
      [{ type: 'array', items: { type: 'integer', minimum: 100 }, minItems: 2 }, '[', '100,100]'],
      [{ type: 'number', minimum: 0.25, maximum: 0.3 }, '', '0.3'],
      [{ type: 'string', minLength: 3 }, '"a', 'bc"'],
    ];
    for (const [schema, prefix, completion] of cases) {
      const { c, ok } = feed(schema, prefix);
      assert.ok(ok, prefix);
      assert.equal(c.completionLength(), utf8.encode(completion).length, `${prefix} → ${completion}`);
      assert.ok(accepts(schema, prefix + completion), `${prefix}${completion} is valid`);
    }
  });

  test('with few tokens left only the ways of closing remain', () => {
    const { c } = feed({ type: 'object', properties: { s: { type: 'string' } }, required: ['s'] }, '{"s":"abc');
    // Shortest completion is `"}` (2 bytes): with 3 tokens left, a token may leave at most 2 to go.
    const three = c.allowedTokenIds(3);
    assert.ok(three.includes(0x22) && three.includes(0x61) && three.includes(256 + MULTI.indexOf('"}')));
    // With 2 tokens left: tokens that close the string (`"`, `{"` and `é"` as content + quote, `"}`).
    const closing = ['{"', '"}', '\u00e9"'].map((t) => 256 + MULTI.indexOf(t));
    assert.deepEqual(c.allowedTokenIds(2), [0x22, ...closing].sort((a, b) => a - b));
    assert.deepEqual(c.allowedTokenIds(1), [256 + MULTI.indexOf('"}')]);
  });

  test('EOS only when complete; finished values allow nothing else', () => {
    const c = constraint({ type: 'integer' });
    assert.ok(!c.allowedTokenIds().includes(EOS));
    assert.throws(() => c.accept(EOS), ConstraintViolation);
    c.accept(0x37);
    assert.ok(c.isComplete() && !c.isFinished());
    assert.ok(c.allowedTokenIds().includes(EOS) && c.allowedTokenIds().includes(0x38));
    const o = feed(null, '{}').c;
    assert.ok(o.isFinished());
    assert.deepEqual(o.allowedTokenIds(), [EOS]);
  });

  test('mask sets exactly the disallowed logits to -Infinity, rows longer than the vocabulary included', () => {
    const c = constraint({ enum: ['true'] });
    const logits = new Float32Array(BYTES.length + 3).fill(1);
    c.mask(logits);
    const kept = [...logits.keys()].filter((i) => logits[i] === 1);
    assert.deepEqual(kept, [0x22]);
  });

  test('when max_tokens is below the shortest text, any valid continuation is allowed (ends by length)', () => {
    const c = constraint(PERSON);
    assert.ok(c.completionLength() > 1);
    assert.ok(c.allowedTokenIds(1).length > 0);
  });
});

describe('grammar compile: refusals name the schema location', () => {
  const bad: Array<[JsonSchema, RegExp]> = [
    [{ type: 'object', properties: { zip: { type: 'string', pattern: '^([0-9])\\1$' } } }, /'pattern'.*backreference.*#\/properties\/zip/],
    [{ type: 'integer', minimum: 5, maximum: 3 }, /no finite JSON value/],
    [{ type: 'object', properties: { a: {} }, required: ['b'], additionalProperties: false }, /'b' is not declared/],
    [{ type: 'array', uniqueItems: true }, /uniqueItems/],
    [{ type: 'strung' }, /unknown type/],
    [{ $ref: '#/$defs/a', $defs: { a: { $ref: '#/$defs/a' } } }, /refers to itself/],
    [{ $ref: 'http://example.com/s.json' }, /only local \$ref/],
    [{ type: 'string', minLength: 3, maxLength: 2 }, /minLength is greater/],
    [false, /allows no value/],
    [{ allOf: [{ type: 'string' }, { maxLength: 3 }] }, /allOf/],
  ];
  for (const [schema, message] of bad) {
    test(`refuses ${JSON.stringify(schema)}`, () => {
      assert.throws(() => compileConstraint({ type: 'json_schema', schema }), (err: unknown) => {
        assert.ok(err instanceof ConstraintError);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('annotations are ignored, and a spec is plain data (structured-clone safe)', () => {
    const spec: ConstraintSpec = {
      type: 'json_schema',
      schema: { title: 'T', description: 'd', type: 'string', format: 'uri', default: 'x', examples: ['y'] },
      limits: { maxStringLength: 4 },
    };
    assert.deepEqual(structuredClone(spec), spec);
    assert.ok(compileConstraint(spec).root);
    assert.throws(() => compileConstraint({ type: 'json_object', limits: { maxStringLength: 0 } }), ConstraintError);
  });

  test('plain-token classification follows the string rules', () => {
    assert.deepEqual(classifyPlain(utf8.encode('ab c')), { chars: 4, pending: 0 });
    assert.deepEqual(classifyPlain(Uint8Array.of(0x61, 0xe6, 0xbc)), { chars: 2, pending: 1 });
    assert.equal(classifyPlain(utf8.encode('a"')), null);
    assert.equal(classifyPlain(utf8.encode('a\n')), null);
    assert.equal(classifyPlain(Uint8Array.of(0xbc)), null);
  });
});
