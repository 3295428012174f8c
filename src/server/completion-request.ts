/**
 * POST /v1/completions wire body → validated requests, one per prompt (`prompt` may be a string, a list
 * of strings, a list of token ids, or a list of such lists).
 */
import type { GenerationRequest } from '../runtime/types.ts';
import type { AppDeps, GenerateModel, ServedModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { finalizeRequest, parseGenerationParams } from './generation-params.ts';
import { checkPromptBytes, decodeIds, encodeTexts, textBytes } from './prompt-tokens.ts';
import { findModel } from './registry.ts';
import { type Body, checkNumber, has, optBool, optString, parseStreaming } from './validate.ts';

/** A validated text-completion request. */
export interface CompletionRequest {
  model: GenerateModel;
  /** One engine request per prompt; choice index = prompt index × n + sequence index. */
  generations: GenerationRequest[];
  /** Prompt texts, for `echo` (empty without it: decoding a long prompt is not free). */
  promptTexts: string[];
  echo: boolean;
  stream: boolean;
  includeUsage: boolean;
  logprobs: boolean;
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
  // OpenAI's legacy completions default to 16 tokens.
  const params = parseGenerationParams({ max_tokens: 16, ...body }, model, deps.limits, 'completions');
  const best = has(body, 'best_of') ? checkNumber(body.best_of, 'best_of', { integer: true, min: 1 }) : params.n;
  if (best !== params.n) {
    throw invalidRequest(`'best_of' other than n is supported on /v1/chat/completions only`, 'best_of', 'unsupported_parameter');
  }
  const { stream, includeUsage } = parseStreaming(body);
  const echo = optBool(body, 'echo', false);
  const lists = await promptTokenLists(parts, model, deps, params.requestedMaxTokens);
  const generations = lists.map((ids, i) => finalizeRequest(params, ids, model, deps.limits, lists.length > 1 ? `prompt[${i}]` : 'prompt'));
  return {
    model,
    generations,
    promptTexts: echo ? await decodeIds(deps.tokenizerPool, model.tokenizer, lists, { skipSpecialTokens: false }) : [],
    echo,
    stream,
    includeUsage,
    logprobs: params.sampling.logprobs !== null,
  };
}
