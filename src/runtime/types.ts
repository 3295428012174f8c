/**
 * The engine's face: the validated request it takes and the events it yields. No HTTP or OpenAI wire
 * types here; the server maps its wire requests onto these once, at the edge.
 */

import type { ConstraintSpec } from './grammar/spec.ts';
import type { SamplingParams } from './sampling.ts';
import type { PrefixCacheStats } from './kv/prefix-cache.ts';

/** Sampling parameters, every default filled in (see sampling.ts for their semantics). */
export type EngineSampling = SamplingParams;

/** A validated generation request. */
export interface GenerationRequest {
  /** Caller's id, used in logs and errors. */
  requestId?: string;
  promptTokenIds: number[];
  /** Number of sequences generated from the one prompt (its prefill runs once). */
  n: number;
  /** Upper bound on generated tokens per sequence. */
  maxTokens: number;
  /**
   * vLLM's min_tokens: no sequence ends (EOS, stop_token_ids, or a stop string ending within the first
   * min_tokens tokens' text) before it has this many tokens; 0 or absent: no minimum. At most maxTokens
   * (the edge checks). A constrained value that is complete still ends the sequence (sampling.ts).
   */
  minTokens?: number;
  sampling: EngineSampling;
  /** Stop strings; text never includes them (unless includeStopStrInOutput) nor anything after. */
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  includeStopStrInOutput: boolean;
  skipSpecialTokens: boolean;
  /** When true, token events carry the token's own text (for logprobs output). */
  returnTokenText?: boolean;
  /**
   * When true, the end event's cumulativeLogprob is computed even without logprobs (best-of ranking by
   * likelihood). Off by default: it costs a pass of exp over the vocabulary per token.
   */
  cumulativeLogprob?: boolean;
  /**
   * Constrained decoding (response_format json_object / json_schema, forced tool calls): only tokens that
   * keep the output a valid prefix are sampled, and the sequence ends with 'stop' once the value is
   * complete. Plain data (it is posted to the worker); the edge should check it with compileConstraint.
   */
  constraint?: ConstraintSpec;
  /**
   * Prefix-cache isolation (vLLM's cache_salt): a cached prefix is reused only by requests with the same
   * salt. Absent: the shared default ('').
   */
  cacheSalt?: string;
  /**
   * Prompt logprobs: for every prompt token after the first, its logprob under the model given the tokens
   * before it, its rank, and this many (0..20) most likely alternatives. Absent: none. A request with it
   * never takes a prefix-cache hit (cached tokens' logits are not computed). Models whose graph returns
   * the last position only, with no positions input, refuse it (EngineError 'invalid_request', param
   * 'prompt_logprobs').
   */
  promptLogprobs?: number;
}

/**
 * One prompt token's logprob (raw model log-softmax: no penalty, bias or temperature applies to the
 * prompt). `top` are the requested alternatives, most likely first (the token itself may be among them).
 */
export interface PromptTokenLogprob {
  tokenId: number;
  logprob: number;
  /** 1 + the number of tokens strictly more likely. */
  rank: number;
  /** The token's own text (special tokens included) and exact bytes. */
  token: string;
  bytes: number[];
  top: TokenLogprob[];
}

/** A prompt's logprobs, one entry per prompt token; entry 0 is null (the first token has no context). */
export type PromptLogprobs = Array<PromptTokenLogprob | null>;

/** One alternative in a top-logprobs list. */
export interface TokenLogprob {
  tokenId: number;
  logprob: number;
  /** The token's own text (special tokens included), when returnTokenText. */
  token?: string;
  /** The token's exact bytes (a token may hold part of a UTF-8 character), when returnTokenText. */
  bytes?: number[];
}

/** Why a sequence ended. 'abort' = caller's signal or engine shutdown. */
export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

/** Events yielded by Engine.generate, in order per sequence index. */
export type GenerationEvent =
  | {
      type: 'token';
      /** Sequence index within the request (0..n-1). */
      index: number;
      tokenId: number;
      /** Text released by this token (may be empty while a stop string or UTF-8 character is pending). */
      text: string;
      /** The token's own text, when returnTokenText. */
      token?: string;
      /** The token's exact bytes, when returnTokenText. */
      bytes?: number[];
      logprob?: number;
      topLogprobs?: TokenLogprob[];
      /** The request's prompt logprobs, when asked for: on choice 0's first token or end event only. */
      promptLogprobs?: PromptLogprobs;
    }
  | {
      type: 'end';
      index: number;
      finishReason: FinishReason;
      /** Text held back until the end (an unfinished stop-string prefix or UTF-8 tail), if any. */
      text: string;
      promptTokens: number;
      completionTokens: number;
      /** The stop string or stop token id that ended the sequence, when finishReason is 'stop'. */
      stopReason?: string | number;
      /** Cumulative logprob of the sampled tokens when logprobs or cumulativeLogprob were asked for, else NaN. */
      cumulativeLogprob: number;
      /** Prompt tokens whose KV came from the prefix cache (not computed for this request). */
      cachedTokens?: number;
      /** The request's prompt logprobs, when asked for and choice 0 ended without a token event. */
      promptLogprobs?: PromptLogprobs;
    }
  | { type: 'error'; index?: number; message: string; code: EngineErrorCode; /** The request field at fault, for invalid_request. */ param?: string };

/** Error codes an engine reports; the HTTP layer maps them to statuses. */
export type EngineErrorCode = 'overloaded' | 'invalid_request' | 'worker_crashed' | 'engine_closed' | 'internal';

/** Thrown by Engine.generate when it refuses a request before it starts. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    message: string,
    readonly code: EngineErrorCode,
    /** The request field at fault, for invalid_request. */
    readonly param?: string,
  ) {
    super(message);
  }
}

/** One engine step as measured in its worker. */
export interface StepStats {
  /** Wall time of the step's forward passes and sampling, ms. */
  ms: number;
  /** Sequences that decoded one token this step. */
  decodeRows: number;
  /** Prompt tokens prefilled this step. */
  prefillTokens: number;
}

/** A snapshot of the engine's state. */
export interface EngineStats {
  /** Sequences generating now. */
  running: number;
  /** Requests accepted but not yet started (main-thread queue + worker admission queue). */
  waiting: number;
  /** KV token slots allocated (the dense batch's padding included), the budget, and the most allocated at once. */
  kvUsedTokens: number;
  kvBudgetTokens: number;
  kvPeakTokens: number;
  /** Fraction of the KV budget in use, 0..1 (the prefix cache's evictable entries not counted). */
  kvUsage: number;
  /** Prefix-cache counters (tokens looked up / found, evictions) and size; absent when caching is off. */
  prefixCache?: PrefixCacheStats;
  /** Recent step timings (ms), newest last, at most 64. */
  recentStepMs: number[];
  /** Total steps run since start. */
  steps: number;
  /** Whether the worker is up. */
  alive: boolean;
  /** Worker restarts after crashes. */
  restarts: number;
}
