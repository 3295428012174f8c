/**
 * Streams a generation as server-sent events, for chat and text completions alike. The endpoint gives
 * the chunk shapes; this module owns the order: opening chunks, deltas, one finish chunk per choice,
 * the usage chunk, `[DONE]`; and the failure rule: once headers are out, an error is a single
 * `data: {"error": …}` frame, then `[DONE]`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationEvent } from '../runtime/types.ts';
import { abortedError, engineEventError, timeoutError, type TokenRecord, wireFinishReason } from './generation-service.ts';
import { type SseSink, streamSse } from './sse.ts';

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

/**
 * Writes the whole stream and ends the response (hijacking the reply: see {@link streamSse}, which also
 * owns the error rule: an error after the headers is one `data: {"error": …}` frame, then `[DONE]`).
 */
export async function streamGeneration(o: StreamOptions): Promise<FastifyReply> {
  let completionTokens = 0;
  let cachedTokens = 0;
  const perPrompt = o.choicesPerPrompt ?? o.choices;
  const produce = async (sink: SseSink) => {
    try {
      await produceChunks(sink);
    } finally {
      o.req.usage = { promptTokens: o.promptTokens, completionTokens, cachedTokens };
    }
  };
  const produceChunks = async (sink: SseSink) => {
    const send = async (payload: unknown) => {
      for (const p of Array.isArray(payload) ? payload : [payload]) await sink.send(p);
    };
    if (o.shapes.open) for (let i = 0; i < o.choices; i++) await sink.send(o.shapes.open(i));
    for await (const e of o.events) {
      if (sink.closed) break; // leaving the loop aborts the generation
      if (e.type === 'error') throw engineEventError(e);
      if (e.type === 'token') {
        const tokens = o.logprobs && e.logprob !== undefined
          ? [{ tokenId: e.tokenId, token: e.token ?? '', bytes: e.bytes, logprob: e.logprob, topLogprobs: e.topLogprobs ?? [] }]
          : null;
        if (e.text !== '' || tokens) await send(o.shapes.content(e.index, e.text, tokens));
        continue;
      }
      checkEnd(e, sink, o);
      if (e.finishReason === 'error' || e.finishReason === 'abort') continue;
      if (e.text !== '') await send(o.shapes.content(e.index, e.text, null));
      completionTokens += e.completionTokens;
      // A prompt's choices share its prefill: count its cached tokens once.
      if (e.index % perPrompt === 0) cachedTokens += e.cachedTokens ?? 0;
      await send(o.shapes.finish(e.index, wireFinishReason(e.finishReason)));
    }
    if (o.includeUsage && o.shapes.usage && !sink.closed) {
      await sink.send(o.shapes.usage(o.promptTokens, completionTokens, cachedTokens));
    }
  };
  return streamSse(o.req, o.reply, produce);
}

/**
 * Throws the error an end event stands for, when the generation was cut short: the request timeout, or
 * the server (shutdown, worker restart) while the client is still there.
 */
export function checkEnd(
  e: Extract<GenerationEvent, { type: 'end' }>,
  sink: SseSink,
  o: { timedOut: () => boolean; timeoutMs: number },
): void {
  if (e.finishReason === 'abort' && o.timedOut()) throw timeoutError(o.timeoutMs);
  if (e.finishReason === 'abort' && !sink.closed) throw abortedError();
}
