/**
 * Looking up the served model a request names. Every route that takes a `model` field goes through
 * `findModel`, so "unknown model", "wrong kind of model" and "models still loading" read the same
 * everywhere. It reads `deps.models` on every call (main.ts fills that list while the server already
 * answers /health), so callers must not cache the list at registration time.
 */
import type { AppDeps, GenerateModel, RewardModel, ServedModel } from './deps.ts';
import { ApiError, invalidRequest, modelNotFound } from './errors.ts';

/** The served model called `name` (its id or one of its aliases). */
export function modelNamed<M extends ServedModel>(models: readonly M[], name: string): M | undefined {
  return models.find((m) => m.id === name || m.aliases?.includes(name));
}

/** What each task is for, in words a client can act on. */
const TASK_USE: Record<ServedModel['task'], string> = {
  generate: 'a generation model (use it with /v1/chat/completions and /v1/completions)',
  reward: 'a reward model (use it with /v1/score and /v1/rerank, or as a best_of reranker)',
};

/** 503 while main.ts is still loading models (the model list is incomplete until then). */
function notReady(model?: string): ApiError {
  const what = model === undefined ? 'No model is available yet' : `The model '${model}' is not available yet`;
  return new ApiError(503, `${what}: the server is not ready (models loading); retry shortly`, 'server_error', null, 'not_ready', {
    'retry-after': '5',
  });
}

/**
 * The served model a request names.
 *
 * - `name` given: the model with that id. Unknown → 404 `model_not_found` (or 503 `not_ready` while the
 *   models are still loading). A model of another task than `task` → 400 with param `model` saying what
 *   the model is for.
 * - `name` omitted (undefined, null or ''): when exactly one model of `task` (or, without `task`, exactly
 *   one model) is served, that model is used, as vLLM does with a single model; otherwise 400 asking for
 *   `model`.
 */
export function findModel(deps: Pick<AppDeps, 'models' | 'isReady'>, name: unknown, task: 'generate'): GenerateModel;
export function findModel(deps: Pick<AppDeps, 'models' | 'isReady'>, name: unknown, task: 'reward'): RewardModel;
export function findModel(deps: Pick<AppDeps, 'models' | 'isReady'>, name: unknown, task?: ServedModel['task']): ServedModel;
export function findModel(deps: Pick<AppDeps, 'models' | 'isReady'>, name: unknown, task?: ServedModel['task']): ServedModel {
  if (name === undefined || name === null || name === '') {
    const candidates = deps.models.filter((m) => task === undefined || m.task === task);
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0 && !deps.isReady()) throw notReady();
    const ids = candidates.map((m) => `'${m.id}'`).join(', ');
    throw invalidRequest(
      candidates.length === 0
        ? `No ${task === undefined ? '' : `${task} `}model is served`
        : `'model' is required: this server serves ${ids}`,
      'model',
      'missing_required_parameter',
    );
  }
  if (typeof name !== 'string') {
    throw invalidRequest(`Invalid type for 'model': expected a string`, 'model', 'invalid_type');
  }
  const model = modelNamed(deps.models, name);
  if (!model) {
    if (!deps.isReady()) throw notReady(name);
    throw modelNotFound(name);
  }
  if (task !== undefined && model.task !== task) {
    throw invalidRequest(
      `The model '${name}' is ${TASK_USE[model.task]}; this endpoint needs ${TASK_USE[task].replace(/ \(.*\)$/, '')}`,
      'model',
      'wrong_model_task',
    );
  }
  return model;
}
