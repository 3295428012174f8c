/**
 * Strings under a `pattern` or `format`: the automaton frame that reads a JSON string's bytes, decodes
 * each character (raw UTF-8, a simple escape such as `\n` or `\"`, or `\uXXXX`) and steps the pattern's
 * code-point DFA (regex-dfa.ts) on the DECODED character, so the constraint holds for the string value
 * while the output stays valid JSON text.
 *
 * Lengths: `minLength` / `maxLength` (default: the limits' maxStringLength, or more when the pattern's
 * shortest string is longer) count code points. {@link PatternRules.rest} is R(s, c): the fewest bytes
 * that take DFA state `s`, with `c` characters written, to an accepting state with a length in
 * [minLength, maxLength] — computed once per pattern as a table over c = maxLength … 0, so it is exact.
 *
 * Invariant (no dead ends): the frame takes a byte only if some completion still exists. A partial
 * character (UTF-8 bytes or `\u` digits still due) stands for an interval of code points; a byte is
 * taken only if some character in the interval leads to a state with finite R. Every frame's `rest()`
 * is therefore finite and exact, which the budget rule of constraint.ts relies on.
 */
import { Config, Frame, pop, replaceTop } from './frames.ts';
import { StringFrame, utf8Lead } from './scalars.ts';
import { classOf, type PatternBudget, type PatternDfa, step } from './regex-dfa.ts';
import { SCHEMA_LIMITS } from './bounds.ts';
import { ConstraintError } from './spec.ts';
import type { StringNode } from './nodes.ts';

const INF = 0x3fffffff;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** The simple escapes (after '\') and the code point each stands for. */
const SIMPLE_ESCAPES = new Map([
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x2f, 0x2f],
  [0x62, 0x08],
  [0x66, 0x0c],
  [0x6e, 0x0a],
  [0x72, 0x0d],
  [0x74, 0x09],
]);

/** A compiled pattern with its length bounds and completion table (module comment). */
export interface PatternRules {
  readonly dfa: PatternDfa;
  readonly minLength: number;
  readonly maxLength: number;
  /** A plain string node with the same bounds: the frame becomes a StringFrame once anything goes. */
  readonly plain: StringNode;
  /** R(s, c) as table[c * stateCount + s] for c in 0..maxLength. */
  readonly table: Int32Array;
  /**
   * Per state: 1 when it lets many printable ASCII characters on (at least BULK_MIN_ASCII), so checking
   * every plain token in bulk (pattern-plain.ts) beats walking the vocabulary trie, which prunes well
   * only where few characters are allowed.
   */
  readonly bulk: Uint8Array;
}

/** Printable ASCII characters a state must let on for plain tokens to be checked in bulk. */
const BULK_MIN_ASCII = 32;

/** Fewest JSON bytes that write one code point of [a, b] (INF if none: surrogates only). */
export function minCharBytes(a: number, b: number): number {
  const hits = (lo: number, hi: number): boolean => a <= hi && b >= lo;
  if (hits(0x20, 0x21) || hits(0x23, 0x5b) || hits(0x5d, 0x7f)) return 1;
  if (hits(0x22, 0x22) || hits(0x5c, 0x5c) || hits(0x08, 0x0a) || hits(0x0c, 0x0d)) return 2;
  if (hits(0x80, 0x7ff)) return 2;
  if (hits(0x800, 0xd7ff) || hits(0xe000, 0xffff)) return 3;
  if (hits(0x10000, 0x10ffff)) return 4;
  return hits(0, 0x1f) ? 6 : INF;
}

/** Fewest code points of an accepted string (BFS), INF if none. */
function shortestAccepted(dfa: PatternDfa): number {
  const C = dfa.classCount;
  const dist = new Int32Array(dfa.stateCount).fill(INF);
  dist[dfa.start] = 0;
  const queue = [dfa.start];
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i]!;
    if (dfa.accept[s]) return dist[s]!;
    for (let x = 0; x < C; x++) {
      const t = dfa.next[s * C + x]!;
      if (t >= 0 && dist[t] === INF) {
        dist[t] = dist[s]! + 1;
        queue.push(t);
      }
    }
  }
  return INF;
}

/**
 * The rules of a string with pattern DFA `dfa` and the schema's length bounds.
 * @param bounds - minLength; the schema's maxLength, or undefined for `defaultMax` (raised to the shortest match)
 * @param budget - the schema's pattern budget (the table's work is charged to it)
 * @throws ConstraintError when the table passes its limit or no string fits the bounds
 */
export function patternRules(
  dfa: PatternDfa,
  bounds: { minLength: number; maxLength: number | undefined; defaultMax: number },
  path: string,
  budget: PatternBudget,
): PatternRules {
  const { minLength, maxLength, defaultMax } = bounds;
  const max = maxLength ?? Math.max(defaultMax, minLength, Math.min(shortestAccepted(dfa), INF - 1));
  const S = dfa.stateCount;
  if ((max + 1) * S > SCHEMA_LIMITS.maxPatternCells) {
    throw new ConstraintError(
      `'pattern' with maxLength ${max} needs more than ${SCHEMA_LIMITS.maxPatternCells} table cells (${S} states × ${max + 1} lengths); lower maxLength`,
      path,
    );
  }
  const table = completionTable(dfa, minLength, max, (n) => budget.charge(n, path));
  if (table[dfa.start]! >= INF) {
    throw new ConstraintError(`'pattern' matches no string of ${minLength} to ${max} characters`, path);
  }
  const plain: StringNode = { kind: 'string', minLen: 2 + minLength, minLength, maxLength: max };
  return { dfa, minLength, maxLength: max, plain, table, bulk: bulkStates(dfa) };
}

/** PatternRules.bulk: the states that let at least BULK_MIN_ASCII printable ASCII characters on. */
function bulkStates(dfa: PatternDfa): Uint8Array {
  const C = dfa.classCount;
  return Uint8Array.from({ length: dfa.stateCount }, (_, s) => {
    let n = 0;
    for (let x = classOf(dfa, 0x20); x < C && dfa.classStart[x]! <= 0x7e; x++) {
      if (dfa.next[s * C + x]! < 0) continue;
      n += Math.min(0x7f, dfa.classStart[x + 1] ?? 0x7f) - Math.max(0x20, dfa.classStart[x]!);
    }
    return n >= BULK_MIN_ASCII ? 1 : 0;
  });
}

/** R(s, c) for c = max … 0: an accepting end when c is within bounds, else one more character. */
function completionTable(dfa: PatternDfa, min: number, max: number, charge: (steps: number) => void): Int32Array {
  const S = dfa.stateCount;
  const C = dfa.classCount;
  const cost = Array.from({ length: C }, (_, x) => minCharBytes(dfa.classStart[x]!, (dfa.classStart[x + 1] ?? 0x110000) - 1));
  // Each state's distinct successors with the cheapest character that reaches each.
  const succ: Array<Map<number, number>> = Array.from({ length: S }, () => new Map());
  for (let s = 0; s < S; s++) {
    for (let x = 0; x < C; x++) {
      const t = dfa.next[s * C + x]!;
      if (t >= 0 && cost[x]! < (succ[s]!.get(t) ?? INF)) succ[s]!.set(t, cost[x]!);
    }
  }
  const edges = succ.map((m) => [...m]);
  charge((max + 1) * edges.reduce((n, e) => n + e.length + 1, 0));
  const table = new Int32Array((max + 1) * S).fill(INF);
  for (let c = max; c >= 0; c--) {
    for (let s = 0; s < S; s++) {
      let best = dfa.accept[s] && c >= min ? 0 : INF;
      if (c < max) {
        for (const [t, w] of edges[s]!) {
          const r = table[(c + 1) * S + t]!;
          if (r < INF && w + r < best) best = w + r;
        }
      }
      table[c * S + s] = best;
    }
  }
  return table;
}

/** R(s, c): fewest bytes to an accepted end (closing quote excluded), INF (0x3fffffff) if none. */
export function restOf(rules: PatternRules, s: number, c: number): number {
  return c > rules.maxLength ? INF : rules.table[c * rules.dfa.stateCount + s]!;
}

/** The least R(t, c + 1) over the characters in [lo, hi] that state s can take (INF if none). */
function bestIn(rules: PatternRules, s: number, c: number, lo: number, hi: number): number {
  const dfa = rules.dfa;
  const C = dfa.classCount;
  let best = INF;
  for (let x = classOf(dfa, lo); x < C && dfa.classStart[x]! <= hi; x++) {
    const t = dfa.next[s * C + x]!;
    if (t >= 0) best = Math.min(best, restOf(rules, t, c + 1));
  }
  return best;
}

/**
 * Inside a pattern string: DFA `state`, `count` characters complete; a character in progress is
 * `esc` 1 (after '\'), 2..5 (`\u` with esc - 2 hex digits read, value `acc`), or `pending` UTF-8
 * continuation bytes due (the next within [lo, hi]; `acc` the bits so far).
 */
export class PatternFrame extends Frame {
  constructor(
    readonly rules: PatternRules,
    readonly state: number,
    readonly count: number,
    readonly esc: number,
    readonly pending: number,
    readonly lo: number,
    readonly hi: number,
    readonly acc: number,
  ) {
    super();
  }

  /** Between characters, in a state where plain tokens are best checked in bulk (pattern-plain.ts). */
  get bulkPlain(): boolean {
    return this.esc === 0 && this.pending === 0 && this.rules.bulk[this.state] === 1;
  }

  /** The frame after the opening quote (a plain StringFrame when the pattern accepts anything). */
  static begin(rules: PatternRules): Frame {
    return PatternFrame.at(rules, rules.dfa.start, 0);
  }

  /** A frame between characters; a StringFrame once in the universal state (same bounds, bulk-checkable). */
  private static at(rules: PatternRules, state: number, count: number): Frame {
    if (state === rules.dfa.universal) return new StringFrame(rules.plain, count, 0, 0x80, 0xbf, 0);
    return new PatternFrame(rules, state, count, 0, 0, 0x80, 0xbf, 0);
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    if (this.esc === 0 && this.pending === 0 && b === QUOTE) {
      if (restOf(this.rules, this.state, this.count) === 0) pop(cfg, out);
      return;
    }
    const next = this.next(b);
    if (next && next.rest() < INF) out.push(replaceTop(cfg, next));
  }

  /** The frame after byte b (its rest may be INF: the caller drops it). */
  private next(b: number): Frame | null {
    if (this.esc === 1) {
      const cp = SIMPLE_ESCAPES.get(b);
      if (cp !== undefined) return this.char(cp);
      return b === 0x75 ? this.partial(2, 0, 0x80, 0xbf, 0) : null;
    }
    if (this.esc >= 2) {
      const d = hexValue(b);
      // A first digit d/D would begin a surrogate: never written (as in StringFrame).
      if (d < 0 || (this.esc === 2 && d === 0xd)) return null;
      const v = this.acc * 16 + d;
      return this.esc === 5 ? this.char(v) : this.partial(this.esc + 1, 0, 0x80, 0xbf, v);
    }
    if (this.pending > 0) {
      if (b < this.lo || b > this.hi) return null;
      const v = (this.acc << 6) | (b & 0x3f);
      return this.pending === 1 ? this.char(v) : this.partial(0, this.pending - 1, 0x80, 0xbf, v);
    }
    if (b === BACKSLASH) return this.partial(1, 0, 0x80, 0xbf, 0);
    if (b < 0x80) return b >= 0x20 ? this.char(b) : null;
    const lead = utf8Lead(b);
    if (!lead) return null;
    return this.partial(0, lead.pending, lead.lo, lead.hi, b & (lead.pending === 1 ? 0x1f : lead.pending === 2 ? 0x0f : 0x07));
  }

  private partial(esc: number, pending: number, lo: number, hi: number, acc: number): PatternFrame {
    return new PatternFrame(this.rules, this.state, this.count, esc, pending, lo, hi, acc);
  }

  /** The frame after a whole character `cp` (null when the DFA cannot take it). */
  private char(cp: number): Frame | null {
    const t = step(this.rules.dfa, this.state, cp);
    if (t < 0 || restOf(this.rules, t, this.count + 1) >= INF) return null;
    return PatternFrame.at(this.rules, t, this.count + 1);
  }

  /** The code points the character in progress may still become. */
  private interval(): [number, number] {
    if (this.esc >= 2) {
      const shift = 4 * (5 - this.esc + 1);
      const lo = this.acc * 2 ** shift;
      return [lo, lo + 2 ** shift - 1];
    }
    const p = this.pending; // UTF-8: the first due byte in [lo, hi], the rest in 80..BF
    const base = this.acc * 2 ** (6 * p);
    const low = 2 ** (6 * (p - 1));
    return [base + (this.lo & 0x3f) * low, base + (this.hi & 0x3f) * low + low - 1];
  }

  rest(): number {
    const { rules, state, count } = this;
    if (this.esc === 0 && this.pending === 0) return restOf(rules, state, count) + 1;
    if (this.esc === 1) {
      let best = 5 + bestIn(rules, state, count, 0, 0xffff);
      for (const cp of SIMPLE_ESCAPES.values()) best = Math.min(best, 1 + bestIn(rules, state, count, cp, cp));
      return best >= INF ? INF : best + 1;
    }
    const [lo, hi] = this.interval();
    const due = this.esc >= 2 ? 6 - this.esc : this.pending;
    const best = bestIn(rules, state, count, lo, hi);
    return best >= INF ? INF : due + best + 1;
  }
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}
