import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPrng, type Prng } from '../src/runtime/prng.ts';
import {
  DEFAULT_SAMPLING_PARAMS,
  applyPenalties,
  argmax,
  createSamplingState,
  expNonPositive,
  recordOutputToken,
  sampleToken,
  selectTopK,
  validateSamplingParams,
  type SamplingParams,
  type SamplingState,
} from '../src/runtime/sampling.ts';

function params(overrides: Partial<SamplingParams> = {}): SamplingParams {
  return { ...DEFAULT_SAMPLING_PARAMS, logitBias: {}, ...overrides };
}

function state(seed = 1, counts: Record<number, number> = {}, prompt?: number[]): SamplingState {
  const outputTokenCounts = new Map(Object.entries(counts).map(([k, v]) => [Number(k), v] as [number, number]));
  return { prng: createPrng(seed), outputTokenCounts, promptTokenSet: prompt ? new Set(prompt) : undefined };
}

/** A PRNG that fails the test if it is ever used. */
const noRandomness: Prng = {
  next: () => assert.fail('greedy must not draw'),
  nextUint32: () => assert.fail('greedy must not draw'),
};

/** Empirical frequency of each token id over `n` draws with one seeded state. */
function frequencies(logits: number[], p: SamplingParams, n: number, seed = 7): number[] {
  const s = state(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(Float32Array.from(logits), p, s).tokenId]!++;
  return counts.map((c) => c / n);
}

/** The set of token ids drawn at least once in `n` draws. */
function support(logits: number[], p: SamplingParams, n = 3000): number[] {
  return frequencies(logits, p, n)
    .flatMap((f, id) => (f > 0 ? [id] : []))
    .sort((a, b) => a - b);
}

function softmax(values: number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function logSoftmax(values: number[]): number[] {
  return softmax(values).map(Math.log);
}

function assertClose(actual: number, expected: number, tolerance: number, what = ''): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} ${actual} not within ${tolerance} of ${expected}`);
}

/** ln of probabilities, so that softmax(logits) gives them back (up to float32 rounding). */
const PROBS = [0.5, 0.25, 0.15, 0.1];
const LOGITS_FROM_PROBS = PROBS.map(Math.log);

describe('greedy', () => {
  const cases: Array<{ name: string; logits: number[]; temperature: number; expected: number }> = [
    { name: 'plain max', logits: [0.1, 3, -2, 2.9], temperature: 0, expected: 1 },
    { name: 'tie goes to the lowest id', logits: [1, 5, 2, 5, 5], temperature: 0, expected: 1 },
    { name: 'all negative', logits: [-3, -1, -2], temperature: 0, expected: 1 },
    { name: 'with -Infinity entries', logits: [-Infinity, -7, -Infinity], temperature: 0, expected: 1 },
    { name: 'below the epsilon is greedy', logits: [1, 2, 1.999], temperature: 1e-6, expected: 1 },
    { name: 'max at the last index', logits: [0, 0, 0, 1], temperature: 0, expected: 3 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const s: SamplingState = { prng: noRandomness, outputTokenCounts: new Map() };
      const out = sampleToken(Float32Array.from(c.logits), params({ temperature: c.temperature }), s);
      assert.equal(out.tokenId, c.expected);
    });
  }

  test('argmax ignores NaN', () => {
    assert.equal(argmax(Float32Array.from([Number.NaN, 1, Number.NaN, 2])), 3);
  });
});

describe('temperature', () => {
  const logits = [2, 1, 0, -1];
  for (const temperature of [0.5, 1, 2]) {
    test(`T=${temperature}: frequencies match softmax(logits / T)`, () => {
      const expected = softmax(logits.map((l) => l / temperature));
      const observed = frequencies(logits, params({ temperature }), 40_000);
      for (const [id, f] of observed.entries()) assertClose(f, expected[id]!, 0.012, `token ${id}`);
    });
  }

  test('T changes the distribution (T=0.5 sharper than T=1, T=2 flatter)', () => {
    const sharp = frequencies(logits, params({ temperature: 0.5 }), 20_000)[0]!;
    const plain = frequencies(logits, params({ temperature: 1 }), 20_000)[0]!;
    const flat = frequencies(logits, params({ temperature: 2 }), 20_000)[0]!;
    assert.ok(sharp > plain + 0.15 && plain > flat + 0.1, `${sharp} ${plain} ${flat}`);
  });
});

describe('top-k', () => {
  const logits = [0.3, 2, -1, 1.5, 0.9, 1.8, -0.2, 0.1];
  const byRank = [1, 5, 3, 4, 0, 7, 6, 2];
  for (const k of [1, 2, 3, 5]) {
    test(`k=${k} keeps exactly the ${k} most likely tokens`, () => {
      // A high temperature makes the distribution nearly flat, so every kept token gets drawn.
      const drawn = support(logits, params({ topK: k, temperature: 50 }));
      assert.deepEqual(drawn, byRank.slice(0, k).sort((a, b) => a - b));
    });
  }

  for (const k of [0, -1, 8, 100]) {
    test(`k=${k} is off`, () => {
      assert.deepEqual(support(logits, params({ topK: k, temperature: 50 })), [0, 1, 2, 3, 4, 5, 6, 7]);
    });
  }

  test('ties at the cut go to the lowest ids', () => {
    assert.deepEqual(support([1, 1, 1, 1, 1], params({ topK: 2 })), [0, 1]);
  });

  test('kept tokens are renormalised, not reweighted', () => {
    const f = frequencies(LOGITS_FROM_PROBS, params({ topK: 2 }), 30_000);
    assertClose(f[0]!, 2 / 3, 0.012);
    assertClose(f[1]!, 1 / 3, 0.012);
  });
});

describe('top-p', () => {
  const cases: Array<{ topP: number; topK?: number; expected: number[] }> = [
    { topP: 0.4, expected: [0] },
    { topP: 0.7, expected: [0, 1] },
    { topP: 0.8, expected: [0, 1, 2] },
    { topP: 0.95, expected: [0, 1, 2, 3] },
    { topP: 1, expected: [0, 1, 2, 3] },
    // Top-p is taken over the top-k distribution renormalised: within {0, 1} token 0 holds 2/3 > 0.6.
    { topP: 0.6, topK: 2, expected: [0] },
    { topP: 0.6, expected: [0, 1] },
  ];
  for (const c of cases) {
    test(`p=${c.topP}${c.topK ? `, k=${c.topK}` : ''} keeps the smallest set reaching p: ${c.expected}`, () => {
      assert.deepEqual(support(LOGITS_FROM_PROBS, params({ topP: c.topP, topK: c.topK ?? 0 })), c.expected);
    });
  }

  test('exact boundary: four equal tokens at p=0.5 keep two, the lowest ids', () => {
    assert.deepEqual(support([0, 0, 0, 0], params({ topP: 0.5 })), [0, 1]);
  });

  test('kept tokens are renormalised', () => {
    const f = frequencies(LOGITS_FROM_PROBS, params({ topP: 0.7 }), 30_000);
    assertClose(f[0]!, 2 / 3, 0.012);
    assertClose(f[1]!, 1 / 3, 0.012);
  });

  test('a flat 5000-token row (no token heavy enough for the short path) keeps exactly the first 10%', () => {
    const drawn = support(new Array<number>(5000).fill(0), params({ topP: 0.1 }), 3000);
    assert.ok(drawn.at(-1)! < 500, `drew id ${drawn.at(-1)}`);
    assert.ok(drawn.length > 400, `only ${drawn.length} distinct ids`);
  });

  test('a row spread over many histogram bins keeps exactly the nucleus of a full sort, with or without top-k', () => {
    const prng = createPrng(31);
    const logits = Array.from({ length: 200 }, () => Math.fround(prng.next() * 3));
    const probs = softmax(logits);
    const ranked = Array.from(logits.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
    let mass = 0;
    const nucleus = ranked.filter((id) => (mass < 0.5 ? ((mass += probs[id]!), true) : false)).sort((a, b) => a - b);
    assert.ok(nucleus.length > 20 && nucleus.length < 150, `nucleus of ${nucleus.length}`);
    assert.deepEqual(support(logits, params({ topP: 0.5 }), 30_000), nucleus);
    assert.deepEqual(support(logits, params({ topP: 0.5, topK: 199 }), 30_000), nucleus);
  });

  test('a peaked row with a long tail: the nucleus is the head', () => {
    const logits = new Array<number>(3000).fill(-5);
    logits[10] = 5;
    logits[2000] = 4.5;
    // exp(5) + exp(4.5) ≈ 238 against a tail of 2998 · exp(-5) ≈ 20: p = 0.9 keeps exactly the two heads.
    assert.deepEqual(support(logits, params({ topP: 0.9 })), [10, 2000]);
  });
});

describe('min-p', () => {
  const cases: Array<{ minP: number; temperature: number; expected: number[] }> = [
    { minP: 0.4, temperature: 1, expected: [0, 1] }, // ratios to the top: 1, 0.5, 0.3, 0.2
    { minP: 0.22, temperature: 1, expected: [0, 1, 2] },
    { minP: 0.1, temperature: 1, expected: [0, 1, 2, 3] },
    { minP: 0.22, temperature: 0.5, expected: [0, 1] }, // after T=0.5 the ratios square: 1, 0.25, 0.09, 0.04
    { minP: 0, temperature: 1, expected: [0, 1, 2, 3] },
  ];
  for (const c of cases) {
    test(`min_p=${c.minP} at T=${c.temperature} keeps ${c.expected}`, () => {
      assert.deepEqual(support(LOGITS_FROM_PROBS, params({ minP: c.minP, temperature: c.temperature })), c.expected);
    });
  }
});

describe('penalties', () => {
  const cases: Array<{
    name: string;
    logits: number[];
    p: Partial<SamplingParams>;
    counts: Record<number, number>;
    prompt?: number[];
    expected: number[];
  }> = [
    {
      name: 'repetition divides positive and multiplies negative logits, prompt and output alike',
      logits: [2, -2, 3, 4],
      p: { repetitionPenalty: 2 },
      counts: { 1: 1 },
      prompt: [0],
      expected: [1, -4, 3, 4],
    },
    {
      name: 'repetition applies once to a token in both prompt and output, whatever its count',
      logits: [4, 1],
      p: { repetitionPenalty: 2 },
      counts: { 0: 3 },
      prompt: [0, 0],
      expected: [2, 1],
    },
    {
      name: 'repetition leaves a zero logit at zero',
      logits: [0, 1],
      p: { repetitionPenalty: 1.5 },
      counts: { 0: 1 },
      expected: [0, 1],
    },
    {
      name: 'presence once, frequency per occurrence',
      logits: [1, 1, 1],
      p: { presencePenalty: 0.5, frequencyPenalty: 0.25 },
      counts: { 0: 3, 2: 1 },
      expected: [1 - 0.75 - 0.5, 1, 1 - 0.25 - 0.5],
    },
    {
      name: 'presence and frequency ignore prompt tokens',
      logits: [1, 1],
      p: { presencePenalty: 1, frequencyPenalty: 1 },
      counts: {},
      prompt: [0, 1],
      expected: [1, 1],
    },
    {
      name: 'negative penalties encourage repeats',
      logits: [1, 1],
      p: { presencePenalty: -0.5, frequencyPenalty: -0.5 },
      counts: { 1: 2 },
      expected: [1, 2.5],
    },
    {
      name: 'repetition comes before frequency: 4 / 2 - 2·1 = 0 (the other order gives 1)',
      logits: [4, 0.5],
      p: { repetitionPenalty: 2, frequencyPenalty: 1 },
      counts: { 0: 2 },
      expected: [0, 0.5],
    },
    {
      name: 'a zero count counts as absent',
      logits: [1, 1],
      p: { presencePenalty: 1, repetitionPenalty: 2 },
      counts: { 0: 0 },
      expected: [1, 1],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const logits = Float32Array.from(c.logits);
      applyPenalties(logits, params(c.p), state(1, c.counts, c.prompt));
      assert.deepEqual(Array.from(logits), c.expected);
    });
  }

  test('penalties change what greedy picks and what logprob reports', () => {
    const s = state(1, { 0: 1 });
    const out = sampleToken(Float32Array.from([5, 4.9]), params({ temperature: 0, presencePenalty: 0.5, logprobs: 2 }), s);
    assert.equal(out.tokenId, 1);
    const expected = logSoftmax([Math.fround(5 - 0.5), Math.fround(4.9)]);
    assertClose(out.logprob, expected[1]!, 1e-6);
    assert.deepEqual(out.topLogprobs?.map((t) => t.tokenId), [1, 0]);
  });
});

describe('logit_bias', () => {
  const logits = [3, 2.5, 1, 0];
  const cases: Array<{ name: string; bias: SamplingParams['logitBias']; greedy: number; drawn: number[] }> = [
    { name: '-100 bans the most likely token (record)', bias: { 0: -100 }, greedy: 1, drawn: [1, 2, 3] },
    { name: '-100 bans (map)', bias: new Map([[0, -100]]), greedy: 1, drawn: [1, 2, 3] },
    { name: '+100 forces the least likely token', bias: { 3: 100 }, greedy: 3, drawn: [3] },
    { name: 'a small bias shifts the argmax', bias: { 2: 2.5 }, greedy: 2, drawn: [0, 1, 2, 3] },
    { name: 'ids outside the row are ignored', bias: { 99: 100, [-1]: 100 }, greedy: 0, drawn: [0, 1, 2, 3] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const greedy = sampleToken(Float32Array.from(logits), params({ temperature: 0, logitBias: c.bias }), state());
      assert.equal(greedy.tokenId, c.greedy);
      assert.deepEqual(support(logits, params({ logitBias: c.bias }), 5000), c.drawn);
    });
  }
});

describe('seeded determinism', () => {
  /** A varying logits stream: step i's row depends only on i. */
  function row(step: number, vocab: number): Float32Array {
    const prng = createPrng(10_000 + step);
    return Float32Array.from({ length: vocab }, () => prng.next() * 6);
  }

  function run(seed: number, p: SamplingParams, steps: number, vocab = 64, interleave?: () => void): number[] {
    const s = createSamplingState({ ...p, seed });
    const tokens: number[] = [];
    for (let i = 0; i < steps; i++) {
      interleave?.();
      const tokenId = sampleToken(row(i, vocab), p, s).tokenId;
      recordOutputToken(s, tokenId);
      tokens.push(tokenId);
    }
    return tokens;
  }

  const configs: Array<[string, Partial<SamplingParams>]> = [
    ['plain', {}],
    ['top-k + top-p + min-p + penalties', { topK: 20, topP: 0.9, minP: 0.05, frequencyPenalty: 0.3, temperature: 0.8 }],
    ['top-p over the vocabulary', { topP: 0.8, temperature: 1.3 }],
  ];
  for (const [name, overrides] of configs) {
    test(`${name}: same seed, same tokens; different seed, different tokens`, () => {
      const p = params(overrides);
      const a = run(1234, p, 200);
      assert.deepEqual(run(1234, p, 200), a);
      assert.notDeepEqual(run(4321, p, 200), a);
    });
  }

  test('another request sampling in between changes nothing', () => {
    const p = params({ topP: 0.9, temperature: 0.9 });
    const alone = run(99, p, 100);
    const other = createSamplingState(params({ seed: 5 }));
    const busy = () => {
      sampleToken(row(7, 5000), params({ topK: 40, temperature: 2, minP: 0.01 }), other);
      sampleToken(row(8, 5000), params({ topP: 0.3 }), other);
    };
    assert.deepEqual(run(99, p, 100, 64, busy), alone);
  });
});

describe('logprobs', () => {
  const logits = [1, 2, 3, 0.5, 2];
  const expected = logSoftmax(logits);

  test('greedy: logprob and top-k alternatives equal the hand-computed log-softmax', () => {
    const out = sampleToken(Float32Array.from(logits), params({ temperature: 0, logprobs: 3 }), state());
    assert.equal(out.tokenId, 2);
    assertClose(out.logprob, expected[2]!, 1e-6);
    assert.deepEqual(out.topLogprobs?.map((t) => t.tokenId), [2, 1, 4]); // 1 and 4 tie: lower id first
    for (const t of out.topLogprobs!) assertClose(t.logprob, expected[t.tokenId]!, 1e-6);
  });

  test('sampled tokens report the log-softmax of the pre-temperature distribution', () => {
    const p = params({ temperature: 0.3, topK: 3, topP: 0.5, minP: 0.2, logprobs: 5 });
    const s = state(3);
    for (let i = 0; i < 50; i++) {
      const out = sampleToken(Float32Array.from(logits), p, s);
      assertClose(out.logprob, expected[out.tokenId]!, 1e-6);
      assert.equal(out.topLogprobs?.length, 5);
      for (const t of out.topLogprobs!) assertClose(t.logprob, expected[t.tokenId]!, 1e-6);
    }
  });

  test('logit_bias and penalties are included in the reported distribution', () => {
    const p = params({ temperature: 0, logitBias: { 0: 3 }, presencePenalty: 1, logprobs: 2 });
    const out = sampleToken(Float32Array.from(logits), p, state(1, { 2: 1 }));
    const shaped = logSoftmax([4, 2, 2, 0.5, 2]);
    assert.equal(out.tokenId, 0);
    assertClose(out.logprob, shaped[0]!, 1e-6);
    assert.deepEqual(out.topLogprobs?.map((t) => t.tokenId), [0, 1]);
    assertClose(out.topLogprobs![1]!.logprob, shaped[1]!, 1e-6);
  });

  test('topLogprobs is sorted descending and exactly k long', () => {
    for (const k of [0, 1, 2, 5, 20]) {
      const out = sampleToken(Float32Array.from(logits), params({ logprobs: k }), state());
      const top = out.topLogprobs!;
      assert.equal(top.length, Math.min(k, logits.length));
      for (let j = 1; j < top.length; j++) assert.ok(top[j - 1]!.logprob >= top[j]!.logprob);
    }
  });

  test('null logprobs: no alternatives, logprob still reported', () => {
    const out = sampleToken(Float32Array.from(logits), params({ temperature: 0 }), state());
    assert.equal(out.topLogprobs, undefined);
    assertClose(out.logprob, expected[2]!, 1e-6);
  });

  test('a banned (-Infinity) token reports -Infinity', () => {
    const out = sampleToken(Float32Array.from([0, -Infinity]), params({ temperature: 0, logprobs: 2 }), state());
    assert.equal(out.topLogprobs![1]!.logprob, -Infinity);
    assertClose(out.logprob, 0, 1e-9);
  });
});

describe('expNonPositive', () => {
  test('is within 2e-8 of Math.exp on (-700, 0], exact at 0, and 0 below -700', () => {
    assert.equal(expNonPositive(0), 1);
    for (let d = -699.99; d <= 0; d += 0.0731) {
      const relative = Math.abs(expNonPositive(d) / Math.exp(d) - 1);
      assert.ok(relative < 2e-8, `exp(${d}) off by ${relative}`);
    }
    for (const d of [-700, -800, -Infinity, Number.NaN]) assert.equal(expNonPositive(d), 0);
  });
});

describe('selectTopK', () => {
  test('matches a full sort for many k on random data with ties', () => {
    const prng = createPrng(77);
    const values = Float32Array.from({ length: 1000 }, () => Math.floor(prng.next() * 200) / 10);
    const reference = Array.from(values.keys()).sort((a, b) => values[b]! - values[a]! || a - b);
    for (const k of [1, 2, 7, 50, 999, 1000, 1200]) {
      const ids = new Int32Array(k);
      const vals = new Float64Array(k);
      const n = selectTopK(values, k, ids, vals);
      assert.equal(n, Math.min(k, 1000));
      assert.deepEqual(Array.from(ids.subarray(0, n)), reference.slice(0, n));
    }
  });
});

describe('Llama 3.1 vocabulary size', () => {
  const vocab = 128_256;
  const planted = 98_765;
  function bigRow(): Float32Array {
    const prng = createPrng(2);
    const logits = Float32Array.from({ length: vocab }, () => prng.next() * 20 - 10);
    logits[planted] = 25;
    return logits;
  }

  test('greedy picks the planted maximum and reports it first', () => {
    const out = sampleToken(bigRow(), params({ temperature: 0, logprobs: 5 }), state());
    assert.equal(out.tokenId, planted);
    assert.equal(out.topLogprobs?.length, 5);
    assert.equal(out.topLogprobs![0]!.tokenId, planted);
    assert.ok(out.logprob < 0 && out.logprob > -1, `logprob ${out.logprob}`);
  });

  const configs: Array<Partial<SamplingParams>> = [
    { temperature: 1 },
    { temperature: 1, topP: 0.95 },
    { temperature: 5, topP: 0.5 },
    { temperature: 0.7, topK: 50, topP: 0.9, minP: 0.05, repetitionPenalty: 1.1, frequencyPenalty: 0.5 },
  ];
  for (const overrides of configs) {
    test(`sampling works: ${JSON.stringify(overrides)}`, () => {
      const s = state(9, { [planted]: 1, 5: 2 }, [1, 2, 3]);
      const out = sampleToken(bigRow(), params(overrides), s);
      assert.ok(Number.isInteger(out.tokenId) && out.tokenId >= 0 && out.tokenId < vocab);
      assert.ok(out.logprob <= 0 && Number.isFinite(out.logprob));
    });
  }
});

describe('params and state', () => {
  test('defaults validate', () => {
    assert.doesNotThrow(() => validateSamplingParams(params()));
  });

  const bad: Array<[string, Partial<SamplingParams>]> = [
    ['temperature', { temperature: -0.1 }],
    ['topP', { topP: 0 }],
    ['topP', { topP: 1.5 }],
    ['topK', { topK: -2 }],
    ['topK', { topK: 1.5 }],
    ['minP', { minP: 2 }],
    ['repetitionPenalty', { repetitionPenalty: 0 }],
    ['presencePenalty', { presencePenalty: Number.NaN }],
    ['logitBias', { logitBias: { 5: Infinity } }],
    ['seed', { seed: 0.5 }],
    ['logprobs', { logprobs: 21 }],
  ];
  for (const [field, overrides] of bad) {
    test(`rejects a bad ${field}: ${JSON.stringify(overrides)}`, () => {
      assert.throws(() => validateSamplingParams(params(overrides)), (e: unknown) => {
        return e instanceof RangeError && e.message.startsWith(field);
      });
    });
  }

  test('createSamplingState keeps the prompt set only when the repetition penalty is on', () => {
    assert.equal(createSamplingState(params(), [1, 2]).promptTokenSet, undefined);
    assert.deepEqual(createSamplingState(params({ repetitionPenalty: 1.2 }), [1, 2, 1]).promptTokenSet, new Set([1, 2]));
  });

  test('recordOutputToken counts occurrences', () => {
    const s = createSamplingState(params());
    for (const id of [4, 9, 4, 4]) recordOutputToken(s, id);
    assert.deepEqual([...s.outputTokenCounts], [[4, 3], [9, 1]]);
  });
});
