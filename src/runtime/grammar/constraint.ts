/**
 * The per-sequence token constraint: which token ids may come next so that the output stays a prefix of
 * a JSON text the spec allows, and can still be completed within the tokens left.
 *
 * Budget rule (termination with any logits, random ones included): with `r` tokens left (this one
 * included), a token is allowed only if the shortest completion after it takes at most `r - 1` bytes.
 * Every byte is a token of a byte-level vocabulary, so the shortest completion can always be spelled in
 * that many tokens: as `r` runs low the choices narrow to the ways of closing the value, and it is
 * complete by the last token. If `max_tokens` is below the schema's shortest text the rule cannot hold;
 * then any valid continuation is allowed and the sequence ends by length with unfinished JSON.
 *
 * Mask computation: walk the vocabulary trie from the current state, feeding each edge's byte to the
 * automaton and pruning dead branches. Inside string content (the common case, where nearly every token
 * is allowed) the plain tokens are checked in bulk by their character count (under a permissive pattern:
 * by the DFA state each leads to, pattern-plain.ts) and only the few thousand others are walked.
 */
import { checkSchemaDocument } from './bounds.ts';
import { advance, completionCost, initialState, isComplete, isFinished } from './automaton.ts';
import type { Config, ParseState } from './frames.ts';
import { StringFrame } from './scalars.ts';
import { PatternFrame } from './pattern-frame.ts';
import { fillPatternPlain } from './pattern-plain.ts';
import { compileSchema, type GrammarNode } from './schema.ts';
import { type ConstraintSpec, resolveLimits } from './spec.ts';
import type { ByteTrie, TokenVocabulary } from './vocab.ts';

/** A constraint on the tokens of one sequence. Not thread-safe; cheap to create once the spec is compiled. */
export interface TokenConstraint {
  /**
   * Sets the logit of every token not allowed next to -Infinity. `remainingTokens` counts this token;
   * omitted, no budget applies.
   */
  mask(logits: Float32Array, remainingTokens?: number): void;
  /** Advances past `tokenId`. Throws ConstraintViolation for a token the constraint does not allow. */
  accept(tokenId: number): void;
  /** The output so far is a complete value: an EOS token is allowed now. */
  isComplete(): boolean;
  /** Complete and nothing may follow: only EOS is allowed, so the sequence can end now. */
  isFinished(): boolean;
  /** The ids `mask` would allow (tests, debugging). */
  allowedTokenIds(remainingTokens?: number): number[];
  /** Bytes of the shortest text that completes the value from here. */
  completionLength(): number;
}

/** A token outside the constraint was accepted (the mask was not applied, or a bug). */
export class ConstraintViolation extends Error {
  override name = 'ConstraintViolation';
}

/** A compiled spec: the grammar's root node, shareable by every sequence of every request using it. */
export interface CompiledConstraint {
  readonly root: GrammarNode;
}

const compiled = new Map<string, { constraint: CompiledConstraint; cells: number }>();
const COMPILED_CACHE_SIZE = 64;
/**
 * Pattern and format tables the cache may keep in all (cells of 4 bytes: 16 MiB). Each schema may hold up
 * to SCHEMA_LIMITS.maxPatternCells, so without this 64 hostile schemas could pin 64 × 4 MiB.
 */
export const COMPILED_CACHE_CELLS = 4_000_000;
let cachedCells = 0;

/** What the compiled-spec cache holds now (tests). */
export function compiledCacheStats(): { entries: number; cells: number } {
  return { entries: compiled.size, cells: cachedCells };
}

/**
 * Compiles a spec (cached by its JSON text: the last 64 kept, within COMPILED_CACHE_CELLS of tables).
 * @throws ConstraintError for unsupported, unsatisfiable or oversized schemas (schema.ts), naming the schema location
 */
export function compileConstraint(spec: ConstraintSpec): CompiledConstraint {
  // Bounded first: the cache key's JSON.stringify recurses through the document.
  if (spec.type === 'json_schema') checkSchemaDocument(spec.schema);
  const key = JSON.stringify(spec);
  const hit = compiled.get(key);
  if (hit) {
    compiled.delete(key);
    compiled.set(key, hit); // most recently used last
    return hit.constraint;
  }
  const limits = resolveLimits(spec);
  if (spec.type !== 'json_object' && spec.type !== 'json_schema') {
    throw new TypeError(`unknown constraint type ${JSON.stringify((spec as { type: unknown }).type)}`);
  }
  const held = { cells: 0 };
  const root = compileSchema(spec.type === 'json_schema' ? spec.schema : undefined, limits, held);
  const out: CompiledConstraint = { root };
  compiled.set(key, { constraint: out, cells: held.cells });
  cachedCells += held.cells;
  // Least recently used first, until within both bounds (the newest entry always stays).
  for (const [k, v] of compiled) {
    if (compiled.size <= 1 || (compiled.size <= COMPILED_CACHE_SIZE && cachedCells <= COMPILED_CACHE_CELLS)) break;
    compiled.delete(k);
    cachedCells -= v.cells;
  }
  return out;
}

/**
 * A constraint for one sequence.
 * @param spec - the request's spec (or an already compiled one)
 * @param vocab - the model's prepared vocabulary (getTokenVocabulary)
 * @param eosTokenIds - tokens that end generation; allowed exactly when the value is complete
 */
export function createConstraint(spec: ConstraintSpec | CompiledConstraint, vocab: TokenVocabulary, eosTokenIds: Iterable<number>): TokenConstraint {
  const c = 'root' in spec ? spec : compileConstraint(spec);
  return new GrammarConstraint(c.root, vocab, [...eosTokenIds]);
}

class GrammarConstraint implements TokenConstraint {
  private state: ParseState;
  private ended = false;

  constructor(
    root: GrammarNode,
    private readonly vocab: TokenVocabulary,
    private readonly eos: number[],
  ) {
    this.state = initialState(root);
  }

  mask(logits: Float32Array, remainingTokens = Infinity): void {
    const allowed = this.computeAllowed(remainingTokens);
    const n = Math.min(logits.length, allowed.length);
    for (let i = 0; i < n; i++) if (allowed[i] === 0) logits[i] = -Infinity;
    for (let i = n; i < logits.length; i++) logits[i] = -Infinity;
  }

  allowedTokenIds(remainingTokens = Infinity): number[] {
    const allowed = this.computeAllowed(remainingTokens);
    const out: number[] = [];
    for (let i = 0; i < allowed.length; i++) if (allowed[i]) out.push(i);
    return out;
  }

  accept(tokenId: number): void {
    if (this.ended) throw new ConstraintViolation(`token ${tokenId} after the end of the constrained output`);
    if (this.eos.includes(tokenId)) {
      if (!isComplete(this.state)) throw new ConstraintViolation(`EOS token ${tokenId} before the value is complete`);
      this.ended = true;
      return;
    }
    const bytes = this.vocab.bytesOf(tokenId);
    if (!bytes || bytes.length === 0) throw new ConstraintViolation(`token ${tokenId} has no text the constraint can take`);
    let state = this.state;
    for (const b of bytes) {
      state = advance(state, b);
      if (state.length === 0) throw new ConstraintViolation(`token ${tokenId} does not continue the constrained output`);
    }
    this.state = state;
  }

  isComplete(): boolean {
    return !this.ended && isComplete(this.state);
  }

  isFinished(): boolean {
    return this.ended || isFinished(this.state);
  }

  completionLength(): number {
    return completionCost(this.state);
  }

  /** Fills the vocabulary's scratch mask for the next token; falls back to no budget if it allows nothing. */
  private computeAllowed(remainingTokens: number): Uint8Array {
    const allowed = this.vocab.scratch;
    allowed.fill(0);
    if (this.ended) throw new ConstraintViolation('the constrained output has ended');
    let count = this.fill(allowed, remainingTokens - 1);
    if (count === 0 && Number.isFinite(remainingTokens)) count = this.fill(allowed, Infinity);
    if (count === 0) throw new ConstraintViolation('no token can continue the constrained output');
    return allowed;
  }

  private fill(allowed: Uint8Array, budget: number): number {
    let count = 0;
    if (isComplete(this.state)) {
      for (const id of this.eos) {
        if (id < allowed.length && allowed[id] === 0) {
          allowed[id] = 1;
          count++;
        }
      }
    }
    if (isFinished(this.state)) return count;
    const strings = plainStringTops(this.state);
    if (strings) {
      count += this.fillPlain(allowed, strings, budget);
      count += walkTrie(this.vocab.nonPlainTrie, this.state, budget, allowed);
    } else count += walkTrie(this.vocab.trie, this.state, budget, allowed);
    return count;
  }

  /** Allows every plain token that fits some string configuration (its length limit or pattern) and the budget. */
  private fillPlain(allowed: Uint8Array, configs: readonly Config[], budget: number): number {
    const { plainIds, plainChars, plainPending } = this.vocab;
    let count = 0;
    for (const cfg of configs) {
      if (cfg.frame instanceof PatternFrame) {
        count += fillPatternPlain(this.vocab, cfg, budget, allowed);
        continue;
      }
      const f = cfg.frame as StringFrame;
      const room = f.node.maxLength - f.count;
      const minLeft = f.node.minLength - f.count;
      // cost after a token of ch chars and p pending bytes: p + max(0, minLeft - ch) + 1 + outer <= budget
      const slack = budget - 1 - cfg.outer;
      if (slack < 0) continue;
      for (let k = 0; k < plainIds.length; k++) {
        const ch = plainChars[k]!;
        if (ch > room) continue;
        const id = plainIds[k]!;
        if (allowed[id] !== 0) continue;
        const need = minLeft > ch ? minLeft - ch : 0;
        if (plainPending[k]! + need <= slack) {
          allowed[id] = 1;
          count++;
        }
      }
    }
    return count;
  }
}

/**
 * The configurations when every one of them is a string in plain content (a pattern string: in a state
 * that lets many characters on, see PatternRules.bulk); else null.
 */
function plainStringTops(state: ParseState): readonly Config[] | null {
  for (const c of state) {
    const f = c.frame;
    if (!(f instanceof StringFrame ? f.inPlainContent : f instanceof PatternFrame && f.bulkPlain)) return null;
  }
  return state;
}

/**
 * Depth-first walk of `trie` from `state`: marks each token whose bytes keep the state alive and whose
 * shortest completion fits `budget`. Returns how many ids it newly allowed.
 */
function walkTrie(trie: ByteTrie, state: ParseState, budget: number, allowed: Uint8Array): number {
  let count = 0;
  const { firstChild, nextSibling, byte, token, moreTokens } = trie;
  const mark = (id: number): void => {
    if (allowed[id] === 0) {
      allowed[id] = 1;
      count++;
    }
  };
  const visit = (node: number, at: ParseState): void => {
    for (let c = firstChild[node]!; c !== -1; c = nextSibling[c]!) {
      const next = advance(at, byte[c]!);
      if (next.length === 0) continue;
      const id = token[c]!;
      if (id !== -1) {
        const cost = completionCost(next);
        if (cost <= budget && cost !== Infinity) {
          mark(id);
          moreTokens.get(c)?.forEach(mark);
        }
      }
      if (firstChild[c] !== -1) visit(c, next);
    }
  };
  visit(0, state);
  return count;
}
