import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Xoshiro128StarStar, createPrng, randomSeed, splitmix64 } from '../src/runtime/prng.ts';

function take(prng: { nextUint32(): number }, n: number): number[] {
  return Array.from({ length: n }, () => prng.nextUint32());
}

describe('splitmix64', () => {
  test('matches the reference outputs for state 0', () => {
    // From the C reference (prng.di.unimi.it/splitmix64.c) with x = 0.
    assert.deepEqual(splitmix64(0n, 3), [0xe220a8397b1dcdafn, 0x6e789e6aa1b965f4n, 0x06c45d188009454fn]);
  });
});

describe('xoshiro128**', () => {
  test('matches the C reference from state {1, 2, 3, 4}', () => {
    const prng = Xoshiro128StarStar.fromState(1, 2, 3, 4);
    assert.deepEqual(take(prng, 8), [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]);
  });

  test('rejects the all-zero state', () => {
    assert.throws(() => Xoshiro128StarStar.fromState(0, 0, 0, 0), RangeError);
  });

  test('seed 42 gives a fixed sequence (pinned so it never changes across machines or releases)', () => {
    assert.deepEqual(take(createPrng(42), 4), [1776835114, 4165204688, 17111135, 2317295270]);
  });

  test('seeding uses splitmix64 words low half first', () => {
    const [a, b] = splitmix64(7n, 2) as [bigint, bigint];
    const words = [a, a >> 32n, b, b >> 32n].map((w) => Number(BigInt.asUintN(32, w)));
    const reference = Xoshiro128StarStar.fromState(words[0]!, words[1]!, words[2]!, words[3]!);
    assert.deepEqual(take(createPrng(7), 16), take(reference, 16));
  });

  test('same seed, same sequence; different seeds, different sequences', () => {
    const seeds = [0, 1, 2, 42, -1, 2 ** 53 - 1];
    const sequences = seeds.map((seed) => take(createPrng(seed), 32).join(','));
    for (const [i, seed] of seeds.entries()) assert.equal(take(createPrng(seed), 32).join(','), sequences[i]);
    assert.equal(new Set(sequences).size, seeds.length);
  });

  test('number and bigint seeds agree; negatives are taken modulo 2^64', () => {
    assert.deepEqual(take(createPrng(123456789), 8), take(createPrng(123456789n), 8));
    assert.deepEqual(take(createPrng(-1), 8), take(createPrng(2n ** 64n - 1n), 8));
  });

  test('rejects seeds that are not safe integers', () => {
    for (const seed of [1.5, Number.NaN, Infinity, 2 ** 60]) assert.throws(() => createPrng(seed), RangeError);
  });

  test('next() stays in [0, 1) and is roughly uniform', () => {
    const prng = createPrng(2024);
    const buckets = new Array<number>(10).fill(0);
    const n = 100_000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const u = prng.next();
      assert.ok(u >= 0 && u < 1, `out of range: ${u}`);
      buckets[Math.floor(u * 10)]!++;
      sum += u;
    }
    assert.ok(Math.abs(sum / n - 0.5) < 0.005, `mean ${sum / n}`);
    for (const count of buckets) assert.ok(Math.abs(count / n - 0.1) < 0.005, `bucket share ${count / n}`);
  });

  test('next() uses 53 bits: consecutive values are not multiples of 2^-32', () => {
    const prng = createPrng(5);
    const fractional = Array.from({ length: 20 }, () => prng.next()).filter((u) => !Number.isInteger(u * 2 ** 32));
    assert.ok(fractional.length >= 19);
  });
});

describe('randomSeed', () => {
  test('returns distinct non-negative safe integers that seed a generator', () => {
    const seeds = Array.from({ length: 50 }, () => randomSeed());
    for (const seed of seeds) assert.ok(Number.isSafeInteger(seed) && seed >= 0);
    assert.equal(new Set(seeds).size, seeds.length);
    const seed = seeds[0]!;
    assert.deepEqual(take(createPrng(seed), 4), take(createPrng(seed), 4));
  });

  test('createPrng() without a seed gives a different sequence each time', () => {
    assert.notDeepEqual(take(createPrng(), 4), take(createPrng(), 4));
  });
});
