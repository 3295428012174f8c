/**
 * JSON Schema `pattern`: the regex-subset compiler agrees with `new RegExp(pattern, 'u').test` (tables and
 * fast-check properties over random patterns and strings), the string frame accepts exactly the
 * JSON-escaped spellings of matching strings, random walks through the constraint never dead-end, and
 * constructs outside the subset are refused naming the construct and its place.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  buildVocabulary,
  compileConstraint,
  ConstraintError,
  createConstraint,
  type JsonSchema,
  type TokenConstraint,
} from '../src/runtime/grammar/index.ts';
import { parsePattern } from '../src/runtime/grammar/regex-parse.ts';
import { compileDfa, dfaAccepts } from '../src/runtime/grammar/regex-dfa.ts';
import { minCharBytes } from '../src/runtime/grammar/pattern-frame.ts';
import { acceptsBytes } from './helpers/constrained.ts';

const utf8 = new TextEncoder();
const MULTI = ['ab', '"}', '\\u00', 'é', '😀', '\\n', 'a"'];
const EOS = 256 + MULTI.length;
const vocab = buildVocabulary([...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...MULTI.map((t) => utf8.encode(t)), null]);

function dfaMatches(pattern: string, text: string): boolean {
  return dfaAccepts(compileDfa(parsePattern(pattern, '#/pattern'), '#/pattern'), text);
}

function constraint(schema: JsonSchema): TokenConstraint {
  return createConstraint({ type: 'json_schema', schema }, vocab, [EOS]);
}

/** Whether the constraint takes the JSON text `text` byte by byte and is complete after it. */
function acceptsJson(schema: JsonSchema, text: string): boolean {
  return acceptsBytes(constraint(schema), text);
}

/** `s` as JSON with every BMP character written as a \u escape. */
function allEscaped(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    out += cp > 0xffff ? ch : `\\u${cp.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

describe('pattern compiler agrees with RegExp (u flag)', () => {
  const table: Array<[string, string[]]> = [
    ['abc', ['abc', 'xabcx', 'ab', '']],
    ['^a+$', ['a', 'aaa', '', 'ab', 'ba']],
    ['^(?:ab|cd)*$', ['', 'ab', 'abcd', 'abc', 'cdab']],
    ['a$', ['ba', 'ab', 'a\n']],
    ['^a|b$', ['ax', 'xb', 'xa', 'bx']],
    ['(^a|b)c', ['ac', 'xac', 'xbc']],
    ['$^', ['', 'a']],
    ['', ['', 'anything']],
    ['^[^a-c]*$', ['xyz', 'xaz', '']],
    ['^\\d{3}-\\d{2,4}$', ['555-12', '555-1234', '555-12345', '55-123']],
    ['^.$', ['\n', '\r', '\u2028', 'é', '😀', 'ab']],
    ['^[\\s\\S]{2}$', ['\n\n', 'a', 'ab']],
    ['^\\w+@\\W$', ['ab_1@!', 'ab@c']],
    ['^\\s+$', [' \t', '\u00a0', '\ufeff', 'a ']],
    ['^[\\u0041-\\u0043]\\x44\\u{1F600}$', ['AD😀', 'CD😀', 'DD😀']],
    ['^\\uD83D\\uDE00$', ['😀', 'x']],
    ['^[😀-😂]+$', ['😁😂', '😃']],
    ['^a{2,}?b??$', ['aa', 'aaab', 'a']],
    ['^(?<year>\\d{4})-(?:x)$', ['2024-x', '2024-y']],
    ['^[-a]-[a-][\\-x]$', ['--a-', 'a-ax', 'b-a-']],
    ['^\\/\\.\\*\\\\$', ['/.*\\', '/.*']],
    ['^\\cJ\\0\\t$', ['\n\0\t', '\n0\t']],
    ['^[\\b]$', ['\b', 'b']],
  ];
  for (const [pattern, strings] of table) {
    test(`/${pattern}/u`, () => {
      for (const s of strings) assert.equal(dfaMatches(pattern, s), new RegExp(pattern, 'u').test(s), `${pattern} on ${JSON.stringify(s)}`);
    });
  }

  // Random patterns over a small grammar; strings over an alphabet that exercises them.
  const atom = fc.constantFrom('a', 'b', '1', '.', '[ab]', '[^a]', '\\d', '\\D', '\\s', '[a-z]', 'é', '😀', '\\n');
  const quant = fc.constantFrom('', '', '*', '+', '?', '{2}', '{0,2}', '{1,}', '*?', '+?');
  const pattern = fc.letrec<{ alt: string; term: string }>((tie) => ({
    term: fc.oneof(
      { arbitrary: fc.tuple(atom, quant).map(([a, q]) => a + q), weight: 6 },
      { arbitrary: fc.constantFrom('^', '$'), weight: 1 },
      { arbitrary: fc.tuple(tie('alt'), quant).map(([a, q]) => `(?:${a})${q}`), weight: 1 },
    ),
    alt: fc.array(fc.array(tie('term'), { maxLength: 4 }).map((t) => t.join('')), { minLength: 1, maxLength: 3 }).map((a) => a.join('|')),
  })).alt;
  const text = fc.string({ unit: fc.constantFrom('a', 'b', '1', 'z', ' ', '\n', 'é', '😀'), maxLength: 8 });

  test('random patterns and strings: the DFA and the string frame accept exactly what RegExp.test accepts', () => {
    let refusedForSize = 0;
    const runs = 400;
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 10 }), (p, strings) => {
        let dfa;
        try {
          dfa = compileDfa(parsePattern(p, '#'), '#');
          compileConstraint({ type: 'json_schema', schema: { type: 'string', pattern: p } });
        } catch (err) {
          // A pattern no string matches is refused; so, rarely, is one past a size limit (counted below).
          assert.ok(err instanceof ConstraintError && /matches no string|more than/.test(err.message), String(err));
          if (/more than/.test(err.message)) refusedForSize++;
          else for (const s of strings) assert.equal(new RegExp(p, 'u').test(s), false);
          return;
        }
        const schema = { type: 'string', pattern: p };
        for (const s of strings) {
          const want = new RegExp(p, 'u').test(s);
          assert.equal(dfaAccepts(dfa, s), want, `/${p}/ on ${JSON.stringify(s)}`);
          assert.equal(acceptsJson(schema, JSON.stringify(s)), want, `/${p}/ on the JSON text ${JSON.stringify(s)}`);
        }
      }),
      { numRuns: runs },
    );
    assert.ok(refusedForSize <= runs / 50, `${refusedForSize} of ${runs} random patterns passed a size limit`);
  });
});

describe('pattern strings in the byte automaton (JSON escapes)', () => {
  test('a string value is accepted iff it matches, whichever way its characters are escaped', () => {
    const cases: Array<[string, string[]]> = [
      ['^a+$', ['a', 'aa', '', 'ab']],
      ['"', ['"', 'x"y', 'x']],
      ['^\\\\n$', ['\\n', '\n']],
      ['^[\\n\\t]x$', ['\nx', '\tx', ' x']],
      ['é.😀', ['xé😀', 'éa😀', 'é😀']],
      ['^[^"\\\\]*$', ['plain', 'q"', 'b\\']],
      ['\\u0001', ['\u0001', 'x']],
    ];
    for (const [p, strings] of cases) {
      const schema = { type: 'string', pattern: p };
      for (const s of strings) {
        const want = new RegExp(p, 'u').test(s);
        assert.equal(acceptsJson(schema, JSON.stringify(s)), want, `${p} on ${JSON.stringify(s)}`);
        assert.equal(acceptsJson(schema, allEscaped(s)), want, `${p} on ${allEscaped(s)}`);
      }
    }
  });

  test('\\/ and \\uXXXX in either case decode before matching; surrogate escapes are never taken', () => {
    assert.ok(acceptsJson({ type: 'string', pattern: '^/é$' }, '"\\/\\u00E9"'));
    assert.ok(!acceptsJson({ type: 'string', pattern: '^.$' }, '"\\ud83d\\ude00"'));
    assert.ok(acceptsJson({ type: 'string', pattern: '^.$' }, '"😀"'));
  });

  test('minLength / maxLength count characters together with the pattern', () => {
    const s = { type: 'string', pattern: '^(?:aa)+$', minLength: 3, maxLength: 5 };
    assert.deepEqual(['aa', 'aaaa', 'aaaaaa'].map((v) => acceptsJson(s, JSON.stringify(v))), [false, true, false]);
    assert.equal(constraint(s).completionLength(), 6);
    assert.throws(() => compileConstraint({ type: 'json_schema', schema: { type: 'string', pattern: '^(?:aa)+$', maxLength: 1 } }), /matches no string of 0 to 1 characters/);
    // Without maxLength, a pattern longer than the default string limit still gets room.
    assert.ok(acceptsJson({ type: 'string', pattern: '^a{300}$' }, JSON.stringify('a'.repeat(300))));
  });

  test('the shortest completion is exact, escapes and multi-byte characters included', () => {
    const at = (schema: JsonSchema, prefix: string | Uint8Array): number => {
      const c = constraint(schema);
      for (const b of typeof prefix === 'string' ? utf8.encode(prefix) : prefix) c.accept(b);
      return c.completionLength();
    };
    assert.equal(at({ type: 'string', pattern: '^"$' }, ''), 4); // "\""
    assert.equal(at({ type: 'string', pattern: '^\\u0001$' }, '"'), 7); // \u0001"
    assert.equal(at({ type: 'string', pattern: '^é$' }, '"'), 3);
    assert.equal(at({ type: 'string', pattern: '^é$' }, '"\\u0'), 4); // 0e9"
    assert.equal(at({ type: 'string', pattern: '^😀$' }, '"'), 5);
    assert.equal(at({ type: 'string', pattern: '^😀$' }, Uint8Array.of(0x22, 0xf0)), 4);
    assert.equal(minCharBytes(0x22, 0x22), 2);
    assert.equal(minCharBytes(0xd800, 0xdfff) > 1000, true);
  });

  test('random walks never dead-end: every sampled value parses and matches, within the token budget', () => {
    const patterns = ['^[a-c]{2,5}$', 'x\\d', '^(?:"|\\\\|\\n)+é?$', '^[^a]{3}(?:b|😀)*$', '\\s$', '^(?:ab|a)*b$'];
    fc.assert(
      fc.property(fc.constantFrom(...patterns), fc.integer({ min: 12, max: 40 }), fc.array(fc.nat(), { minLength: 64, maxLength: 64 }), (p, budget, picks) => {
        const schema = { type: 'string', pattern: p, maxLength: 8 };
        const c = constraint(schema);
        const bytes: number[] = [];
        for (let left = budget, i = 0; !c.isFinished(); left--, i++) {
          assert.ok(left > 0, 'stayed within the budget');
          const ids = c.allowedTokenIds(left);
          assert.ok(ids.length > 0);
          const id = ids[picks[i % picks.length]! % ids.length]!;
          if (id === EOS) break;
          c.accept(id);
          bytes.push(...vocab.bytesOf(id)!);
        }
        const out = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
        const value = JSON.parse(out) as string;
        assert.ok(new RegExp(p, 'u').test(value), `${p}: ${out}`);
        assert.ok([...value].length <= 8);
      }),
      { numRuns: 150 },
    );
  });

  test('allowed tokens equal a token-by-token check (bulk plain tokens, partial characters, the trie walk)', () => {
    const extra = [Uint8Array.of(0xf0, 0x9f), Uint8Array.of(0xe6, 0xbc), Uint8Array.of(0x61, 0xc3), utf8.encode('a1é'), utf8.encode('1"')];
    const big = buildVocabulary([...Array.from({ length: 256 }, (_, b) => Uint8Array.of(b)), ...MULTI.map((t) => utf8.encode(t)), ...extra, null]);
    const eos = big.size - 1;
    const cases: Array<[string, string, number]> = [
      ['x\\d', '"', 6], ['x\\d', '"ab', 4], ['^[^a]{3}(?:b|😀)*$', '"', 9], ['^[^a]{3}(?:b|😀)*$', '"bc', 5],
      ['^[a-zé]*1?$', '"a', 3], ['^(?:ab|é)+$', '"', 4], ['[\\s\\S]{2}', '"q', 3],
    ];
    for (const [p, prefix, budget] of cases) {
      const schema = { type: 'string', pattern: p, maxLength: 6 };
      const fresh = (): TokenConstraint => {
        const c = createConstraint({ type: 'json_schema', schema }, big, [eos]);
        for (const b of utf8.encode(prefix)) c.accept(b);
        return c;
      };
      const expected: number[] = [];
      for (let id = 0; id < big.size; id++) {
        const c = fresh();
        try {
          c.accept(id);
        } catch {
          continue;
        }
        if (id === eos || c.completionLength() <= budget - 1) expected.push(id);
      }
      assert.deepEqual(fresh().allowedTokenIds(budget), expected, `${p} after ${prefix} with ${budget} tokens left`);
    }
  });

  test('a pattern that has found its match lets plain text through in bulk (a plain string frame)', () => {
    const c = constraint({ type: 'string', pattern: 'ab' });
    for (const b of utf8.encode('"xab')) c.accept(b);
    const ids = new Set(c.allowedTokenIds());
    for (const t of ['ab', 'é', '😀', '"}', 'a"']) assert.ok(ids.has(256 + MULTI.indexOf(t)) === (t !== '"}'), t);
  });
});

describe('pattern in schemas', () => {
  test('pattern without type implies a string; enum / const keep the values that match', () => {
    assert.ok(acceptsJson({ pattern: '^x' }, '"xy"'));
    assert.ok(!acceptsJson({ pattern: '^x' }, '1'));
    assert.ok(acceptsJson({ enum: ['ab', 'cd', 3], pattern: '^c' }, '"cd"'));
    assert.ok(!acceptsJson({ enum: ['ab', 'cd', 3], pattern: '^c' }, '"ab"'));
    assert.ok(acceptsJson({ enum: ['ab', 'cd', 3], pattern: '^c' }, '3'));
    assert.throws(() => compileConstraint({ type: 'json_schema', schema: { const: 'ab', pattern: 'z' } }), /no enum\/const value matches/);
  });

  test('nested patterns in objects and arrays', () => {
    const schema = {
      type: 'object',
      properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' }, tags: { type: 'array', items: { type: 'string', pattern: '^#[a-z]+$' } } },
      required: ['zip', 'tags'],
    };
    assert.ok(acceptsJson(schema, '{"zip":"12345","tags":["#a","#bc"]}'));
    assert.ok(!acceptsJson(schema, '{"zip":"1234","tags":[]}'));
    assert.ok(!acceptsJson(schema, '{"zip":"12345","tags":["a"]}'));
  });
});

describe('pattern refusals name the construct and the place', () => {
  const refused: Array<[string, RegExp]> = [
    ['(a)\\1', /backreference \(\\1\)/],
    ['(?<n>a)\\k<n>', /named backreference/],
    ['a(?=b)', /lookahead/],
    ['a(?!b)', /lookahead/],
    ['(?<=a)b', /lookbehind/],
    ['(?<!a)b', /lookbehind/],
    ['\\bword', /word-boundary/],
    ['\\p{L}+', /Unicode property escape/],
    ['a{1001}', /more than 1000 times/],
    ['(?:a{1000}){1000}', /more than 20000 automaton states/],
    ['[', /not a valid regular expression/],
    ['a**', /not a valid regular expression/],
    ['\\a', /not a valid regular expression/],
    ['a^b', /matches no string/],
    ['[]', /matches no string/],
  ];
  for (const [p, message] of refused) {
    test(`refuses /${p}/`, () => {
      const schema = { type: 'object', properties: { s: { type: 'string', pattern: p } } };
      assert.throws(() => compileConstraint({ type: 'json_schema', schema }), (err: unknown) => {
        assert.ok(err instanceof ConstraintError);
        assert.match(err.message, message);
        assert.match(err.message, /#\/properties\/s\/pattern/);
        return true;
      });
    });
  }

  test('a pattern whose automaton passes the state limit is refused', () => {
    // (a|b)*a(a|b){n}: the DFA must remember the last n+1 characters: 2^(n+1) states, minimal too.
    assert.throws(() => compileConstraint({ type: 'json_schema', schema: { type: 'string', pattern: '[ab]*a[ab]{16}$' } }), /more than 20000 automaton states/);
    // 2^13 states fit, but their completion table (states × 257 lengths) does not.
    assert.throws(() => compileConstraint({ type: 'json_schema', schema: { type: 'string', pattern: '[ab]*a[ab]{12}$' } }), /table cells/);
  });

  test('pattern beside anyOf, a non-string pattern, pattern with a format: refused', () => {
    const bad: Array<[JsonSchema, RegExp]> = [
      [{ anyOf: [{ type: 'string' }], pattern: 'a' }, /'pattern' beside anyOf/],
      [{ type: 'string', pattern: 5 }, /'pattern' must be a string/],
      [{ type: 'string', pattern: 'a', format: 'date' }, /together with format 'date'/],
      [{ anyOf: [{ type: 'string' }], format: 'uuid' }, /'format' beside anyOf/],
    ];
    for (const [schema, message] of bad) assert.throws(() => compileConstraint({ type: 'json_schema', schema }), message);
  });
});
