/**
 * Prompt logprobs, computed in the model's worker while a prompt is prefilled: for every prompt token
 * after the first, its log-softmax under the logits of the position before it, its rank, and the k most
 * likely alternatives. Only these few numbers per position leave the worker, never a logits row.
 *
 * Semantics: the raw model distribution (no penalties, logit_bias or temperature: they shape sampling,
 * not the prompt), computed with the sampler's own log-sum-exp and top-k, so a prompt token's logprob
 * equals (up to the arithmetic of a multi-token step against one-token steps) the logprob a greedy,
 * unpenalised completion reported for the same token after the same context.
 *
 * Cost per position over a vocabulary of V: four O(V) passes (max, log-sum-exp, rank count, top-k heap).
 */
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { TokenTable } from '../tokenizer/token-table.ts';
import type { PositionLogitsVisitor } from './native-model.ts';
import { argmax, logSumExp, topLogprobs } from './sampling.ts';
import type { GenerationEvent, GenerationRequest, PromptLogprobs, PromptTokenLogprob, TokenLogprob } from './types.ts';

/** A token's text (special tokens included) and exact bytes. */
export type TokenDescriber = (tokenId: number) => { token: string; bytes: number[] };

/** Describes tokens with the worker's packed table (exact bytes) or a full tokenizer (its text's UTF-8). */
export function tokenDescriber(tokenizer: TextTokenizer | TokenTable): TokenDescriber {
  if (tokenizer instanceof TokenTable) return (id) => ({ token: tokenizer.tokenText(id), bytes: [...tokenizer.tokenBytes(id)] });
  return (id) => {
    const token = tokenizer.decode([id], { skipSpecialTokens: false });
    return { token, bytes: [...Buffer.from(token, 'utf8')] };
  };
}

/** The logprob, rank and top-`k` alternatives of `tokenId` under `logits` (not modified). */
export function promptTokenLogprob(logits: Float32Array, tokenId: number, k: number, describe: TokenDescriber): PromptTokenLogprob {
  const max = logits[argmax(logits)]!;
  const logZ = logSumExp(logits, max);
  const value = logits[tokenId]!;
  // NaN compares false: it never counts as more likely.
  let greater = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > value) greater++;
  const top: TokenLogprob[] = k > 0 ? topLogprobs(logits, k, logZ).map((t) => ({ ...t, ...describe(t.tokenId) })) : [];
  const logprob = value === -Infinity ? -Infinity : value - logZ;
  return { tokenId, logprob, rank: greater + 1, ...describe(tokenId), top };
}

/**
 * Gathers one request's prompt logprobs over its prefill chunks. Invariant: entry i (i >= 1) is set from
 * the logits after prompt position i - 1, once; entry 0 stays null. `complete` holds when every entry
 * 1..len-1 is set, which a prefill of the whole prompt (no cached prefix) guarantees.
 */
export class PromptLogprobsCollector {
  private readonly entries: PromptLogprobs;
  private filled = 0;

  constructor(
    private readonly prompt: readonly number[],
    private readonly k: number,
    private readonly describe: TokenDescriber,
  ) {
    this.entries = new Array<PromptTokenLogprob | null>(prompt.length).fill(null);
  }

  /** The logits after prompt position `position` (they predict position + 1; the last one predicts output). */
  observe(position: number, logits: Float32Array): void {
    const next = position + 1;
    if (next >= this.prompt.length || this.entries[next] !== null) return;
    this.entries[next] = promptTokenLogprob(logits, this.prompt[next]!, this.k, this.describe);
    this.filled++;
  }

  get complete(): boolean {
    return this.filled === this.prompt.length - 1;
  }

  /** The prompt's logprobs (entry 0 null). Throws when a position was never observed (a bug). */
  result(): PromptLogprobs {
    if (!this.complete) throw new Error(`prompt logprobs computed for ${this.filled} of ${this.prompt.length - 1} positions`);
    return this.entries;
  }
}

/**
 * The visitor a prefill chunk runs with when some row asks for prompt logprobs (undefined when none
 * does): row r's new token j is prompt position `starts[r] + j`.
 */
export function prefillVisitor(
  collectors: ReadonlyArray<PromptLogprobsCollector | undefined>,
  starts: readonly number[],
): PositionLogitsVisitor | undefined {
  if (!collectors.some((c) => c !== undefined)) return undefined;
  return {
    wants: (row) => collectors[row] !== undefined,
    visit: (row, index, logits) => collectors[row]!.observe(starts[row]! + index, logits),
  };
}

/**
 * Puts `promptLogprobs` on the first token or end event of choice 0 among `events` (the events one
 * sequence's first accept produced); returns whether it found one.
 */
export function attachPromptLogprobs(events: GenerationEvent[], promptLogprobs: PromptLogprobs): boolean {
  const first = events.find((e) => e.type !== 'error' && e.index === 0);
  if (!first || first.type === 'error') return false;
  first.promptLogprobs = promptLogprobs;
  return true;
}

/** The end event of a choice of a max_tokens 0 request: the prompt only, nothing generated. */
export function endAtPrompt(request: GenerationRequest, index: number, cachedTokens: number): GenerationEvent {
  return {
    type: 'end',
    index,
    finishReason: 'length',
    text: '',
    promptTokens: request.promptTokenIds.length,
    completionTokens: 0,
    cumulativeLogprob: 0,
    cachedTokens,
  };
}

/** Why a model refuses prompt logprobs (its graph returns the last position's logits only, and no others on request). */
export const PROMPT_LOGPROBS_UNSUPPORTED =
  "this model's ONNX graph returns the logits of the last position only and takes no positions input, so it " +
  'cannot give prompt logprobs (`echo` with `logprobs`, or `prompt_logprobs`); export it with full logits ' +
  'or with a logits_positions input';

/** Logits values one prefill chunk of a request for prompt logprobs may bring to the host (128 MiB as float32). */
export const PROMPT_LOGITS_PER_CHUNK = 2 ** 25;

/** Most prompt tokens per prefill chunk of a request for prompt logprobs, for a vocabulary of `vocab` (128256: 261). */
export function promptLogprobsChunk(vocab: number): number {
  return Math.max(16, Math.floor(PROMPT_LOGITS_PER_CHUNK / vocab));
}
