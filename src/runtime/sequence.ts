import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { TokenTable } from '../tokenizer/token-table.ts';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer.ts';
import { ConstraintError, createConstraint, getTokenVocabulary, type TokenConstraint } from './grammar/index.ts';
import { applyMinTokens, createSamplingState, recordOutputToken, sampleToken, type SamplingState } from './sampling.ts';
import { StopConditions, StopMatcher } from './stop.ts';
import type { GenerationEvent, GenerationRequest, TokenLogprob } from './types.ts';

/**
 * One generated sequence (choice `index` of a request): its sampler state, detokenizer, stop matcher,
 * and the last sampled token that the next decode step feeds to the model.
 *
 * States: live (sampling one token per step) → finished (end event produced). Every token goes through
 * `accept`, which samples, stops and detokenizes, and returns the events to send.
 *
 * min_tokens (vLLM's semantics): while the output is shorter than the minimum, EOS (unless ignore_eos)
 * and stop_token_ids are masked before sampling, and stop strings cannot end in the text of those first
 * tokens (stop.ts). Only a constrained value that allows nothing but EOS, or max_tokens, ends it sooner.
 *
 * Logprobs follow OpenAI: the EOS or stop token that ends a sequence is not part of the output, so its
 * token event carries no logprob (the cumulative logprob still counts it, as vLLM's does).
 */
export class Sequence {
  readonly outputIds: number[] = [];
  lastToken = -1;
  finished = false;
  cumulativeLogprob = 0;
  private readonly sampling: SamplingState;
  private readonly detok: IncrementalDetokenizer;
  private readonly stopMatcher: StopMatcher;
  private readonly conditions: StopConditions;
  /** The request's output constraint (JSON schema / object), if any: masks logits before sampling. */
  private readonly constraint: TokenConstraint | undefined;
  /** Why the constraint could not be built; the first accept ends the sequence with it. */
  private readonly constraintError: unknown;
  private readonly eosTokenIds: ReadonlySet<number>;
  /** Ids min_tokens masks (EOS unless ignored, stop_token_ids). */
  private readonly endTokenIds: number[];

  constructor(
    readonly requestId: number,
    readonly index: number,
    readonly request: GenerationRequest,
    private readonly tokenizer: TextTokenizer | TokenTable,
    eosTokenIds: number[],
    contextLength: number,
  ) {
    // Choice i samples with seed + i (wrapped to stay a safe integer), so choices differ yet reproduce.
    const seed = request.sampling.seed === undefined ? undefined : (request.sampling.seed + index) % Number.MAX_SAFE_INTEGER;
    this.sampling = createSamplingState({ ...request.sampling, seed }, request.promptTokenIds);
    // The prompt's tail primes the detokenizer so the first token's leading space (SentencePiece) survives.
    this.detok = new IncrementalDetokenizer(tokenizer, {
      skipSpecialTokens: request.skipSpecialTokens,
      contextIds: request.promptTokenIds.slice(-4),
    });
    this.stopMatcher = new StopMatcher(request.stop, { includeStopStrInOutput: request.includeStopStrInOutput });
    this.conditions = new StopConditions({
      eosTokenIds,
      ignoreEos: request.ignoreEos,
      stopTokenIds: request.stopTokenIds,
      maxTokens: request.maxTokens,
      maxModelLen: contextLength,
      promptLength: request.promptTokenIds.length,
    });
    this.eosTokenIds = new Set(eosTokenIds);
    this.endTokenIds = this.conditions.endTokenIds;
    // A bad spec must fail this sequence only: throwing here would fail the whole engine step.
    try {
      this.constraint = request.constraint ? createConstraint(request.constraint, getTokenVocabulary(tokenizer), eosTokenIds) : undefined;
    } catch (err) {
      this.constraintError = err;
    }
  }

  /** Samples the next token from `logits` (modified in place) and returns the events it produces. */
  accept(logits: Float32Array): GenerationEvent[] {
    const params = this.request.sampling;
    if (this.constraintError !== undefined) return this.constraintFailed(this.constraintError);
    // The constraint masks first (with the tokens left, so the value can always be closed in time);
    // penalties, bias and sampling then act on the allowed tokens only.
    try {
      this.constraint?.mask(logits, this.conditions.maxOutputTokens - this.outputIds.length);
    } catch (err) {
      return this.constraintFailed(err);
    }
    if (this.outputIds.length < (this.request.minTokens ?? 0)) applyMinTokens(logits, this.endTokenIds);
    const s = sampleToken(logits, params, this.sampling, this.request.cumulativeLogprob === true);
    try {
      this.constraint?.accept(s.tokenId);
    } catch (err) {
      return this.constraintFailed(err);
    }
    recordOutputToken(this.sampling, s.tokenId);
    this.outputIds.push(s.tokenId);
    this.lastToken = s.tokenId;
    this.cumulativeLogprob += s.logprob;
    const tokenStop = this.constrainedEos(s.tokenId) ?? this.conditions.check(s.tokenId, this.outputIds.length);
    // An EOS or stop token ends the sequence without adding its text.
    const hidden = tokenStop?.finishReason === 'stop';
    const text = hidden ? '' : this.detok.push(s.tokenId);
    const stop = this.stopMatcher.push(text, this.outputIds.length > (this.request.minTokens ?? 0));
    const event: GenerationEvent = { type: 'token', index: this.index, tokenId: s.tokenId, text: stop.emit };
    if (params.logprobs !== null && !hidden) {
      event.logprob = s.logprob;
      event.topLogprobs = s.topLogprobs?.map((t) => this.describe(t));
    }
    if (this.request.returnTokenText) Object.assign(event, this.tokenInfo(s.tokenId));
    const events: GenerationEvent[] = [event];
    if (stop.stopped) events.push(this.end('stop', '', stop.matched));
    else if (tokenStop?.finishReason === 'stop') events.push(this.end('stop', this.flushText(), tokenStop.tokenId));
    // A constrained value that is complete and can take nothing more ends the sequence, its text kept.
    else if (this.constraint?.isFinished()) events.push(this.end('stop', this.flushText()));
    else if (tokenStop) events.push(this.end('length', this.flushText()));
    return events;
  }

  /** Ends this sequence with an error event: a spec the worker refused, or (a bug) a constraint that failed. */
  private constraintFailed(err: unknown): GenerationEvent[] {
    const invalid = err instanceof ConstraintError;
    const message = `${invalid ? 'invalid response constraint' : 'constrained decoding failed'}: ${(err as Error)?.message ?? String(err)}`;
    return [{ type: 'error', index: this.index, message, code: invalid ? 'invalid_request' : 'internal' }, this.end('error', '')];
  }

  /** Under a constraint an EOS (allowed only once the value is complete) always stops, even with ignoreEos. */
  private constrainedEos(tokenId: number): { finishReason: 'stop'; tokenId: number } | null {
    return this.constraint && this.eosTokenIds.has(tokenId) ? { finishReason: 'stop', tokenId } : null;
  }

  /** Ends the sequence early (abort, error): whatever text is pending is dropped. */
  abort(reason: 'abort' | 'error'): GenerationEvent {
    return this.end(reason, '');
  }

  private flushText(): string {
    const rest = this.stopMatcher.push(this.detok.flush(), this.outputIds.length > (this.request.minTokens ?? 0));
    if (rest.stopped) return rest.emit;
    return rest.emit + this.stopMatcher.flush();
  }

  private end(reason: 'stop' | 'length' | 'abort' | 'error', text: string, stopReason?: string | number): GenerationEvent {
    this.finished = true;
    return {
      type: 'end',
      index: this.index,
      finishReason: reason,
      text,
      promptTokens: this.request.promptTokenIds.length,
      completionTokens: this.outputIds.length,
      stopReason,
      cumulativeLogprob: this.cumulativeLogprob,
    };
  }

  private tokenText(id: number): string {
    return this.tokenizer.decode([id], { skipSpecialTokens: false });
  }

  /** A token's text and exact bytes (the packed table knows them; a full tokenizer gives the text's). */
  private tokenInfo(id: number): { token: string; bytes: number[] } {
    if (this.tokenizer instanceof TokenTable) {
      return { token: this.tokenizer.tokenText(id), bytes: [...this.tokenizer.tokenBytes(id)] };
    }
    const token = this.tokenText(id);
    return { token, bytes: [...Buffer.from(token, 'utf8')] };
  }

  private describe(t: { tokenId: number; logprob: number }): TokenLogprob {
    return this.request.returnTokenText ? { ...t, ...this.tokenInfo(t.tokenId) } : { ...t };
  }
}
