/**
 * DFA minimization (Moore's partition refinement) for pattern automata: the subset construction with
 * search semantics makes many states that accept the same continuations (several NFA subsets that
 * remember the same thing), and the completion table of a pattern string costs states × (maxLength + 1)
 * cells, so merging them keeps realistic patterns far from the limits.
 *
 * Invariant: states s and t end in the same block iff they accept exactly the same continuations.
 * Blocks start split by `accept`; each round splits blocks by the blocks their transitions reach (a
 * missing transition, -1, counts as a block of its own) until no block splits. O(rounds × S × C).
 */
import type { PatternDfa } from './regex-dfa.ts';

/**
 * The minimal DFA equivalent to `dfa` (`dfa` itself when no two states are equivalent).
 * @param charge - spends work (S × C a round) from the schema's pattern budget; may throw
 */
export function minimizeDfa(dfa: PatternDfa, charge: (steps: number) => void): PatternDfa {
  const { stateCount: S, classCount: C, next, accept } = dfa;
  let block = Int32Array.from(accept);
  let blocks = new Set(block).size;
  for (;;) {
    charge(S * (C + 1));
    const ids = new Map<string, number>();
    const refined = new Int32Array(S);
    for (let s = 0; s < S; s++) {
      let key = `${block[s]}`;
      for (let x = 0; x < C; x++) {
        const t = next[s * C + x]!;
        key += `,${t < 0 ? -1 : block[t]}`;
      }
      let id = ids.get(key);
      if (id === undefined) ids.set(key, (id = ids.size));
      refined[s] = id;
    }
    block = refined;
    if (ids.size === blocks) break;
    blocks = ids.size;
  }
  if (blocks === S) return dfa;
  const table = new Int32Array(blocks * C).fill(-1);
  const acc = new Uint8Array(blocks);
  for (let s = 0; s < S; s++) {
    const b = block[s]!;
    acc[b] = accept[s]!;
    for (let x = 0; x < C; x++) {
      const t = next[s * C + x]!;
      table[b * C + x] = t < 0 ? -1 : block[t]!;
    }
  }
  return {
    classStart: dfa.classStart,
    next: table,
    accept: acc,
    start: block[dfa.start]!,
    universal: dfa.universal < 0 ? -1 : block[dfa.universal]!,
    stateCount: blocks,
    classCount: C,
  };
}
