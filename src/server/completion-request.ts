/**
 * POST /v1/completions wire body → validated requests, one per prompt (`prompt` may be a string, a list
 * of strings, a list of token ids, or a list of such lists).
 */
import type { GenerationRequest } from '../runtime/types.ts';
import type { AppDeps, GenerateModel, ServedModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { finalizeRequest, parseGenerationParams } from './generation-params.ts';
import { checkPromptBytes, decodeIds, encodeTexts, textBytes } from './prompt-tokens.ts';
import { parsePromptLogprobs } from './prompt-logprobs.ts';
import { findModel } from './registry.ts';
import { type Body, checkNumber, has, optBool, optString, parseStreaming } from './validate.ts';

/** A validated text-completion request. */
export interface CompletionRequest {
  model: GenerateModel;
  /** One engine request per prompt; choice index = prompt index × n + sequence index. */
  generations: GenerationRequest[];
  /** Prompt texts, for `echo` (empty without it: decoding a long prompt is not free); BOS is never shown. */
  promptTexts: string[];
  echo: boolean;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
  /** `echo` with `logprobs`: the legacy logprobs start with the prompt's tokens. */
  echoLogprobs: boolean;
  /** vLLM's `prompt_logprobs` was given: each choice carries `prompt_logprobs`. */
  vllmPromptLogprobs: boolean;
  /** The field that asked for prompt logprobs (named when the model cannot give them), if any. */
  promptLogprobsField?: 'logprobs' | 'prompt_logprobs';
}

const MAX_PROMPTS = 64;

/** Validates `prompt` into its prompts: texts (still to encode) or token-id lists. */
function promptParts(v: unknown, model: ServedModel): Array<string | number[]> {
  const vocab = model.tokenizer.vocabSize;
  const ids = (list: unknown[], param: string) =>
    list.map((x, j) => checkNumber(x, `${param}[${j}]`, { integer: true, min: 0, max: vocab - 1 }));
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.length === 0) {
    throw invalidRequest(`'prompt' must be a string, an array of strings, or an array of token ids`, 'prompt', 'invalid_type');
  }
  if (v.every((x) => typeof x === 'number')) return [ids(v, 'prompt')];
  if (v.length > MAX_PROMPTS) throw invalidRequest(`'prompt' may hold at most ${MAX_PROMPTS} prompts`, 'prompt');
  return v.map((p, i) => {
    if (typeof p === 'string') return p;
    if (Array.isArray(p)) return ids(p, `prompt[${i}]`);
    throw invalidRequest(`Invalid type for 'prompt[${i}]': expected a string or an array of token ids`, `prompt[${i}]`, 'invalid_type');
  });
}

/** Encodes the text prompts (after the cheap length check of each), keeping token-id prompts as given. */
async function promptTokenLists(parts: Array<string | number[]>, model: ServedModel, deps: AppDeps, maxTokens?: number): Promise<number[][]> {
  const field = (i: number) => (parts.length > 1 ? `prompt[${i}]` : 'prompt');
  parts.forEach((p, i) => typeof p === 'string' && checkPromptBytes(textBytes(p), model, deps.limits, field(i), maxTokens));
  const texts = parts.filter((p): p is string => typeof p === 'string');
  const encoded = await encodeTexts(deps.tokenizerPool, model.tokenizer, texts);
  let next = 0;
  return parts.map((p) => (typeof p === 'string' ? encoded[next++]! : p));
}

/** Validates a completions body (text prompts that cannot fit are refused before encoding). */
export async function parseCompletionRequest(body: Body, deps: AppDeps): Promise<CompletionRequest> {
  const model = findModel(deps, optString(body, 'model'), 'generate');
  if (!has(body, 'prompt')) throw invalidRequest(`Missing required parameter: 'prompt'`, 'prompt');
  if (has(body, 'suffix')) throw invalidRequest(`'suffix' is not supported by this server`, 'suffix', 'unsupported_parameter');
  const parts = promptParts(body.prompt, model);
  const echo = optBool(body, 'echo', false);
  const { echoOnly, body: paramsBody } = echoOnlyRequest(body, echo);
  // OpenAI's legacy completions default to 16 tokens.
  const params = parseGenerationParams({ max_tokens: 16, ...paramsBody }, model, deps.limits, 'completions');
  const best = has(body, 'best_of') ? checkNumber(body.best_of, 'best_of', { integer: true, min: 1 }) : params.n;
  if (best !== params.n) {
    throw invalidRequest(`'best_of' other than n is supported on /v1/chat/completions only`, 'best_of', 'unsupported_parameter');
  }
  const { stream, includeUsage } = parseStreaming(body);
  const lists = await promptTokenLists(parts, model, deps, params.requestedMaxTokens);
  const prompt = promptLogprobsAsked(body, echo, params.sampling.logprobs);
  const generations = lists.map((ids, i) => {
    const g = finalizeRequest(params, ids, model, deps.limits, lists.length > 1 ? `prompt[${i}]` : 'prompt');
    if (echoOnly) g.maxTokens = 0;
    if (prompt.k !== undefined) g.promptLogprobs = prompt.k;
    return g;
  });
  // BOS is a marker, not text: the echo never shows it (other special tokens the prompt holds stay).
  const shown = lists.map((ids) => ids.filter((id) => id !== model.tokenizer.bosTokenId));
  return {
    model,
    generations,
    promptTexts: echo ? await decodeIds(deps.tokenizerPool, model.tokenizer, shown, { skipSpecialTokens: false }) : [],
    echo,
    stream,
    includeUsage,
    logprobs: params.sampling.logprobs !== null,
    echoLogprobs: echo && params.sampling.logprobs !== null,
    vllmPromptLogprobs: prompt.vllm,
    promptLogprobsField: prompt.field,
  };
}

/**
 * `max_tokens: 0` (OpenAI: only with `echo`, the answer is the prompt alone, as scoring clients such as
 * lm-evaluation-harness send): checked here and parsed as 1, the request's maxTokens set to 0 after.
 */
function echoOnlyRequest(body: Body, echo: boolean): { echoOnly: boolean; body: Body } {
  if (body.max_tokens !== 0) return { echoOnly: false, body };
  if (!echo) throw invalidRequest(`'max_tokens' may be 0 only with 'echo': true (the answer is then the prompt alone)`, 'max_tokens');
  if (has(body, 'min_tokens') && body.min_tokens !== 0) {
    throw invalidRequest(`'min_tokens' must be 0 when 'max_tokens' is 0`, 'min_tokens');
  }
  return { echoOnly: true, body: { ...body, max_tokens: 1 } };
}

/** Alternatives per prompt token the engine must compute: the larger of echo's `logprobs` and `prompt_logprobs`. */
function promptLogprobsAsked(body: Body, echo: boolean, logprobs: number | null) {
  const vllmK = parsePromptLogprobs(body);
  const echoK = echo && logprobs !== null ? logprobs : undefined;
  const k = vllmK === undefined ? echoK : Math.max(vllmK, echoK ?? 0);
  const field: 'logprobs' | 'prompt_logprobs' | undefined = vllmK !== undefined ? 'prompt_logprobs' : echoK !== undefined ? 'logprobs' : undefined;
  return { k, vllm: vllmK !== undefined, field };
}
