/**
 * Stopping: stop strings over streamed text ({@link StopMatcher}) and token-level conditions (EOS, stop
 * token ids, max_tokens, context length: {@link StopConditions}).
 *
 * StopMatcher states, written down once:
 *   streaming — text arrives with `push`; text that can no longer begin a stop string is emitted, the
 *               longest tail that is a prefix of some stop string is held back.
 *   stopped   — a stop string completed; the text before it (plus the stop string when
 *               `includeStopStrInOutput`) was emitted; every later `push` and `flush` emits nothing.
 *   flushed   — generation ended without a stop string; `flush` released the held tail. Calling `push`
 *               again is allowed and resumes streaming.
 * The output never depends on how the text was split into deltas: the stop that wins is the one that
 * would complete first if the text arrived one code unit at a time (smallest end offset; on equal ends,
 * the longer stop string, i.e. the one that started earlier).
 *
 * min_tokens (as vLLM): text pushed with `canStop` false (the first min_tokens tokens' text) cannot END a
 * stop string; it is still held back while it may BEGIN one, so a stop string that starts there and ends
 * in later text stops generation and is cut from the output like any other.
 */

/** Why generation ended, as OpenAI reports it. */
export type FinishReason = 'stop' | 'length';

/** The result of feeding one text delta to a {@link StopMatcher}. */
export interface StopPushResult {
  /** Text now safe to send to the client (possibly empty). */
  emit: string;
  /** True once a stop string has completed; nothing more will ever be emitted. */
  stopped: boolean;
  /** The stop string that completed (set whenever `stopped`). */
  matched?: string;
}

/** Options of a {@link StopMatcher}. */
export interface StopMatcherOptions {
  /** Emit the stop string itself after the text before it (vLLM's `include_stop_str_in_output`). */
  includeStopStrInOutput?: boolean;
}

/** Stop-string matcher for streamed text; see the module comment for its states. Works on UTF-16 code units. */
export class StopMatcher {
  private readonly stops: readonly string[];
  /** Every non-empty proper prefix of every stop string. */
  private readonly prefixes: ReadonlySet<string>;
  private readonly longestPrefix: number;
  private readonly includeStop: boolean;
  private held = '';
  private matchedStop: string | undefined;

  /** Empty stop strings are ignored; with none left, `push` passes text straight through. */
  constructor(stopStrings: readonly string[], options: StopMatcherOptions = {}) {
    this.stops = [...new Set(stopStrings.filter((s) => s.length > 0))];
    const prefixes = new Set<string>();
    for (const stop of this.stops) for (let len = 1; len < stop.length; len++) prefixes.add(stop.slice(0, len));
    this.prefixes = prefixes;
    this.longestPrefix = Math.max(0, ...this.stops.map((s) => s.length - 1));
    this.includeStop = options.includeStopStrInOutput ?? false;
  }

  /** Whether a stop string has completed. */
  get stopped(): boolean {
    return this.matchedStop !== undefined;
  }

  /** The stop string that completed, if any. */
  get matched(): string | undefined {
    return this.matchedStop;
  }

  /**
   * Feeds the next piece of generated text.
   * @param canStop - false while min_tokens is not reached: no stop string may end in `textDelta`
   */
  push(textDelta: string, canStop = true): StopPushResult {
    if (this.matchedStop !== undefined) return { emit: '', stopped: true, matched: this.matchedStop };
    if (this.stops.length === 0) return { emit: textDelta, stopped: false };
    const text = this.held + textDelta;
    const match = canStop ? this.earliestMatch(text, this.held.length) : undefined;
    if (match) {
      this.held = '';
      this.matchedStop = match.stop;
      const end = this.includeStop ? match.start + match.stop.length : match.start;
      return { emit: text.slice(0, end), stopped: true, matched: match.stop };
    }
    const holdLength = this.heldTailLength(text);
    this.held = text.slice(text.length - holdLength);
    return { emit: text.slice(0, text.length - holdLength), stopped: false };
  }

  /** Releases the held-back tail at the end of generation; empty once stopped. */
  flush(): string {
    const rest = this.matchedStop === undefined ? this.held : '';
    this.held = '';
    return rest;
  }

  /**
   * The stop string that completes first in `text` after offset `floor` (smallest end; on a tie the
   * longer one). Matches ending within the first `floor` code units (held text) are not stops: held text
   * holds none that could count (any would have stopped when it arrived, unless pushed with canStop false).
   */
  private earliestMatch(text: string, floor: number): { start: number; stop: string } | undefined {
    let best: { start: number; stop: string } | undefined;
    let bestEnd = Infinity;
    for (const stop of this.stops) {
      const start = text.indexOf(stop, Math.max(0, floor - stop.length + 1));
      if (start < 0) continue;
      const end = start + stop.length;
      if (end < bestEnd || (end === bestEnd && best !== undefined && start < best.start)) {
        best = { start, stop };
        bestEnd = end;
      }
    }
    return best;
  }

  /** Length of the longest tail of `text` that is a proper prefix of some stop string (0 if none). */
  private heldTailLength(text: string): number {
    for (let len = Math.min(this.longestPrefix, text.length); len > 0; len--) {
      if (this.prefixes.has(text.slice(text.length - len))) return len;
    }
    return 0;
  }
}

/** Token-level stop settings of one request. */
export interface StopConditionsOptions {
  /** The model's end-of-sequence ids (Llama 3.1: `<|eot_id|>`, `<|eom_id|>`, `<|end_of_text|>`). */
  eosTokenIds: Iterable<number>;
  /** Keep generating through EOS (vLLM's `ignore_eos`); stop token ids still stop. */
  ignoreEos?: boolean;
  /** Extra ids that end generation (vLLM's `stop_token_ids`). */
  stopTokenIds?: Iterable<number>;
  /** Most tokens to generate; null for no limit other than the context. */
  maxTokens: number | null;
  /** The model's context length (prompt + output tokens). */
  maxModelLen: number;
  /** Tokens in the prompt. */
  promptLength: number;
}

/** Why a sequence stopped at a token. */
export type TokenStopDecision =
  | { finishReason: 'stop'; reason: 'eos' | 'stop_token'; tokenId: number }
  | { finishReason: 'length'; reason: 'max_tokens' | 'context_length' };

/**
 * Decides, after each generated token, whether generation ends. Token stops win over length limits (as in
 * vLLM): an EOS that is also the last allowed token reports 'stop'. The engine decides whether the stopping
 * token's text is shown (normally not for EOS).
 */
export class StopConditions {
  private readonly eos: ReadonlySet<number>;
  private readonly stopTokens: ReadonlySet<number>;
  private readonly ignoreEos: boolean;
  private readonly outputLimit: number;
  private readonly limitReason: 'max_tokens' | 'context_length';

  constructor(options: StopConditionsOptions) {
    this.eos = new Set(options.eosTokenIds);
    this.stopTokens = new Set(options.stopTokenIds ?? []);
    this.ignoreEos = options.ignoreEos ?? false;
    const contextRoom = options.maxModelLen - options.promptLength;
    const maxTokens = options.maxTokens ?? Infinity;
    // The tighter limit names the reason; on a tie max_tokens is what the client asked for.
    this.limitReason = maxTokens <= contextRoom ? 'max_tokens' : 'context_length';
    this.outputLimit = Math.min(maxTokens, contextRoom);
  }

  /** Most output tokens this request can produce. */
  get maxOutputTokens(): number {
    return this.outputLimit;
  }

  /** The ids that end the sequence when generated: stop token ids, and EOS unless ignored (min_tokens masks them). */
  get endTokenIds(): number[] {
    return [...new Set([...this.stopTokens, ...(this.ignoreEos ? [] : this.eos)])];
  }

  /**
   * Checks the token just generated; `outputLength` counts the output tokens including this one.
   * Returns null to go on.
   */
  check(tokenId: number, outputLength: number): TokenStopDecision | null {
    if (!this.ignoreEos && this.eos.has(tokenId)) return { finishReason: 'stop', reason: 'eos', tokenId };
    if (this.stopTokens.has(tokenId)) return { finishReason: 'stop', reason: 'stop_token', tokenId };
    if (outputLength >= this.outputLimit) return { finishReason: 'length', reason: this.limitReason };
    return null;
  }
}
