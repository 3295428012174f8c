/**
 * GET /v1/models and GET /v1/models/:id (the OpenAI SDK's `models.list` / `models.retrieve`), with vLLM's
 * extra fields `root` and `max_model_len`, plus `task` so clients can tell chat from reward models.
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps, ServedModel } from '../deps.ts';
import { modelNotFound } from '../errors.ts';
import { modelNamed } from '../registry.ts';

/** One entry of the model list. */
export interface ModelCard {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  root: string;
  max_model_len: number;
  task: ServedModel['task'];
  /** Where it runs: 'cpu' or 'cuda' (when known). */
  provider?: 'cpu' | 'cuda';
}

/** Shown as `owned_by` for every model. */
export const OWNED_BY = 'nemotron-onnx-server';

/** The list entry of a served model. */
export function modelCard(m: ServedModel, id = m.id): ModelCard {
  return {
    id,
    object: 'model',
    created: m.created,
    owned_by: OWNED_BY,
    root: m.root,
    max_model_len: m.contextLength,
    task: m.task,
    ...(m.provider ? { provider: m.provider } : {}),
  };
}

/** Registers the model routes. The list is read per request (main.ts fills it while loading). */
export function registerModelRoutes(app: FastifyInstance, deps: AppDeps): void {
  // Every name a model answers to is listed: clients pick from this list.
  app.get('/v1/models', async () => ({ object: 'list' as const, data: deps.models.flatMap((m) => [m.id, ...(m.aliases ?? [])].map((id) => modelCard(m, id))) }));

  // A wildcard, not `:id`, so ids holding '/' (e.g. "nvidia/Llama-3.1-Nemotron-70B-Instruct") match
  // whether the client escapes the slash or not. The router has already percent-decoded it.
  app.get('/v1/models/*', async (req) => {
    const id = (req.params as { '*': string })['*'];
    const model = modelNamed(deps.models, id);
    if (!model) throw modelNotFound(id);
    return modelCard(model, id);
  });
}
