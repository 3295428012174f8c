/**
 * Server-sent events framing, in one place. A frame is `data: <json>\n\n`; the stream ends with
 * `data: [DONE]\n\n`. Writes respect backpressure per client: a slow reader makes only its own writer
 * wait (the engine buffers that request's events), never the batch.
 */
import type { ServerResponse } from 'node:http';

/** The SSE frame for one payload (an object serialized as JSON, or the literal `[DONE]`). */
export function sseFrame(payload: unknown): string {
  return `data: ${payload === '[DONE]' ? '[DONE]' : JSON.stringify(payload)}\n\n`;
}

/** Headers of an SSE response. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

/** Writes frames to a raw response, waiting for 'drain' when the socket buffer is full. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  /** Sends the status line and SSE headers. */
  open(extraHeaders: Record<string, string> = {}): void {
    this.res.writeHead(200, { ...SSE_HEADERS, ...extraHeaders });
  }

  /** True when the client has gone away. */
  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  /** Writes one frame; resolves when the socket can take more. */
  async send(payload: unknown): Promise<void> {
    if (this.closed) return;
    if (!this.res.write(sseFrame(payload))) {
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

  /** Writes `[DONE]` and ends the response. */
  end(): void {
    if (this.closed) return;
    this.res.end(sseFrame('[DONE]'));
  }
}
