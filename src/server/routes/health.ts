/**
 * Probes: GET /health (liveness: the process answers; never needs the API key), GET /ready (readiness:
 * every model loaded and its worker alive, else 503 `not_ready`), GET /version.
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.ts';
import { ApiError } from '../errors.ts';

/** Registers /health, /ready and /version. */
export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/health', async () => ({ status: 'ok' as const }));

  app.get('/ready', async () => {
    if (!deps.isReady()) {
      throw new ApiError(503, 'The server is not ready: models are loading or a model worker is down', 'server_error', null, 'not_ready');
    }
    return { status: 'ready' as const };
  });

  app.get('/version', async () => ({ version: deps.version }));
}
