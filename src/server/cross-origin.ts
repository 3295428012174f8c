/**
 * CORS for browser apps calling the API directly (--allowed-origins; off by default, as a server that
 * holds an API key should not answer other sites' pages unless told to). Preflight requests carry no
 * credentials, so they are answered before the API key is checked.
 */
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';

/** Registers CORS for `origins` ('*' for any); nothing when the list is empty. */
export function registerCors(app: FastifyInstance, origins: readonly string[] | undefined): void {
  if (!origins || origins.length === 0) return;
  void app.register(cors, {
    origin: origins.includes('*') ? '*' : [...origins],
    methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    // No allowedHeaders: the headers a preflight asks for are allowed (the OpenAI SDK sends its own
    // x-stainless-* headers, which change between versions).
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
}

/** Whether a request is a CORS preflight (answered without the API key). */
export function isPreflight(method: string, headers: Record<string, unknown>): boolean {
  return method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
}
