import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StopConditions, StopMatcher, type StopConditionsOptions } from '../src/runtime/stop.ts';

interface Run {
  /** Everything the client would see: the emits, plus the flush when no stop string matched. */
  output: string;
  emits: string[];
  stopped: boolean;
  matched?: string;
}

/**
 * Feeds `deltas` one by one. Asserts on the way that what has been emitted so far is always a prefix of
 * `expectedOutput`, so no part of a stop string (or text after it) ever leaks, even transiently.
 */
function feed(stops: string[], deltas: string[], include = false, expectedOutput?: string): Run {
  const matcher = new StopMatcher(stops, { includeStopStrInOutput: include });
  const emits: string[] = [];
  let output = '';
  let matched: string | undefined;
  for (const delta of deltas) {
    const r = matcher.push(delta);
    emits.push(r.emit);
    output += r.emit;
    if (expectedOutput !== undefined) assert.ok(expectedOutput.startsWith(output), `leaked: ${JSON.stringify(output)}`);
    if (r.stopped) {
      matched = r.matched;
      break;
    }
  }
  if (matched === undefined) output += matcher.flush();
  return { output, emits, stopped: matched !== undefined, matched };
}

/** Every way to cut `text` into at most `pieces` non-empty deltas. */
function splits(text: string, pieces: number): string[][] {
  if (pieces === 1 || text.length <= 1) return [[text]];
  const out: string[][] = [[text]];
  for (let cut = 1; cut < text.length; cut++) {
    for (const rest of splits(text.slice(cut), pieces - 1)) out.push([text.slice(0, cut), ...rest]);
  }
  return out;
}

describe('StopMatcher: stop strings across deltas', () => {
  const cases: Array<{
    name: string;
    stops: string[];
    deltas: string[];
    include?: boolean;
    output: string;
    matched?: string;
  }> = [
    { name: 'spans 2 deltas', stops: ['STOP'], deltas: ['Hello ST', 'OP world'], output: 'Hello ', matched: 'STOP' },
    { name: 'spans 3 deltas', stops: ['</end>'], deltas: ['ab', 'c</', 'en', 'd>tail'], output: 'abc', matched: '</end>' },
    { name: 'spans 4 deltas', stops: ['<|x|>'], deltas: ['x<', '|', 'x', '|>y'], output: 'x', matched: '<|x|>' },
    { name: 'include_stop_str_in_output', stops: ['STOP'], deltas: ['Hello ST', 'OP world'], include: true, output: 'Hello STOP', matched: 'STOP' },
    { name: 'inside one delta with text after it', stops: ['.'], deltas: ['the end. More text'], output: 'the end', matched: '.' },
    { name: 'at the very start', stops: ['Q:'], deltas: ['Q', ': next'], output: '', matched: 'Q:' },
    { name: 'false start is released', stops: ['STOP'], deltas: ['ST', 'ART'], output: 'START' },
    { name: 'no match: all text comes out', stops: ['zz'], deltas: ['a', 'b', 'c'], output: 'abc' },
    { name: 'self-overlapping stop (aab in aaab)', stops: ['aab'], deltas: ['a', 'a', 'a', 'b'], output: 'a', matched: 'aab' },
    { name: 'prefix stop completes first', stops: ['endgame', 'end'], deltas: ['the en', 'dgame'], output: 'the ', matched: 'end' },
    { name: 'prefix stop first, included', stops: ['endgame', 'end'], deltas: ['the endgame'], include: true, output: 'the end', matched: 'end' },
    { name: 'same end: the longer stop wins', stops: ['game', 'endgame'], deltas: ['the endga', 'me'], output: 'the ', matched: 'endgame' },
    { name: 'earliest completion wins over list order', stops: ['world', 'lo'], deltas: ['hello world'], output: 'hel', matched: 'lo' },
    { name: 'empty stop strings are ignored', stops: ['', 'X'], deltas: ['aXb'], output: 'a', matched: 'X' },
    { name: 'unicode across deltas', stops: ['終わり'], deltas: ['これで', '終', 'わ', 'りです'], output: 'これで', matched: '終わり' },
    { name: 'emoji stop', stops: ['🛑'], deltas: ['ok 🙂', ' 🛑', 'x'], output: 'ok 🙂 ', matched: '🛑' },
    { name: 'emoji sharing a high surrogate is not a match', stops: ['😁'], deltas: ['a😀', 'b'], output: 'a😀b' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const run = feed(c.stops, c.deltas, c.include, c.output);
      assert.equal(run.output, c.output);
      assert.equal(run.stopped, c.matched !== undefined);
      assert.equal(run.matched, c.matched);
    });
  }

  test('output is the same however the text is split into 1 to 4 deltas, and never leaks', () => {
    const texts: Array<[string[], string]> = [
      [['STOP'], 'abc STOP def'],
      [['ab', 'abc', 'bcd'], 'xxabcdab'],
      [['<|eot|>'], 'hi<|eo<|eot|>'],
      [['終わり', 'わり'], 'は終わりだ'],
      [['zz'], 'no stop here'],
    ];
    for (const [stops, text] of texts) {
      for (const include of [false, true]) {
        const reference = feed(stops, [text], include);
        for (const deltas of splits(text, 4)) {
          const run = feed(stops, deltas, include, reference.output);
          assert.equal(run.output, reference.output, JSON.stringify(deltas));
          assert.equal(run.matched, reference.matched, JSON.stringify(deltas));
        }
      }
    }
  });
});

describe('StopMatcher: hold-back and flush', () => {
  test('holds back a possible stop prefix and releases it on flush', () => {
    const matcher = new StopMatcher(['STOP']);
    assert.deepEqual(matcher.push('abc ST'), { emit: 'abc ', stopped: false });
    assert.deepEqual(matcher.push('O'), { emit: '', stopped: false });
    assert.equal(matcher.flush(), 'STO');
    assert.equal(matcher.flush(), '');
  });

  test('holds the longest tail that could start any stop string', () => {
    const matcher = new StopMatcher(['abcd', 'cx']);
    assert.equal(matcher.push('zzabc').emit, 'zz');
    assert.equal(matcher.push('q').emit, 'abcq');
  });

  test('no stop strings: pass-through with nothing held', () => {
    const matcher = new StopMatcher([]);
    for (const delta of ['a', 'STOP', '終']) assert.deepEqual(matcher.push(delta), { emit: delta, stopped: false });
    assert.equal(matcher.flush(), '');
  });

  test('after a stop nothing more is emitted, by push or flush', () => {
    const matcher = new StopMatcher(['END'], { includeStopStrInOutput: true });
    assert.deepEqual(matcher.push('xEN'), { emit: 'x', stopped: false });
    assert.deepEqual(matcher.push('Dyy'), { emit: 'END', stopped: true, matched: 'END' });
    assert.deepEqual(matcher.push('more END'), { emit: '', stopped: true, matched: 'END' });
    assert.equal(matcher.flush(), '');
    assert.equal(matcher.stopped, true);
    assert.equal(matcher.matched, 'END');
  });
});

describe('StopConditions', () => {
  const base: StopConditionsOptions = {
    eosTokenIds: [128009, 128001],
    stopTokenIds: [42],
    maxTokens: 5,
    maxModelLen: 100,
    promptLength: 10,
  };
  const cases: Array<{
    name: string;
    options?: Partial<StopConditionsOptions>;
    token: number;
    outputLength: number;
    expected: ReturnType<StopConditions['check']>;
  }> = [
    { name: 'ordinary token goes on', token: 7, outputLength: 1, expected: null },
    { name: 'eos stops', token: 128009, outputLength: 1, expected: { finishReason: 'stop', reason: 'eos', tokenId: 128009 } },
    { name: 'second eos id stops', token: 128001, outputLength: 2, expected: { finishReason: 'stop', reason: 'eos', tokenId: 128001 } },
    { name: 'ignoreEos goes on through eos', options: { ignoreEos: true }, token: 128009, outputLength: 1, expected: null },
    { name: 'ignoreEos still honours stop tokens', options: { ignoreEos: true }, token: 42, outputLength: 1, expected: { finishReason: 'stop', reason: 'stop_token', tokenId: 42 } },
    { name: 'stop token id stops', token: 42, outputLength: 3, expected: { finishReason: 'stop', reason: 'stop_token', tokenId: 42 } },
    { name: 'one below max_tokens goes on', token: 7, outputLength: 4, expected: null },
    { name: 'max_tokens reached', token: 7, outputLength: 5, expected: { finishReason: 'length', reason: 'max_tokens' } },
    { name: 'eos on the last allowed token is a stop', token: 128009, outputLength: 5, expected: { finishReason: 'stop', reason: 'eos', tokenId: 128009 } },
    { name: 'context full before max_tokens', options: { maxTokens: 50, promptLength: 97 }, token: 7, outputLength: 3, expected: { finishReason: 'length', reason: 'context_length' } },
    { name: 'context room one more', options: { maxTokens: 50, promptLength: 97 }, token: 7, outputLength: 2, expected: null },
    { name: 'no max_tokens: the context limits', options: { maxTokens: null }, token: 7, outputLength: 90, expected: { finishReason: 'length', reason: 'context_length' } },
    { name: 'max_tokens equal to the room names max_tokens', options: { maxTokens: 90 }, token: 7, outputLength: 90, expected: { finishReason: 'length', reason: 'max_tokens' } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const conditions = new StopConditions({ ...base, ...c.options });
      assert.deepEqual(conditions.check(c.token, c.outputLength), c.expected);
    });
  }

  test('maxOutputTokens is the tighter of max_tokens and the context room', () => {
    assert.equal(new StopConditions(base).maxOutputTokens, 5);
    assert.equal(new StopConditions({ ...base, maxTokens: null }).maxOutputTokens, 90);
    assert.equal(new StopConditions({ ...base, maxTokens: 1000 }).maxOutputTokens, 90);
  });
});
