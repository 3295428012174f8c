/**
 * Plain tokens inside a pattern string, checked in bulk (the pattern counterpart of the plain-string
 * bulk check in constraint.ts). Walking the whole vocabulary trie costs ~100 ms a token where a
 * pattern lets most characters on (`.*x`, `[^"]*`, an email's local part); instead, for each DFA state
 * met at a token boundary, the state after each plain token's characters is computed once (cached per
 * vocabulary and DFA) and each step reads it with the completion table: a few ms.
 *
 * Plain tokens that end inside a UTF-8 character (a few thousand) go through the general automaton one
 * by one, as do the non-plain tokens (the caller walks their trie).
 */
import { advance, completionCost } from './automaton.ts';
import type { Config } from './frames.ts';
import { type PatternFrame, restOf } from './pattern-frame.ts';
import { type PatternDfa, step } from './regex-dfa.ts';
import type { TokenVocabulary } from './vocab.ts';

/** Entries of `ends` arrays: the DFA cannot take the token; the token ends inside a character. */
const DEAD = -1;
const PARTIAL = -2;
/** Most (DFA, state) entries kept per vocabulary (each is 2 bytes per plain token). */
const CACHE_ENTRIES = 64;

/** Per vocabulary, DFA and state: each plain token's end state. Int16 holds every state: SCHEMA_LIMITS.maxPatternDfaStates < 2^15. */
const caches = new WeakMap<TokenVocabulary, Map<PatternDfa, Map<number, Int16Array>>>();

/**
 * Allows every plain token that keeps pattern frame `cfg` (in a bulk state, between characters) alive
 * with a shortest completion within `budget` bytes. Returns how many ids it newly allowed.
 */
export function fillPatternPlain(vocab: TokenVocabulary, cfg: Config, budget: number, allowed: Uint8Array): number {
  const f = cfg.frame as PatternFrame;
  const ends = plainEnds(vocab, f.rules.dfa, f.state);
  const { plainIds, plainChars } = vocab;
  // cost after a token = R(t, count + chars) + 1 (closing quote) + outer <= budget
  const slack = budget - 1 - cfg.outer;
  let count = 0;
  for (let k = 0; k < plainIds.length; k++) {
    const id = plainIds[k]!;
    const t = ends[k]!;
    if (allowed[id] !== 0 || t === DEAD) continue;
    const ok = t === PARTIAL ? fitsOneByOne(cfg, vocab.bytesOf(id)!, budget) : restOf(f.rules, t, f.count + plainChars[k]!) <= slack;
    if (ok) {
      allowed[id] = 1;
      count++;
    }
  }
  return count;
}

/** The general check for one token: its bytes keep `cfg` alive and the completion fits. */
function fitsOneByOne(cfg: Config, bytes: Uint8Array, budget: number): boolean {
  let state: readonly Config[] = [cfg];
  for (const b of bytes) {
    state = advance(state, b);
    if (state.length === 0) return false;
  }
  return completionCost(state) <= budget;
}

/** For each plain token (vocab.plainIds order) the DFA state after it from `s`, DEAD or PARTIAL (cached). */
function plainEnds(vocab: TokenVocabulary, dfa: PatternDfa, s: number): Int16Array {
  let byDfa = caches.get(vocab);
  if (!byDfa) caches.set(vocab, (byDfa = new Map()));
  let byState = byDfa.get(dfa);
  if (!byState) byDfa.set(dfa, (byState = new Map()));
  let ends = byState.get(s);
  if (ends) return ends;
  ends = computeEnds(vocab, dfa, s);
  byState.set(s, ends);
  let total = 0;
  for (const m of byDfa.values()) total += m.size;
  // Drop the oldest DFA's entries first (Map order is insertion order), never the one just made.
  for (const [d, m] of byDfa) {
    if (total <= CACHE_ENTRIES || d === dfa) break;
    total -= m.size;
    byDfa.delete(d);
  }
  if (total > CACHE_ENTRIES) byState.delete(byState.keys().next().value!);
  return ends;
}

/** Runs each plain token's characters (valid UTF-8 from a clean start, by vocab.ts) through the DFA. */
function computeEnds(vocab: TokenVocabulary, dfa: PatternDfa, from: number): Int16Array {
  const { plainIds } = vocab;
  const ends = new Int16Array(plainIds.length);
  for (let k = 0; k < plainIds.length; k++) {
    const bytes = vocab.bytesOf(plainIds[k]!)!;
    let s = from;
    let i = 0;
    while (i < bytes.length && s >= 0) {
      const b = bytes[i]!;
      const extra = b < 0x80 ? 0 : b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : 1;
      if (i + extra >= bytes.length) {
        s = PARTIAL;
        break;
      }
      let cp = extra === 0 ? b : b & (0x3f >> extra);
      for (let j = 1; j <= extra; j++) cp = (cp << 6) | (bytes[i + j]! & 0x3f);
      s = step(dfa, s, cp);
      i += extra + 1;
    }
    ends[k] = s < 0 && s !== PARTIAL ? DEAD : s;
  }
  return ends;
}
