/**
 * Request ids: every answer carries `x-request-id`, the client's own when it sent a usable one (so a
 * gateway's id follows the request through our log), else one generated here; the access log line and
 * every log line of the request carry the same id (fastify's `reqId`).
 */
import type { IncomingMessage } from 'node:http';

/** Longest client id taken as is; longer or oddly formed ones are replaced (they end up in logs). */
const MAX_CLIENT_ID = 200;
const USABLE = /^[\w.:@/+=-]+$/;

/** A new id: `req-` and 20 hex digits. */
export function newRequestId(): string {
  return `req-${crypto.randomUUID().replace(/-/g, '').slice(0, 20)}`;
}

/** fastify's genReqId: the client's `x-request-id` when usable, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const sent = req.headers['x-request-id'];
  const id = Array.isArray(sent) ? sent[0] : sent;
  return id !== undefined && id.length <= MAX_CLIENT_ID && USABLE.test(id) ? id : newRequestId();
}
