/**
 * Text completion answers (`openai` package: Completion, its chunks, and the legacy logprobs shape).
 */
import type { GenerationEvent } from '../runtime/types.ts';
import { finiteLogprob, usageOf } from './chat-response.ts';
import { SYSTEM_FINGERPRINT, type ChoiceResult, type TokenRecord, wireFinishReason } from './generation-service.ts';

/** Legacy completions logprobs: parallel arrays, top alternatives as {token: logprob} maps. */
export function legacyLogprobs(tokens: TokenRecord[], textOffset0: number) {
  let offset = textOffset0;
  const text_offset: number[] = [];
  for (const t of tokens) {
    text_offset.push(offset);
    offset += t.token.length;
  }
  return {
    tokens: tokens.map((t) => t.token),
    token_logprobs: tokens.map((t) => finiteLogprob(t.logprob)),
    top_logprobs: tokens.map((t) => Object.fromEntries(t.topLogprobs.map((a) => [a.token ?? '', finiteLogprob(a.logprob)]))),
    text_offset,
  };
}

/** A non-streamed text completion. */
export function textCompletion(
  id: string,
  model: string,
  created: number,
  choices: Array<ChoiceResult & { prefix: string }>,
  promptTokens: number,
  logprobs: boolean,
  cachedTokens = 0,
) {
  const completionTokens = choices.reduce((a, c) => a + c.completionTokens, 0);
  return {
    id,
    object: 'text_completion' as const,
    created,
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: choices.map((c) => ({
      index: c.index,
      text: c.prefix + c.text,
      logprobs: logprobs ? legacyLogprobs(c.tokens, c.prefix.length) : null,
      finish_reason: wireFinishReason(c.finishReason),
    })),
    usage: usageOf(promptTokens, completionTokens, cachedTokens),
  };
}

/** Chunk shapes for a streamed text completion. */
export function completionChunks(id: string, model: string, created: number, includeUsage: boolean, echo: (index: number) => string) {
  const chunk = (choices: unknown[], usage?: unknown) => {
    const c: Record<string, unknown> = { id, object: 'text_completion', created, model, system_fingerprint: SYSTEM_FINGERPRINT, choices };
    if (includeUsage) c.usage = usage ?? null;
    return c;
  };
  return {
    open: (index: number) => chunk([{ index, text: echo(index), logprobs: null, finish_reason: null }]),
    content: (index: number, text: string, tokens: TokenRecord[] | null) =>
      chunk([{ index, text, logprobs: tokens ? legacyLogprobs(tokens, 0) : null, finish_reason: null }]),
    finish: (index: number, reason: 'stop' | 'length') => chunk([{ index, text: '', logprobs: null, finish_reason: reason }]),
    usage: (p: number, c: number, cached: number) => chunk([], usageOf(p, c, cached)),
  };
}

/** Interleaves several generations into one stream, renumbering choice indexes (prompt i → i × n + k). */
export async function* mergeGenerations(streams: AsyncIterable<GenerationEvent>[], n: number): AsyncIterable<GenerationEvent> {
  const iters = streams.map((s) => s[Symbol.asyncIterator]());
  const next = (i: number) => iters[i]!.next().then((r) => ({ i, r }));
  const pending = new Map(iters.map((_, i) => [i, next(i)]));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pending.set(i, next(i));
      const e = r.value;
      yield e.type === 'error' ? e : { ...e, index: i * n + e.index };
    }
  } finally {
    for (const it of iters) void it.return?.();
  }
}
