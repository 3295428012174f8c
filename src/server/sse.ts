/**
 * Server-sent events, in one place: the frame format, the headers, and the one way every endpoint
 * streams ({@link streamSse}): hijack the reply, send the headers, let the producer write its frames,
 * and end. It owns the rule for failures after the headers are out (an error cannot change the status
 * any more): the error becomes frames — one `data: {"error": …}` frame for chat and completions, the
 * endpoint's own frames for the Responses API (`error`, then `response.failed`) — and then the stream
 * ends as it always does (`data: [DONE]` for chat and completions, nothing more for the Responses API).
 *
 * Writes respect backpressure per client: a slow reader makes only its own writer wait (the engine
 * buffers that request's events), never the batch.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type ApiError, toApiError } from './errors.ts';

/**
 * The SSE frame for one payload (an object serialized as JSON, or the literal `[DONE]`); with `event`,
 * an `event: <name>` line first (the Responses API names every event).
 */
export function sseFrame(payload: unknown, event?: string): string {
  const data = `data: ${payload === '[DONE]' ? '[DONE]' : JSON.stringify(payload)}\n\n`;
  return event === undefined ? data : `event: ${event}\n${data}`;
}

/** Headers of an SSE response. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/** One frame to send: its payload and, for named events, the event name. */
export interface SseFrame {
  data: unknown;
  event?: string;
}

/** What a producer writes with. */
export interface SseSink {
  /** Writes one frame; resolves when the socket can take more. Nothing is written once the client left. */
  send(payload: unknown, event?: string): Promise<void>;
  /** True when the client has gone away (a producer stops generating then). */
  readonly closed: boolean;
}

/** Writes frames to a raw response, waiting for 'drain' when the socket buffer is full. */
export class SseWriter implements SseSink {
  constructor(private readonly res: ServerResponse) {}

  /** Sends the status line and SSE headers (plus any headers already set on the response). */
  open(extraHeaders: Record<string, string> = {}): void {
    this.res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
  }

  /** True when the client has gone away. */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Writes one frame; resolves when the socket can take more. */
  async send(payload: unknown, event?: string): Promise<void> {
    if (this.closed) return;
    if (!this.res.write(sseFrame(payload, event))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.res.off('drain', done);
          this.res.off('close', done);
          resolve();
        };
        this.res.on('drain', done);
        this.res.on('close', done);
      });
    }
  }

  /** Ends the response, after `data: [DONE]` unless `done` is false. */
  end(done = true): void {
    if (this.closed) return;
    if (done) this.res.end(sseFrame('[DONE]'));
    else this.res.end();
  }
}

/** How one endpoint's stream fails and ends. */
export interface SseStreamOptions {
  /** Whether the stream ends with `data: [DONE]` (chat and completions: yes; Responses API: no). */
  done?: boolean;
  /** The frames an error after the headers becomes (default: one `data: {"error": …}` frame). */
  errorFrames?: (err: ApiError) => SseFrame[];
}

/**
 * Streams one answer: hijacks the reply, sends the SSE headers, runs `produce`, and ends the response.
 * An error thrown by `produce` (once the headers are out) is logged when it is the server's fault and
 * sent as the endpoint's error frames, then the stream ends as usual. Everything that can fail before
 * the first byte (validation, template rendering, admission) must have happened before this is called,
 * so that it gets a real status.
 */
export async function streamSse(
  req: FastifyRequest,
  reply: FastifyReply,
  produce: (sink: SseSink) => Promise<void>,
  options: SseStreamOptions = {},
): Promise<FastifyReply> {
  reply.hijack();
  const writer = new SseWriter(reply.raw);
  // Headers a hook already set on the reply (request id, CORS) go out with the SSE headers.
  writer.open(replyHeaders(reply));
  try {
    await produce(writer);
  } catch (err) {
    const apiErr = toApiError(err);
    if (apiErr.status >= 500) req.log.error({ err }, 'stream failed');
    const frames = options.errorFrames ? options.errorFrames(apiErr) : [{ data: apiErr.body() }];
    for (const f of frames) await writer.send(f.data, f.event);
  }
  writer.end(options.done ?? true);
  return reply;
}

/** The string headers set on a fastify reply so far (a hijacked reply does not send them itself). */
function replyHeaders(reply: FastifyReply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.getHeaders())) {
    if (k === 'content-type' || k === 'content-length') continue;
    if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
  }
  return out;
}
