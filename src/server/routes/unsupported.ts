/**
 * Endpoints of OpenAI's API this server does not serve, answered with a clear error instead of "Unknown
 * route": clients (LangChain's OpenAIEmbeddings, RAG templates) call them by default, and the person
 * reading the error should learn what this server is for.
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.ts';
import { ApiError } from '../errors.ts';

/** Registers the answers for unsupported endpoints. */
export function registerUnsupportedRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/embeddings', async () => {
    const served = deps.models.map((m) => `'${m.id}' (${m.task === 'generate' ? 'chat and completions' : 'reward scores: /v1/score, /v1/rerank'})`).join(', ');
    throw new ApiError(
      400,
      `This server serves no embedding model, so /v1/embeddings is not available${served ? `; it serves ${served}` : ''}`,
      'invalid_request_error',
      'model',
      'embeddings_not_supported',
    );
  });
}
