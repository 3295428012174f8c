/**
 * Seeded pseudo-random numbers for sampling. Each request owns one generator, so the tokens a request
 * draws depend only on its seed and its own logits, never on what else shares the batch.
 *
 * Generator: xoshiro128** 1.0 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c) on four
 * 32-bit words, computed with `Math.imul` and `>>>` only, so every JavaScript engine on every machine
 * produces the same sequence. Seeding: the seed is taken as a 64-bit integer (two's complement for
 * negatives) and expanded with splitmix64 (the seeding procedure the xoshiro authors recommend); its
 * first output gives state words 0 (low half) and 1 (high half), its second words 2 and 3.
 */
import { randomBytes } from 'node:crypto';

/** A source of uniform random numbers. */
export interface Prng {
  /** A uniform float in [0, 1) with 53 bits of randomness (two 32-bit draws). */
  next(): number;
  /** A uniform unsigned 32-bit integer in [0, 2^32). */
  nextUint32(): number;
}

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

/**
 * splitmix64 (Vigna, https://prng.di.unimi.it/splitmix64.c): returns the first `count` outputs for the
 * given 64-bit state. Used once per request to seed xoshiro128**, so BigInt's cost does not matter.
 */
export function splitmix64(seed: bigint, count: number): bigint[] {
  let state = BigInt.asUintN(64, seed);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    state = (state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    out.push(z ^ (z >> 31n));
  }
  return out;
}

/** xoshiro128** 1.0: 128 bits of state, period 2^128 - 1, 32-bit outputs. */
export class Xoshiro128StarStar implements Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s0: number, s1: number, s2: number, s3: number) {
    if ((s0 | s1 | s2 | s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
  }

  /**
   * A generator seeded from an integer (any safe integer or a bigint; taken modulo 2^64).
   * @throws RangeError when `seed` is a number that is not a safe integer.
   */
  static fromSeed(seed: number | bigint): Xoshiro128StarStar {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be a safe integer, got ${seed}`);
    }
    const [a, b] = splitmix64(BigInt(seed), 2) as [bigint, bigint];
    const words = [a, a >> 32n, b, b >> 32n].map((w) => Number(BigInt.asUintN(32, w)));
    // splitmix64 is a bijection of its counter, so two consecutive zero outputs cannot happen.
    return new Xoshiro128StarStar(words[0]!, words[1]!, words[2]!, words[3]!);
  }

  /** A generator with an explicit state (for reference test vectors). Not all four may be zero. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Xoshiro128StarStar {
    return new Xoshiro128StarStar(s0, s1, s2, s3);
  }

  nextUint32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * TWO_POW_26 + lo) / TWO_POW_53;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * A fresh seed from the operating system's cryptographic random source, for requests that give none.
 * A non-negative safe integer (53 bits), so it can be reported back and reused as a `seed`.
 */
export function randomSeed(): number {
  const bytes = randomBytes(8);
  const hi = bytes.readUInt32BE(0) & 0x1fffff; // 21 bits
  const lo = bytes.readUInt32BE(4);
  return hi * 2 ** 32 + lo;
}

/** The generator for one request: seeded from `seed`, or from {@link randomSeed} when none is given. */
export function createPrng(seed?: number | bigint): Prng {
  return Xoshiro128StarStar.fromSeed(seed ?? randomSeed());
}
