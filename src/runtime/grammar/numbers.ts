/**
 * JSON numbers, one byte at a time, with digit caps and optional bounds (minimum / maximum /
 * exclusive*). Grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; integers take no fraction
 * and no exponent, and bounded numbers no exponent.
 *
 * States (`phase`), written down once:
 *   SIGN       after '-', a digit must follow
 *   ZERO       integer part is "0": '.', 'e' or the end may follow, no more integer digits
 *   INT        integer part [1-9][0-9]*: digits (up to the cap), '.', 'e' or the end
 *   DOT        after '.', a digit must follow
 *   FRAC       fraction digits: digits (up to the cap), 'e' or the end
 *   EXP        after 'e'/'E': a sign or a digit
 *   EXP_SIGN   after the exponent's sign: a digit
 *   EXP_DIGITS exponent digits (at most 2): digits or the end
 *
 * With bounds, a byte is taken only if some continuation within the caps ends inside the bounds, and
 * `extra()` is the exact number of bytes of the shortest such continuation: the constraint's budget
 * rule relies on it decreasing by one along the best continuation.
 */

export const enum NumPhase {
  SIGN,
  ZERO,
  INT,
  DOT,
  FRAC,
  EXP,
  EXP_SIGN,
  EXP_DIGITS,
}

/** The range a bounded number must land in (either side may be infinite). */
export interface NumberBounds {
  lo: number;
  hi: number;
  loExclusive: boolean;
  hiExclusive: boolean;
}

/** Compiled rules of one number/integer schema. */
export interface NumberRules {
  integer: boolean;
  bounds: NumberBounds | null;
  maxIntDigits: number;
  maxFracDigits: number;
}

const MAX_EXP_DIGITS = 2;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

function isDigit(b: number): boolean {
  return b >= DIGIT_0 && b <= DIGIT_9;
}

/** An immutable number-in-progress. `intVal`/`fracVal` hold the digits read (exact below 2^53). */
export class NumberState {
  constructor(
    readonly rules: NumberRules,
    readonly phase: NumPhase,
    readonly neg: boolean,
    readonly intDigits: number,
    readonly intVal: number,
    readonly fracDigits: number,
    readonly fracVal: number,
    readonly expDigits: number,
  ) {}

  /** The state after the first byte of a number, or null when `b` cannot start one. */
  static start(rules: NumberRules, b: number): NumberState | null {
    let s: NumberState | null = null;
    if (b === 0x2d) s = new NumberState(rules, NumPhase.SIGN, true, 0, 0, 0, 0, 0);
    else if (isDigit(b)) s = new NumberState(rules, b === DIGIT_0 ? NumPhase.ZERO : NumPhase.INT, false, 1, b - DIGIT_0, 0, 0, 0);
    return s && s.viable() ? s : null;
  }

  /** Whether the number read so far is a complete value (within bounds). */
  get canEnd(): boolean {
    const p = this.phase;
    if (p !== NumPhase.ZERO && p !== NumPhase.INT && p !== NumPhase.FRAC && p !== NumPhase.EXP_DIGITS) return false;
    return this.rules.bounds === null || inBounds(this.value(), this.rules.bounds);
  }

  /** The next state, or null when `b` does not continue this number (the caller then ends it). */
  step(b: number): NumberState | null {
    const next = this.rawStep(b);
    return next && next.viable() ? next : null;
  }

  /** Bytes of the shortest continuation that ends the number validly (0 when it can end now). */
  extra(): number {
    if (this.canEnd) return 0;
    if (this.rules.bounds === null) return 1; // SIGN, DOT, EXP, EXP_SIGN: one digit
    return boundedExtra(this);
  }

  private viable(): boolean {
    return this.rules.bounds === null || boundedExtra(this) < Infinity;
  }

  private rawStep(b: number): NumberState | null {
    const r = this.rules;
    const d = b - DIGIT_0;
    switch (this.phase) {
      case NumPhase.SIGN:
        if (!isDigit(b)) return null;
        return this.with(d === 0 ? NumPhase.ZERO : NumPhase.INT, 1, d, 0, 0, 0);
      case NumPhase.INT:
        if (isDigit(b)) return this.intDigits < r.maxIntDigits ? this.with(NumPhase.INT, this.intDigits + 1, this.intVal * 10 + d, 0, 0, 0) : null;
        return this.afterInteger(b);
      case NumPhase.ZERO:
        return this.afterInteger(b);
      case NumPhase.DOT:
        return isDigit(b) ? this.with(NumPhase.FRAC, this.intDigits, this.intVal, 1, d, 0) : null;
      case NumPhase.FRAC:
        if (isDigit(b)) {
          return this.fracDigits < r.maxFracDigits ? this.with(NumPhase.FRAC, this.intDigits, this.intVal, this.fracDigits + 1, this.fracVal * 10 + d, 0) : null;
        }
        return this.exponent(b);
      case NumPhase.EXP:
        if (b === 0x2b || b === 0x2d) return this.with(NumPhase.EXP_SIGN, this.intDigits, this.intVal, this.fracDigits, this.fracVal, 0);
        return isDigit(b) ? this.with(NumPhase.EXP_DIGITS, this.intDigits, this.intVal, this.fracDigits, this.fracVal, 1) : null;
      case NumPhase.EXP_SIGN:
        return isDigit(b) ? this.with(NumPhase.EXP_DIGITS, this.intDigits, this.intVal, this.fracDigits, this.fracVal, 1) : null;
      case NumPhase.EXP_DIGITS:
        return isDigit(b) && this.expDigits < MAX_EXP_DIGITS
          ? this.with(NumPhase.EXP_DIGITS, this.intDigits, this.intVal, this.fracDigits, this.fracVal, this.expDigits + 1)
          : null;
    }
  }

  private afterInteger(b: number): NumberState | null {
    if (b === 0x2e && !this.rules.integer) return this.with(NumPhase.DOT, this.intDigits, this.intVal, 0, 0, 0);
    return this.exponent(b);
  }

  private exponent(b: number): NumberState | null {
    if ((b !== 0x65 && b !== 0x45) || this.rules.integer || this.rules.bounds !== null) return null;
    return this.with(NumPhase.EXP, this.intDigits, this.intVal, this.fracDigits, this.fracVal, 0);
  }

  private with(phase: NumPhase, intDigits: number, intVal: number, fracDigits: number, fracVal: number, expDigits: number): NumberState {
    return new NumberState(this.rules, phase, this.neg, intDigits, intVal, fracDigits, fracVal, expDigits);
  }

  /** The exact value of the text read so far (no exponent: bounded numbers have none). */
  value(): number {
    const frac = this.fracDigits > 0 ? '.' + String(this.fracVal).padStart(this.fracDigits, '0') : '';
    return Number(`${this.neg ? '-' : ''}${this.intVal}${frac}`);
  }
}

/** Whether `x` satisfies the bounds. */
export function inBounds(x: number, b: NumberBounds): boolean {
  return (x > b.lo || (!b.loExclusive && x === b.lo)) && (x < b.hi || (!b.hiExclusive && x === b.hi));
}

/** Magnitude bounds for a sign: for negative numbers the range is mirrored. */
interface MagnitudeRange {
  lo: number;
  hi: number;
  loExclusive: boolean;
  hiExclusive: boolean;
}

function magnitudeRange(b: NumberBounds, neg: boolean): MagnitudeRange {
  return neg ? { lo: -b.hi, hi: -b.lo, loExclusive: b.hiExclusive, hiExclusive: b.loExclusive } : b;
}

/** Whether some k / 10^t lies in [a, z] and inside the magnitude range `m`. */
function gridHit(a: number, z: number, t: number, m: MagnitudeRange): boolean {
  const scale = 10 ** t;
  const lower = Math.max(a, m.lo);
  const upper = Math.min(z, m.hi);
  if (lower > upper) return false;
  let k = Math.ceil(lower * scale);
  let x = k / scale;
  for (let guard = 0; guard < 4 && (x < lower || (x === m.lo && m.loExclusive)); guard++) x = ++k / scale;
  return x < upper || (x === upper && !(upper === m.hi && m.hiExclusive));
}

/** Shortest continuation of a bounded number, in bytes (Infinity when none fits the caps). */
function boundedExtra(s: NumberState): number {
  const r = s.rules;
  const m = magnitudeRange(r.bounds!, s.neg);
  switch (s.phase) {
    case NumPhase.SIGN: {
      let best = Infinity;
      for (let d = 0; d <= 9; d++) best = Math.min(best, 1 + integerPartExtra(r, m, d, 1, d === 0));
      return best;
    }
    case NumPhase.ZERO:
    case NumPhase.INT:
      return integerPartExtra(r, m, s.intVal, s.intDigits, s.phase === NumPhase.ZERO);
    case NumPhase.DOT:
      return fractionExtra(r, m, s.intVal, 0, 0, 1);
    case NumPhase.FRAC:
      return fractionExtra(r, m, s.intVal, s.fracVal, s.fracDigits, 0);
    default:
      return Infinity; // exponents never occur with bounds
  }
}

/** Shortest continuation from an integer part `v` of `k` digits: more digits, then maybe a fraction. */
function integerPartExtra(r: NumberRules, m: MagnitudeRange, v: number, k: number, zero: boolean): number {
  let best = Infinity;
  const maxMore = zero ? 0 : r.maxIntDigits - k;
  for (let j = 0; j <= maxMore && j < best; j++) {
    const a = v * 10 ** j;
    if (a > m.hi) break; // more digits only make it larger
    const z = a + 10 ** j - 1;
    if (gridHit(a, z, 0, m)) best = Math.min(best, j);
    if (r.integer) continue;
    for (let t = 1; t <= r.maxFracDigits && j + 1 + t < best; t++) {
      if (gridHit(a, z + 1 - 10 ** -t, t, m)) best = Math.min(best, j + 1 + t);
    }
  }
  return best;
}

/**
 * Shortest continuation of a fraction `f` of `digits` digits after integer part `v`, needing at least
 * `atLeast` more digits.
 */
function fractionExtra(r: NumberRules, m: MagnitudeRange, v: number, f: number, digits: number, atLeast: number): number {
  for (let more = atLeast; digits + more <= r.maxFracDigits; more++) {
    const t = digits + more;
    const a = v + (f * 10 ** more) / 10 ** t;
    const z = v + ((f + 1) * 10 ** more - 1) / 10 ** t;
    if (gridHit(a, z, t, m)) return more;
  }
  return Infinity;
}

/** Bytes of the shortest number allowed by `rules` (Infinity when none is). */
export function shortestNumber(rules: NumberRules): number {
  let best = Infinity;
  for (const b of [0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39]) {
    const s = NumberState.start(rules, b);
    if (s) best = Math.min(best, 1 + s.extra());
  }
  return best;
}
