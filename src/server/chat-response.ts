/**
 * Chat completion answers, shaped as the `openai` package's ChatCompletion / ChatCompletionChunk types.
 */
import type { TokenLogprob } from '../runtime/types.ts';
import { SYSTEM_FINGERPRINT, type GenerationResult, type TokenRecord, tokenBytes, wireFinishReason } from './generation-service.ts';
import { parseToolCalls, ToolCallStreamParser, toolCallDelta, type ToolStreamEvent } from './tools/index.ts';

/** A logprob as JSON can carry it: -Infinity (a banned token) becomes OpenAI's -9999. */
export function finiteLogprob(lp: number): number {
  return Number.isFinite(lp) ? lp : -9999;
}

/** OpenAI's per-token logprob entry. */
export function logprobEntry(t: TokenRecord) {
  return {
    token: t.token,
    logprob: finiteLogprob(t.logprob),
    bytes: t.bytes ?? tokenBytes(t.token),
    top_logprobs: t.topLogprobs.map((a: TokenLogprob) => ({
      token: a.token ?? '',
      logprob: finiteLogprob(a.logprob),
      bytes: a.bytes ?? tokenBytes(a.token ?? ''),
    })),
  };
}

/** Usage block; total = prompt + completion; `cached_tokens`: prompt tokens served by the prefix cache. */
export function usageOf(promptTokens: number, completionTokens: number, cachedTokens = 0) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
    // No reasoning or predicted outputs here: present and zero, as clients read them.
    completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** The assistant message of a choice: plain content, or tool calls parsed from the text. */
function assistantMessage(text: string, toolNames: string[] | undefined, maxCalls: number | undefined) {
  if (toolNames) {
    const parsed = parseToolCalls(text, { functionNames: toolNames, maxCalls });
    if (parsed.toolCalls.length > 0) {
      return { role: 'assistant' as const, content: parsed.content, refusal: null, tool_calls: parsed.toolCalls };
    }
  }
  return { role: 'assistant' as const, content: text, refusal: null };
}

/**
 * A non-streamed chat completion. With `toolNames` (tools offered), each choice's text is parsed for
 * Llama 3.1 JSON tool calls; a choice that made calls and stopped by itself has finish_reason "tool_calls".
 */
export function chatCompletion(
  id: string,
  model: string,
  created: number,
  result: GenerationResult,
  logprobs: boolean,
  toolNames?: string[],
  /** parallel_tool_calls false: 1. */
  maxToolCalls?: number,
) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: result.choices.map((c) => {
      const message = assistantMessage(c.text, toolNames, maxToolCalls);
      const reason = wireFinishReason(c.finishReason);
      return {
        index: c.index,
        message,
        logprobs: logprobs ? { content: c.tokens.map(logprobEntry), refusal: null } : null,
        finish_reason: 'tool_calls' in message && reason === 'stop' ? ('tool_calls' as const) : reason,
      };
    }),
    usage: usageOf(result.promptTokens, result.completionTokens, result.cachedTokens),
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
      system_fingerprint: SYSTEM_FINGERPRINT,
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

  /** A tool-call delta (OpenAI's `delta.tool_calls` piece). */
  toolCall(index: number, delta: NonNullable<ReturnType<typeof toolCallDelta>>) {
    return this.chunk([{ index, delta: { tool_calls: [delta] }, logprobs: null, finish_reason: null }]);
  }

  /** The last chunk of a choice. */
  finish(index: number, reason: 'stop' | 'length' | 'tool_calls') {
    return this.chunk([{ index, delta: {}, logprobs: null, finish_reason: reason }]);
  }

  /** The usage chunk (include_usage): empty choices. */
  usage(promptTokens: number, completionTokens: number, cachedTokens = 0) {
    return this.chunk([], usageOf(promptTokens, completionTokens, cachedTokens));
  }
}

/**
 * Chunk shapes of a streamed chat completion whose text is parsed for tool calls: one
 * ToolCallStreamParser per choice turns text deltas into content or `delta.tool_calls` chunks, so the
 * stream assembles to the non-streamed result.
 */
export function toolCallChunks(chunks: ChatChunkBuilder, toolNames: string[], maxCalls?: number) {
  const parsers = new Map<number, ToolCallStreamParser>();
  const parser = (i: number) => {
    let p = parsers.get(i);
    if (!p) parsers.set(i, (p = new ToolCallStreamParser({ functionNames: toolNames, maxCalls })));
    return p;
  };
  // A token's logprobs ride on the first content chunk it produces, or on an empty content chunk.
  const frames = (i: number, events: ToolStreamEvent[], tokens: TokenRecord[] | null) => {
    const out: unknown[] = [];
    let pending = tokens;
    for (const e of events) {
      const d = toolCallDelta(e);
      if (d) out.push(chunks.toolCall(i, d));
      else {
        out.push(chunks.content(i, e.type === 'content' ? e.text : '', pending));
        pending = null;
      }
    }
    if (pending) out.push(chunks.content(i, '', pending));
    return out;
  };
  return {
    content: (i: number, text: string, tokens: TokenRecord[] | null) => frames(i, parser(i).push(text), tokens),
    finish: (i: number, reason: 'stop' | 'length') => {
      const p = parser(i);
      const tail = frames(i, p.finish(), null);
      const called = p.result().toolCalls.length > 0;
      return [...tail, chunks.finish(i, called && reason === 'stop' ? 'tool_calls' : reason)];
    },
  };
}
