/**
 * A streamed response: the engine's events through a {@link ResponseAssembler} into named SSE events
 * (`event: <type>` + `data: <json>`), through the one SSE path (sse.ts). After the headers, an error is
 * the `error` event then `response.failed`; the Responses API ends without `[DONE]`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationEvent } from '../../runtime/types.ts';
import { toApiError } from '../errors.ts';
import { engineEventError, wireFinishReason } from '../generation-service.ts';
import { type SseSink, streamSse } from '../sse.ts';
import { checkEnd } from '../streaming.ts';
import { type ResponseAssembler, type ResponseObject, responseUsage, type StreamEvent } from './build.ts';

/** Options of one streamed response. */
export interface ResponseStreamOptions {
  req: FastifyRequest;
  reply: FastifyReply;
  events: AsyncIterable<GenerationEvent>;
  assembler: ResponseAssembler;
  promptTokens: number;
  /** Renames chat field names in errors to the Responses request's. */
  translate: (err: unknown) => unknown;
  timedOut: () => boolean;
  timeoutMs: number;
  /** Called with the finished response (to store it). */
  onDone: (response: ResponseObject) => void;
}

/** Streams the response and ends the reply. */
export function streamResponse(o: ResponseStreamOptions): Promise<FastifyReply> {
  const produce = async (sink: SseSink) => {
    const send = async (events: StreamEvent[]) => {
      for (const e of events) await sink.send(e, e.type);
    };
    await send(o.assembler.start());
    for await (const e of o.events) {
      if (sink.closed) break; // leaving the loop aborts the generation
      if (e.type === 'error') throw engineEventError(e);
      if (e.type === 'token') {
        await send(o.assembler.push(e.text));
        continue;
      }
      checkEnd(e, sink, o);
      if (e.finishReason === 'error' || e.finishReason === 'abort') continue;
      await send(o.assembler.push(e.text));
      const cached = e.cachedTokens ?? 0;
      o.req.usage = { promptTokens: o.promptTokens, completionTokens: e.completionTokens, cachedTokens: cached };
      const closing = o.assembler.finish(wireFinishReason(e.finishReason), responseUsage(o.promptTokens, e.completionTokens, cached));
      o.onDone(o.assembler.snapshot());
      await send(closing);
    }
  };
  return streamSse(o.req, o.reply, produce, {
    done: false,
    errorFrames: (err) => o.assembler.fail(toApiError(o.translate(err))).map((e) => ({ data: e, event: e.type })),
  });
}
