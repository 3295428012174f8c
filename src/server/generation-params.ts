/**
 * The wire → engine mapping shared by chat and text completions: sampling fields (OpenAI's and vLLM's
 * extensions), stopping, n, and max_tokens against the context length. Parsed once, at the edge, into the
 * engine's GenerationRequest with every default filled in.
 */
import type { GenerationRequest } from '../runtime/types.ts';
import type { ServedModel, ServerLimits } from './deps.ts';
import { invalidRequest } from './errors.ts';
import {
  type Body,
  has,
  logitBias,
  maybeNumber,
  optBool,
  optNumber,
  optString,
  stopStrings,
  tokenIdList,
} from './validate.ts';

/** Everything of a GenerationRequest except the prompt and max tokens. */
export type GenerationParams = Omit<GenerationRequest, 'promptTokenIds' | 'maxTokens'> & {
  /** max_tokens the client asked for, if any. */
  requestedMaxTokens?: number;
  /** The field it came in (max_completion_tokens or max_tokens), for errors that name it. */
  maxTokensParam?: string;
};

/** How the endpoint asks for logprobs. */
export type LogprobsStyle =
  /** chat: `logprobs: bool` + `top_logprobs: 0..20` */
  | 'chat'
  /** completions: `logprobs: 0..5` (number of alternatives), null = none */
  | 'completions';

function parseLogprobs(body: Body, style: LogprobsStyle): number | null {
  if (style === 'completions') {
    const k = maybeNumber(body, 'logprobs', { integer: true, min: 0, max: 20 });
    return k === undefined ? null : k;
  }
  const on = optBool(body, 'logprobs', false);
  const top = maybeNumber(body, 'top_logprobs', { integer: true, min: 0, max: 20 });
  if (top !== undefined && !on) throw invalidRequest(`'top_logprobs' requires 'logprobs' to be true`, 'top_logprobs');
  return on ? (top ?? 0) : null;
}

/** Reads the generation fields of a chat or completions body. */
export function parseGenerationParams(body: Body, model: ServedModel, limits: ServerLimits, style: LogprobsStyle): GenerationParams {
  const vocab = model.tokenizer.vocabSize;
  const n = optNumber(body, 'n', 1, { integer: true, min: 1, max: limits.maxN });
  const maxFields = style === 'chat' ? ['max_completion_tokens', 'max_tokens'] : ['max_tokens'];
  let requestedMaxTokens: number | undefined;
  const maxTokensParam = maxFields.find((f) => has(body, f));
  if (maxTokensParam) requestedMaxTokens = maybeNumber(body, maxTokensParam, { integer: true, min: 1 });
  const logprobs = parseLogprobs(body, style);
  const seed = maybeNumber(body, 'seed', { integer: true, min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  // The model's generation_config.json fills what the request leaves out (generation-defaults.ts).
  const d = model.task === 'generate' ? (model.generationDefaults ?? {}) : {};
  return {
    n,
    requestedMaxTokens,
    ...(maxTokensParam ? { maxTokensParam } : {}),
    sampling: {
      temperature: optNumber(body, 'temperature', d.temperature ?? 1, { min: 0, max: 2 }),
      topP: optNumber(body, 'top_p', d.topP ?? 1, { min: 0, max: 1, minExclusive: true }),
      topK: optNumber(body, 'top_k', d.topK ?? 0, { integer: true, min: -1 }),
      minP: optNumber(body, 'min_p', 0, { min: 0, max: 1 }),
      repetitionPenalty: optNumber(body, 'repetition_penalty', d.repetitionPenalty ?? 1, { min: 0, max: 10, minExclusive: true }),
      presencePenalty: optNumber(body, 'presence_penalty', 0, { min: -2, max: 2 }),
      frequencyPenalty: optNumber(body, 'frequency_penalty', 0, { min: -2, max: 2 }),
      logitBias: logitBias(body, vocab, limits.maxLogitBias),
      seed,
      logprobs,
    },
    stop: stopStrings(body, limits.maxStop),
    stopTokenIds: tokenIdList(body, 'stop_token_ids', vocab, limits.maxStop),
    ignoreEos: optBool(body, 'ignore_eos', false),
    includeStopStrInOutput: optBool(body, 'include_stop_str_in_output', false),
    skipSpecialTokens: optBool(body, 'skip_special_tokens', true),
    // Token texts are only needed for logprobs output; skip the per-token decode otherwise.
    returnTokenText: logprobs !== null,
    cacheSalt: cacheSalt(body),
    minTokens: optNumber(body, 'min_tokens', 0, { integer: true, min: 0 }),
  };
}

/** Longest `cache_salt` accepted (it is compared, never stored beyond the cache's entries). */
const MAX_CACHE_SALT = 1024;

/**
 * vLLM's `cache_salt`: a cached prefix is reused only by requests carrying the same salt, so clients
 * that must not share cache timing with others (tenants) each send their own unguessable salt.
 */
function cacheSalt(body: Body): string | undefined {
  const salt = optString(body, 'cache_salt');
  if (salt !== undefined && (salt.length === 0 || salt.length > MAX_CACHE_SALT)) {
    throw invalidRequest(`'cache_salt' must be a non-empty string of at most ${MAX_CACHE_SALT} characters`, 'cache_salt');
  }
  return salt;
}

/**
 * Completes a request for one prompt: checks the prompt and max_tokens against the context length and the
 * server limits (a 400 naming both numbers), and fills max_tokens' default (what is left of the context,
 * capped by the server's max tokens).
 */
export function finalizeRequest(
  params: GenerationParams,
  promptTokenIds: number[],
  model: ServedModel,
  limits: ServerLimits,
  promptField: string,
): GenerationRequest {
  const ctx = model.contextLength;
  const promptLen = promptTokenIds.length;
  if (promptLen === 0) throw invalidRequest(`The prompt is empty`, promptField);
  if (limits.maxPromptTokens > 0 && promptLen > limits.maxPromptTokens) {
    throw invalidRequest(
      `The prompt has ${promptLen} tokens, more than this server's limit of ${limits.maxPromptTokens} tokens`,
      promptField,
      'prompt_too_long',
    );
  }
  const requested = params.requestedMaxTokens;
  const field = params.maxTokensParam ?? 'max_tokens';
  if (requested !== undefined && requested > limits.maxTokens) {
    throw invalidRequest(`'${field}' is ${requested}, more than this server's limit of ${limits.maxTokens}`, field);
  }
  if (promptLen + (requested ?? 1) > ctx) {
    throw invalidRequest(
      `This model's maximum context length is ${ctx} tokens. However, you requested ${promptLen + (requested ?? 1)} tokens ` +
        `(${promptLen} in the ${promptField === 'messages' ? 'messages' : 'prompt'}, ${requested ?? 1} for the completion). ` +
        `Please reduce the length of the ${promptField === 'messages' ? 'messages' : 'prompt'} or completion.`,
      promptField,
      'context_length_exceeded',
    );
  }
  const { requestedMaxTokens: _unused, maxTokensParam: _field, ...rest } = params;
  void _unused;
  void _field;
  // Without max_tokens: the model's max_new_tokens (generation_config.json), within the server's limit
  // and what the context leaves.
  const fallback = model.task === 'generate' ? model.generationDefaults?.maxNewTokens : undefined;
  const maxTokens = requested ?? Math.min(fallback ?? limits.maxTokens, limits.maxTokens, ctx - promptLen);
  if ((params.minTokens ?? 0) > maxTokens) {
    throw invalidRequest(`'min_tokens' is ${params.minTokens}, more than ${field} (${maxTokens})`, 'min_tokens');
  }
  return { ...rest, promptTokenIds, maxTokens };
}
