/**
 * Chat completion answers, shaped as the `openai` package's ChatCompletion / ChatCompletionChunk types.
 */
import type { TokenLogprob } from '../runtime/types.ts';
import { type GenerationResult, type TokenRecord, tokenBytes, wireFinishReason } from './generation-service.ts';

/** A logprob as JSON can carry it: -Infinity (a banned token) becomes OpenAI's -9999. */
export function finiteLogprob(lp: number): number {
  return Number.isFinite(lp) ? lp : -9999;
}

/** OpenAI's per-token logprob entry. */
export function logprobEntry(t: TokenRecord) {
  return {
    token: t.token,
    logprob: finiteLogprob(t.logprob),
    bytes: tokenBytes(t.token),
    top_logprobs: t.topLogprobs.map((a: TokenLogprob) => ({
      token: a.token ?? '',
      logprob: finiteLogprob(a.logprob),
      bytes: tokenBytes(a.token ?? ''),
    })),
  };
}

/** Usage block; total = prompt + completion. */
export function usageOf(promptTokens: number, completionTokens: number) {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** A non-streamed chat completion. */
export function chatCompletion(id: string, model: string, created: number, result: GenerationResult, logprobs: boolean) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    system_fingerprint: null,
    choices: result.choices.map((c) => ({
      index: c.index,
      message: { role: 'assistant' as const, content: c.text, refusal: null },
      logprobs: logprobs ? { content: c.tokens.map(logprobEntry), refusal: null } : null,
      finish_reason: wireFinishReason(c.finishReason),
    })),
    usage: usageOf(result.promptTokens, result.completionTokens),
  };
}

/** Builds the chunks of one streamed chat completion (same id, created and model on each). */
export class ChatChunkBuilder {
  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly created: number,
    /** With include_usage, every chunk carries `usage: null` until the final usage chunk. */
    private readonly includeUsage: boolean,
  ) {}

  private chunk(choices: unknown[], usage?: unknown) {
    const c: Record<string, unknown> = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      system_fingerprint: null,
      choices,
    };
    if (this.includeUsage) c.usage = usage ?? null;
    return c;
  }

  /** The first chunk of a choice: the role. */
  role(index: number) {
    return this.chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  }

  /** A content delta, with the logprobs of the tokens it covers when asked for. */
  content(index: number, text: string, tokens: TokenRecord[] | null) {
    const logprobs = tokens ? { content: tokens.map(logprobEntry), refusal: null } : null;
    return this.chunk([{ index, delta: { content: text }, logprobs, finish_reason: null }]);
  }

  /** The last chunk of a choice. */
  finish(index: number, reason: 'stop' | 'length') {
    return this.chunk([{ index, delta: {}, logprobs: null, finish_reason: reason }]);
  }

  /** The usage chunk (include_usage): empty choices. */
  usage(promptTokens: number, completionTokens: number) {
    return this.chunk([], usageOf(promptTokens, completionTokens));
  }
}
