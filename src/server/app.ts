/**
 * buildApp(deps): the fastify application, without listening (main.ts listens). Routes are thin:
 * validate, call a service, shape the answer. Errors are thrown and mapped once, here.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { AppDeps } from './deps.ts';
import { registerBodyDecoding, registerJsonParser } from './body.ts';
import { ApiError, connectionErrorResponse, toApiError, type ConnectionFailure } from './errors.ts';
import { registerChatRoutes } from './routes/chat.ts';
import { registerCompletionRoutes } from './routes/completions.ts';
import { registerModelRoutes } from './routes/models.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerTokenizeRoutes } from './routes/tokenize.ts';
import { registerScoreRoutes } from './routes/score.ts';
import { registerUnsupportedRoutes } from './routes/unsupported.ts';
import { requestIdOf } from './request-id.ts';
import { isPreflight, registerCors } from './cross-origin.ts';
import { registerResponsesRoutes } from './routes/responses.ts';
import { isWebPath, registerWebRoutes, webUiEnabled } from './routes/web.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Token counts of the request, for the access log line. */
    usage?: { promptTokens: number; completionTokens: number; cachedTokens?: number };
  }
}

/** Routes served without the API key. */
export const OPEN_ROUTES = new Set(['/health', '/ready', '/metrics']);

/** Constant-time comparison of a presented key with the configured one (hashes equalize lengths). */
export function keyMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function checkAuth(req: FastifyRequest, apiKey: string): void {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m || !keyMatches(m[1]!.trim(), apiKey)) {
    throw new ApiError(
      401,
      m ? 'Incorrect API key provided' : 'Missing API key: send "Authorization: Bearer <key>"',
      'invalid_request_error',
      null,
      'invalid_api_key',
    );
  }
}

/** Sends an error in the one shape; every failure path of the app ends here. */
function sendError(reply: FastifyReply, apiErr: ApiError): void {
  void reply.status(apiErr.status).headers(apiErr.headers).send(apiErr.body());
}

/**
 * Errors fastify meets before a route is known (a URL whose percent-encoding does not decode, a path
 * parameter over maxParamLength): fastify answers these itself, in its own shape, unless given this.
 */
function onFrameworkError(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  sendError(reply, toApiError(err));
}

/**
 * Node's 'clientError': the HTTP parser refused the bytes (conflicting Content-Length and
 * Transfer-Encoding, an invalid Content-Length, a bad chunk), the headers overflowed or came too slowly.
 * No request object exists, so the response is written raw, then the connection is closed.
 */
function onClientError(this: FastifyInstance, err: Error & ConnectionFailure, socket: Socket): void {
  // A reset peer reads nothing; a response already started on this socket cannot be followed by another
  // status line (Node's own handler makes the same check).
  const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || started) {
    socket.destroy();
    return;
  }
  this.log.debug({ code: err.code }, 'connection error');
  socket.end(connectionErrorResponse(err), () => socket.destroy());
}

/** Builds the app; call `.ready()` or `.listen()` on the result. */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: deps.logger === undefined ? { level: 'info' } : deps.logger,
    bodyLimit: deps.limits.maxBodyBytes,
    // fastify's own request/response lines are off: onResponse below writes one line per request.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIdOf,
    frameworkErrors: onFrameworkError,
    clientErrorHandler: onClientError,
  });

  app.decorateRequest('usage', undefined);
  // Bodies: Content-Encoding undone within the body limit; JSON checked for UTF-8, lone surrogates, depth.
  registerBodyDecoding(app, deps.limits.maxBodyBytes);
  registerJsonParser(app);

  // Every answer names its request (streams too: the raw header survives hijacking).
  app.addHook('onRequest', async (req, reply) => {
    reply.raw.setHeader('x-request-id', req.id);
  });
  registerCors(app, deps.limits.allowedOrigins);

  const webUi = webUiEnabled(deps.limits);
  app.addHook('onRequest', async (req) => {
    if (deps.limits.allowedOrigins?.length && isPreflight(req.method, req.headers)) return;
    // Operations routes (liveness, readiness, metrics) never need the key, so probes and Prometheus can
    // reach them; compare the path without its query string. Nor do the web page and its assets: they
    // hold no data, and every API call the page makes sends the key the user typed.
    const path = req.url.split('?')[0]!;
    if (deps.limits.apiKey && !OPEN_ROUTES.has(path) && !(webUi && isWebPath(path))) checkAuth(req, deps.limits.apiKey);
  });

  // One line per request: id, route, status, tokens, timing. Never the prompt text at info level.
  app.addHook('onResponse', async (req, reply) => {
    deps.metrics?.http(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, reply.elapsedTime / 1000);
    req.log.info(
      {
        route: req.routeOptions.url ?? req.url,
        method: req.method,
        status: reply.statusCode,
        ms: Number(reply.elapsedTime.toFixed(1)),
        promptTokens: req.usage?.promptTokens,
        completionTokens: req.usage?.completionTokens,
        cachedTokens: req.usage?.cachedTokens || undefined,
      },
      'request',
    );
  });

  app.setErrorHandler((err, req, reply) => {
    const apiErr = toApiError(err);
    // 503 (not ready, shutting down) is an expected state, not a failure worth an error line.
    if (apiErr.status >= 500 && apiErr.status !== 503) req.log.error({ err }, 'request failed');
    else req.log.debug({ err: apiErr.message }, 'client error');
    sendError(reply, apiErr);
  });

  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new ApiError(404, `Unknown route ${req.method} ${req.url}`, 'invalid_request_error', null, 'not_found'));
  });

  registerHealthRoutes(app, deps);
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  }
  registerModelRoutes(app, deps);
  registerTokenizeRoutes(app, deps);
  registerChatRoutes(app, deps);
  registerCompletionRoutes(app, deps);
  registerResponsesRoutes(app, deps);
  registerScoreRoutes(app, deps);
  registerUnsupportedRoutes(app, deps);
  registerWebRoutes(app, deps.limits);
  return app;
}
