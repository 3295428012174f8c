/**
 * Text completion answers (`openai` package: Completion, its chunks, and the legacy logprobs shape).
 */
import type { GenerationEvent } from '../runtime/types.ts';
import { finiteLogprob, usageOf } from './chat-response.ts';
import { SYSTEM_FINGERPRINT, type ChoiceResult, type TokenRecord, wireFinishReason } from './generation-service.ts';
import type { LegacyPromptLogprobs, VllmPromptLogprob } from './prompt-logprobs.ts';

/** What a choice starts with: the echoed prompt, its legacy logprobs, and vLLM's prompt_logprobs, as asked. */
export interface ChoicePrompt {
  /** The echoed prompt text ('' without echo). */
  prefix: string;
  /** `echo` with `logprobs`: the prompt tokens' legacy logprobs, put before the generated tokens'. */
  promptLogprobs?: LegacyPromptLogprobs;
  /** vLLM's `prompt_logprobs`, when the request gave that field. */
  vllmPromptLogprobs?: Array<VllmPromptLogprob | null>;
}

/** A choice's legacy logprobs: the echoed prompt's tokens (when asked) first, then the generated ones. */
function choiceLogprobs(tokens: TokenRecord[], start: ChoicePrompt) {
  const generated = legacyLogprobs(tokens, start.prefix.length);
  const p = start.promptLogprobs;
  if (!p) return generated;
  return {
    tokens: [...p.tokens, ...generated.tokens],
    token_logprobs: [...p.token_logprobs, ...generated.token_logprobs],
    top_logprobs: [...p.top_logprobs, ...generated.top_logprobs],
    text_offset: [...p.text_offset, ...generated.text_offset],
  };
}

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
  choices: Array<ChoiceResult & ChoicePrompt>,
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
      logprobs: logprobs ? choiceLogprobs(c.tokens, c) : null,
      finish_reason: wireFinishReason(c.finishReason),
      ...(c.vllmPromptLogprobs ? { prompt_logprobs: c.vllmPromptLogprobs } : {}),
    })),
    usage: usageOf(promptTokens, completionTokens, cachedTokens),
  };
}

/** Chunk shapes for a streamed text completion; `start` gives each choice's opening (echo, prompt logprobs). */
export function completionChunks(id: string, model: string, created: number, includeUsage: boolean, start: (index: number) => ChoicePrompt) {
  const chunk = (choices: unknown[], usage?: unknown) => {
    const c: Record<string, unknown> = { id, object: 'text_completion', created, model, system_fingerprint: SYSTEM_FINGERPRINT, choices };
    if (includeUsage) c.usage = usage ?? null;
    return c;
  };
  const offsets = new Map<number, number>();
  return {
    open: (index: number) => {
      const s = start(index);
      const logprobs = s.promptLogprobs ?? null;
      const vllm = s.vllmPromptLogprobs ? { prompt_logprobs: s.vllmPromptLogprobs } : {};
      return chunk([{ index, text: s.prefix, logprobs, finish_reason: null, ...vllm }]);
    },
    content: (index: number, text: string, tokens: TokenRecord[] | null) => {
      // text_offset counts from the start of the choice's text (the echo included), as when not streamed.
      const offset = offsets.get(index) ?? start(index).prefix.length;
      const logprobs = tokens ? legacyLogprobs(tokens, offset) : null;
      if (tokens) offsets.set(index, tokens.reduce((a, t) => a + t.token.length, offset));
      return chunk([{ index, text, logprobs, finish_reason: null }]);
    },
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
