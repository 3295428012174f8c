/**
 * A parsed pattern (regex-parse.ts) → a deterministic automaton over code points that accepts exactly
 * the strings JSON Schema's `pattern` accepts: those that CONTAIN a match (the pattern is unanchored
 * unless it says `^` / `$`), as `new RegExp(pattern, 'u').test(s)`.
 *
 * Construction: Thompson's NFA, whose anchors are assertion edges (`^` passable only at position 0,
 * `$` only at the end), then the subset construction with search semantics: the NFA's start is added
 * again at every position (a match may begin anywhere), and a subset that reaches the NFA's final state
 * becomes the UNIVERSAL state (a match has been found: every continuation is accepted). A DFA state
 * accepts at the end of the string when its closure through `$` edges reaches the final state.
 *
 * The alphabet is cut into classes: maximal intervals of code points no character set of the pattern
 * tells apart (the surrogates U+D800–U+DFFF always form their own class, with no transitions: they never
 * occur in our output). Transitions into states that cannot reach acceptance are removed, so every
 * transition left leads somewhere a string can still be accepted; equivalent states are then merged
 * (dfa-minimize.ts). Sizes are bounded by SCHEMA_LIMITS
 * (NFA states, DFA states, table cells); past one, a ConstraintError names the limit.
 */
import { CharSet, MAX_CODE_POINT, SURROGATE_HI, SURROGATE_LO } from './charset.ts';
import { SCHEMA_LIMITS } from './bounds.ts';
import type { RegexNode } from './regex-parse.ts';
import { minimizeDfa } from './dfa-minimize.ts';
import { ConstraintError } from './spec.ts';

/** A deterministic automaton over code points; see the module comment. */
export interface PatternDfa {
  /** classStart[x]: first code point of class x (ascending; class x ends where class x + 1 starts). */
  readonly classStart: Int32Array;
  /** next[s * classCount + x]: the state after a code point of class x in state s, or -1 (no live way on). */
  readonly next: Int32Array;
  /** Whether the string may end in each state. */
  readonly accept: Uint8Array;
  readonly start: number;
  /** The state where everything is accepted (a match was found), or -1. */
  readonly universal: number;
  readonly stateCount: number;
  readonly classCount: number;
}

/** The class of code point `cp` (binary search). */
export function classOf(dfa: PatternDfa, cp: number): number {
  const starts = dfa.classStart;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= cp) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The state after `cp` in state `s`, or -1. */
export function step(dfa: PatternDfa, s: number, cp: number): number {
  return dfa.next[s * dfa.classCount + classOf(dfa, cp)]!;
}

/** Whether the automaton accepts the whole string `text` (tests; enum values under a pattern). */
export function dfaAccepts(dfa: PatternDfa, text: string): boolean {
  let s = dfa.start;
  for (const ch of text) {
    s = step(dfa, s, ch.codePointAt(0)!);
    if (s < 0) return false;
  }
  return dfa.accept[s] === 1;
}

/**
 * Work left for compiling the patterns of one schema (SCHEMA_LIMITS.maxPatternWork): a client's schema
 * may hold thousands of patterns, each within the per-pattern limits.
 */
export class PatternBudget {
  private work = SCHEMA_LIMITS.maxPatternWork;
  private cells = SCHEMA_LIMITS.maxPatternCells;

  /** Spends `n` steps. @throws ConstraintError once the budget is spent */
  charge(n: number, path: string): void {
    this.work -= n;
    if (this.work < 0) {
      throw new ConstraintError(`the schema's patterns and formats need more than ${SCHEMA_LIMITS.maxPatternWork} steps to compile`, path);
    }
  }

  /** Table cells the compiled schema keeps (DFA transitions and completion tables). */
  get heldCells(): number {
    return SCHEMA_LIMITS.maxPatternCells - this.cells;
  }

  /** Keeps `n` table cells for the compiled schema. @throws ConstraintError past maxPatternCells in all */
  hold(n: number, path: string): void {
    this.cells -= n;
    if (this.cells < 0) {
      throw new ConstraintError(`the schema's patterns and formats need more than ${SCHEMA_LIMITS.maxPatternCells} table cells in all`, path);
    }
  }
}

/** One NFA transition on a set of classes [lo, hi]. */
interface ClassEdge {
  lo: number;
  hi: number;
  to: number;
}

/** Thompson NFA: ε edges, assertion edges and edges on character sets. */
class Nfa {
  readonly eps: number[][] = [];
  readonly bol: number[][] = [];
  readonly eol: number[][] = [];
  readonly chars: Array<Array<{ set: CharSet; to: number }>> = [];

  add(): number {
    this.eps.push([]);
    this.bol.push([]);
    this.eol.push([]);
    this.chars.push([]);
    return this.eps.length - 1;
  }

  /** A fragment for `node`: [entry, exit]. Fresh states on every call (repeats build copies). */
  build(node: RegexNode): [number, number] {
    const a = this.add();
    switch (node.kind) {
      case 'chars': {
        const b = this.add();
        const set = node.set.withoutSurrogates();
        if (!set.isEmpty) this.chars[a]!.push({ set, to: b });
        return [a, b];
      }
      case 'start':
      case 'end': {
        const b = this.add();
        (node.kind === 'start' ? this.bol : this.eol)[a]!.push(b);
        return [a, b];
      }
      case 'seq': {
        let end = a;
        for (const item of node.items) {
          const [x, y] = this.build(item);
          this.eps[end]!.push(x);
          end = y;
        }
        return [a, end];
      }
      case 'alt': {
        const b = this.add();
        for (const item of node.items) {
          const [x, y] = this.build(item);
          this.eps[a]!.push(x);
          this.eps[y]!.push(b);
        }
        return [a, b];
      }
      case 'repeat':
        return this.repeat(a, node.item, node.min, node.max);
    }
  }

  /** min copies, then a loop (max = Infinity) or max - min skippable copies: x{0,k} = (x?){k}. */
  private repeat(a: number, item: RegexNode, min: number, max: number): [number, number] {
    let end = a;
    for (let k = 0; k < min; k++) {
      const [x, y] = this.build(item);
      this.eps[end]!.push(x);
      end = y;
    }
    if (max === Infinity) {
      const loop = this.add();
      const [x, y] = this.build(item);
      this.eps[end]!.push(loop);
      this.eps[loop]!.push(x);
      this.eps[y]!.push(loop);
      return [a, loop];
    }
    for (let k = min; k < max; k++) {
      const [x, y] = this.build(item);
      this.eps[end]!.push(x);
      this.eps[x]!.push(y);
      end = y;
    }
    return [a, end];
  }
}

/** NFA states `node` builds into, saturating just past `cap`. */
function nfaSize(node: RegexNode, cap: number): number {
  switch (node.kind) {
    case 'chars':
    case 'start':
    case 'end':
      return 2;
    case 'seq':
    case 'alt': {
      let n = 2;
      for (const item of node.items) if ((n += nfaSize(item, cap)) > cap) return cap + 1;
      return n;
    }
    case 'repeat': {
      const copies = node.max === Infinity ? node.min + 1 : node.max;
      return Math.min(cap + 1, 2 + copies * nfaSize(node.item, cap));
    }
  }
}

/**
 * The DFA of `node` (module comment).
 * @param path - pointer of the schema's `pattern` (or `format`), for errors
 * @throws ConstraintError past a size limit, or when no string matches
 */
export function compileDfa(node: RegexNode, path: string, budget: PatternBudget = new PatternBudget()): PatternDfa {
  const cap = SCHEMA_LIMITS.maxPatternNfaStates;
  if (nfaSize(node, cap) > cap) {
    throw new ConstraintError(`'pattern' expands to more than ${cap} automaton states (counted repeats multiply)`, path);
  }
  const nfa = new Nfa();
  const [entry, final] = nfa.build(node);
  const dfa = minimizeDfa(new SubsetBuilder(nfa, entry, final, path, budget).run(), (n) => budget.charge(n, path));
  if (dfa.accept.every((a) => a === 0) || dfa.start < 0) throw new ConstraintError(`'pattern' matches no string`, path);
  return dfa;
}

/** The class boundaries of every character set in `nfa`, surrogates in a class of their own. */
function classStarts(nfa: Nfa): Int32Array {
  const cuts = new Set<number>([0, SURROGATE_LO, SURROGATE_HI + 1]);
  for (const edges of nfa.chars) {
    for (const { set } of edges) for (const [lo, hi] of set.pairs()) cuts.add(lo).add(hi + 1);
  }
  cuts.delete(MAX_CODE_POINT + 1);
  return Int32Array.from([...cuts].sort((a, b) => a - b));
}

const UNIVERSAL = -2;

/** The subset construction with search semantics (module comment). */
class SubsetBuilder {
  private readonly classStart: Int32Array;
  private readonly edges: ClassEdge[][];
  private readonly ids = new Map<string, number>();
  private readonly sets: Int32Array[] = [];
  private readonly atStart: boolean[] = [];
  private readonly seen: Int32Array;
  private stamp = 0;
  private universal = -1;

  constructor(
    private readonly nfa: Nfa,
    private readonly entry: number,
    private readonly final: number,
    private readonly path: string,
    private readonly budget: PatternBudget,
  ) {
    this.classStart = classStarts(nfa);
    this.seen = new Int32Array(nfa.eps.length);
    const dummy = { classStart: this.classStart, classCount: this.classStart.length } as PatternDfa;
    this.edges = nfa.chars.map((list) =>
      list.flatMap(({ set, to }) => set.pairs().map(([lo, hi]) => ({ lo: classOf(dummy, lo), hi: classOf(dummy, hi), to }))),
    );
  }

  run(): PatternDfa {
    const C = this.classStart.length;
    const start = this.intern(this.closure([this.entry], true), true);
    if (start < 0) throw new ConstraintError(`'pattern' matches no string`, this.path);
    const surrogates = classOf({ classStart: this.classStart, classCount: C } as PatternDfa, SURROGATE_LO);
    const next: number[] = [];
    for (let s = 0; s < this.sets.length; s++) {
      if ((s + 1) * C > SCHEMA_LIMITS.maxPatternCells) {
        throw new ConstraintError(`'pattern' needs more than ${SCHEMA_LIMITS.maxPatternCells} automaton table cells`, this.path);
      }
      const row = this.transitions(s);
      row[surrogates] = -1;
      next.push(...row);
    }
    const stateCount = this.sets.length;
    const accept = Uint8Array.from(this.sets, (set, s) => (s === this.universal || this.acceptsAtEnd(set, this.atStart[s]!) ? 1 : 0));
    const table = Int32Array.from(next);
    pruneDead(table, accept, stateCount, C);
    const live = accept[start] === 1 || table.subarray(start * C, start * C + C).some((t) => t >= 0);
    return {
      classStart: this.classStart,
      next: table,
      accept,
      start: live ? start : -1,
      universal: this.universal,
      stateCount,
      classCount: C,
    };
  }

  /** The row of state s: for each class, the interned successor (-1: none). */
  private transitions(s: number): number[] {
    const C = this.classStart.length;
    if (s === this.universal) return new Array<number>(C).fill(s);
    const buckets: number[][] = Array.from({ length: C }, () => []);
    for (const q of this.sets[s]!) {
      for (const e of this.edges[q]!) {
        this.budget.charge(e.hi - e.lo + 1, this.path);
        for (let x = e.lo; x <= e.hi; x++) buckets[x]!.push(e.to);
      }
    }
    const memo = new Map<string, number>();
    return buckets.map((targets) => {
      const key = targets.join(',');
      let id = memo.get(key);
      if (id === undefined) {
        // A match may begin at any position: the entry joins every successor (search semantics).
        id = this.intern(this.closure([...targets, this.entry], false), false);
        memo.set(key, id);
      }
      return id;
    });
  }

  /** The ε closure of `seeds` (through `^` edges only at position 0); UNIVERSAL once it holds the final state. */
  private closure(seeds: number[], atStart: boolean): Int32Array | typeof UNIVERSAL {
    const out: number[] = [];
    const stamp = ++this.stamp;
    const stack = [...seeds];
    this.budget.charge(stack.length, this.path);
    while (stack.length > 0) {
      const q = stack.pop()!;
      if (this.seen[q] === stamp) continue;
      this.seen[q] = stamp;
      this.budget.charge(1, this.path);
      if (q === this.final) return UNIVERSAL;
      if (this.nfa.chars[q]!.length > 0 || this.nfa.eol[q]!.length > 0) out.push(q);
      stack.push(...this.nfa.eps[q]!);
      if (atStart) stack.push(...this.nfa.bol[q]!);
    }
    return Int32Array.from(out.sort((a, b) => a - b));
  }

  /** Whether the string may end here: the final state is reachable through ε and `$` edges. */
  private acceptsAtEnd(set: Int32Array, atStart: boolean): boolean {
    const stamp = ++this.stamp;
    const stack = [...set];
    while (stack.length > 0) {
      const q = stack.pop()!;
      if (this.seen[q] === stamp) continue;
      this.seen[q] = stamp;
      this.budget.charge(1, this.path);
      if (q === this.final) return true;
      stack.push(...this.nfa.eps[q]!, ...this.nfa.eol[q]!);
      if (atStart) stack.push(...this.nfa.bol[q]!);
    }
    return false;
  }

  private intern(set: Int32Array | typeof UNIVERSAL, atStart: boolean): number {
    if (set === UNIVERSAL) {
      if (this.universal < 0) this.universal = this.newState(new Int32Array(0), false);
      return this.universal;
    }
    if (set.length === 0) return -1;
    const key = `${atStart ? '^' : ''}${set.join(',')}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.newState(set, atStart);
      this.ids.set(key, id);
    }
    return id;
  }

  private newState(set: Int32Array, atStart: boolean): number {
    if (this.sets.length >= SCHEMA_LIMITS.maxPatternDfaStates) {
      throw new ConstraintError(`'pattern' needs more than ${SCHEMA_LIMITS.maxPatternDfaStates} automaton states`, this.path);
    }
    this.sets.push(set);
    this.atStart.push(atStart);
    return this.sets.length - 1;
  }
}

/** Removes every transition into a state from which no accepting state can be reached. */
function pruneDead(next: Int32Array, accept: Uint8Array, S: number, C: number): void {
  const preds: number[][] = Array.from({ length: S }, () => []);
  for (let s = 0; s < S; s++) {
    for (let x = 0; x < C; x++) {
      const t = next[s * C + x]!;
      if (t >= 0) preds[t]!.push(s);
    }
  }
  const live = Uint8Array.from(accept);
  const stack: number[] = [];
  accept.forEach((a, s) => a && stack.push(s));
  while (stack.length > 0) {
    for (const p of preds[stack.pop()!]!) {
      if (!live[p]) {
        live[p] = 1;
        stack.push(p);
      }
    }
  }
  for (let i = 0; i < next.length; i++) if (next[i]! >= 0 && !live[next[i]!]) next[i] = -1;
}
