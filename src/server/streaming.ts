/**
 * Streams a generation as server-sent events, for chat and text completions alike. The endpoint gives
 * the chunk shapes; this module owns the order: opening chunks, deltas, one finish chunk per choice,
 * the usage chunk, `[DONE]`; and the failure rule: once headers are out, an error is a single
 * `data: {"error": …}` frame, then `[DONE]`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationEvent } from '../runtime/types.ts';
import { toApiError } from './errors.ts';
import { abortedError, engineEventError, timeoutError, type TokenRecord, wireFinishReason } from './generation-service.ts';
import { SseWriter } from './sse.ts';

/** Chunk builders of one endpoint. */
export interface ChunkShapes {
  /** Chunk(s) sent before any text for choice `index` (chat: the role). */
  open?(index: number): unknown;
  /**
   * A text delta; `tokens` are the tokens behind it when logprobs were asked for, else null. An array
   * is several frames (e.g. tool-call pieces); an empty array sends nothing.
   */
  content(index: number, text: string, tokens: TokenRecord[] | null): unknown;
  /** The last frame(s) of a choice. */
  finish(index: number, reason: 'stop' | 'length'): unknown;
  usage?(promptTokens: number, completionTokens: number, cachedTokens: number): unknown;
}

/** Options of one stream. */
export interface StreamOptions {
  req: FastifyRequest;
  reply: FastifyReply;
  events: AsyncIterable<GenerationEvent>;
  /** Number of choices in the stream. */
  choices: number;
  /** Prompt tokens, for usage. */
  promptTokens: number;
  /** Choices per prompt (several prompts' choices are numbered prompt × n + i); default: all of them. */
  choicesPerPrompt?: number;
  shapes: ChunkShapes;
  includeUsage: boolean;
  logprobs: boolean;
  timedOut: () => boolean;
  timeoutMs: number;
}

/** Writes the whole stream and ends the response. The caller has hijacked the reply. */
export async function streamGeneration(o: StreamOptions): Promise<void> {
  const writer = new SseWriter(o.reply.raw);
  writer.open();
  const send = async (payload: unknown) => {
    for (const p of Array.isArray(payload) ? payload : [payload]) await writer.send(p);
  };
  let completionTokens = 0;
  let cachedTokens = 0;
  const perPrompt = o.choicesPerPrompt ?? o.choices;
  try {
    if (o.shapes.open) for (let i = 0; i < o.choices; i++) await writer.send(o.shapes.open(i));
    for await (const e of o.events) {
      if (writer.closed) break; // leaving the loop aborts the generation
      if (e.type === 'error') throw engineEventError(e);
      if (e.type === 'token') {
        const tokens = o.logprobs && e.logprob !== undefined
          ? [{ tokenId: e.tokenId, token: e.token ?? '', bytes: e.bytes, logprob: e.logprob, topLogprobs: e.topLogprobs ?? [] }]
          : null;
        if (e.text !== '' || tokens) await send(o.shapes.content(e.index, e.text, tokens));
        continue;
      }
      if (e.finishReason === 'abort' && o.timedOut()) throw timeoutError(o.timeoutMs);
      if (e.finishReason === 'abort' && !writer.closed) throw abortedError();
      if (e.finishReason === 'error' || e.finishReason === 'abort') continue;
      if (e.text !== '') await send(o.shapes.content(e.index, e.text, null));
      completionTokens += e.completionTokens;
      // A prompt's choices share its prefill: count its cached tokens once.
      if (e.index % perPrompt === 0) cachedTokens += e.cachedTokens ?? 0;
      await send(o.shapes.finish(e.index, wireFinishReason(e.finishReason)));
    }
    if (o.includeUsage && o.shapes.usage && !writer.closed) {
      await writer.send(o.shapes.usage(o.promptTokens, completionTokens, cachedTokens));
    }
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) o.req.log.error({ err }, 'stream failed');
    await writer.send(apiErr.body());
  }
  o.req.usage = { promptTokens: o.promptTokens, completionTokens, cachedTokens };
  writer.end();
}
