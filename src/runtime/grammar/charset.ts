/**
 * Sets of Unicode code points as sorted, disjoint, non-adjacent inclusive ranges: the character
 * classes of the pattern compiler (regex-parse.ts), with the class escapes of ECMAScript regular
 * expressions under the `u` flag (what JSON Schema validators such as ajv use).
 *
 * Invariant of every CharSet: `ranges` is [lo0, hi0, lo1, hi1, …] with lo_i <= hi_i, hi_i + 1 < lo_{i+1},
 * all within [0, MAX_CODE_POINT]. Surrogate code points (U+D800–U+DFFF) never occur in a JSON text we
 * produce (no lone surrogates, no `\uD…` escapes), so the compiler removes them with {@link withoutSurrogates}.
 */

/** The largest Unicode code point. */
export const MAX_CODE_POINT = 0x10ffff;
/** The first surrogate code point. */
export const SURROGATE_LO = 0xd800;
/** The last surrogate code point. */
export const SURROGATE_HI = 0xdfff;

/** An immutable set of code points (see the module comment for its invariant). */
export class CharSet {
  private constructor(readonly ranges: readonly number[]) {}

  /** The set of the given inclusive [lo, hi] pairs (any order, overlaps allowed). */
  static of(pairs: ReadonlyArray<readonly [number, number]>): CharSet {
    const sorted = pairs.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
    const out: number[] = [];
    for (const [lo, hi] of sorted) {
      const n = out.length;
      if (n > 0 && lo <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, hi);
      else out.push(lo, hi);
    }
    return new CharSet(out);
  }

  /** One code point. */
  static single(cp: number): CharSet {
    return new CharSet([cp, cp]);
  }

  /** Every code point. */
  static all(): CharSet {
    return new CharSet([0, MAX_CODE_POINT]);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** The ranges as pairs. */
  pairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.ranges.length; i += 2) out.push([this.ranges[i]!, this.ranges[i + 1]!]);
    return out;
  }

  union(other: CharSet): CharSet {
    return CharSet.of([...this.pairs(), ...other.pairs()]);
  }

  /** Every code point not in this set. */
  complement(): CharSet {
    const out: Array<[number, number]> = [];
    let next = 0;
    for (const [lo, hi] of this.pairs()) {
      if (lo > next) out.push([next, lo - 1]);
      next = hi + 1;
    }
    if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
    return CharSet.of(out);
  }

  /** This set less `other`. */
  minus(other: CharSet): CharSet {
    return this.complement().union(other).complement();
  }

  /** This set less the surrogate code points. */
  withoutSurrogates(): CharSet {
    return this.minus(CharSet.of([[SURROGATE_LO, SURROGATE_HI]]));
  }

  has(cp: number): boolean {
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (cp < this.ranges[i]!) return false;
      if (cp <= this.ranges[i + 1]!) return true;
    }
    return false;
  }
}

const DIGITS = CharSet.of([[0x30, 0x39]]);
const WORD = CharSet.of([
  [0x30, 0x39],
  [0x41, 0x5a],
  [0x5f, 0x5f],
  [0x61, 0x7a],
]);
/** ECMAScript WhiteSpace and LineTerminator code points (`\s`). */
const SPACE = CharSet.of([
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
]);
/** LineTerminator: what `.` does not match without the `s` flag. */
const LINE_TERMINATORS = CharSet.of([
  [0x0a, 0x0a],
  [0x0d, 0x0d],
  [0x2028, 0x2029],
]);

/** The set of a class escape letter (d, D, w, W, s, S); undefined for any other letter. */
export function classEscape(letter: string): CharSet | undefined {
  switch (letter) {
    case 'd':
      return DIGITS;
    case 'D':
      return DIGITS.complement();
    case 'w':
      return WORD;
    case 'W':
      return WORD.complement();
    case 's':
      return SPACE;
    case 'S':
      return SPACE.complement();
    default:
      return undefined;
  }
}

/** What `.` matches (no `s` flag): every code point but the line terminators. */
export function dotSet(): CharSet {
  return LINE_TERMINATORS.complement();
}
