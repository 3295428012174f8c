/**
 * POST /tokenize and POST /detokenize, in vLLM's shapes:
 * - `{model?, prompt, add_special_tokens?=true, return_token_strs?}` or
 *   `{model?, messages, add_generation_prompt?=true, tools?, chat_template_kwargs?, return_token_strs?}`
 *   → `{tokens, count, max_model_len, token_strs?}`. The messages form renders the model's chat template
 *   (whose text already holds the bos token); messages are checked and mapped by chat's own
 *   `parseMessages`, so the count is the one a chat completion would have.
 * - `{model?, tokens}` → `{prompt}`; special tokens are kept, so tokenize → detokenize gives the text back.
 * When `model` is omitted the single generation model is used (or the single model, if none generates).
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps, ServedModel } from '../deps.ts';
import { invalidRequest } from '../errors.ts';
import { parseMessages } from '../chat-request.ts';
import { findModel } from '../registry.ts';
import { asBody, checkCount, has, optBool, tokenIdList, type Body } from '../validate.ts';
import { validateTools } from '../tools/index.ts';

/** Answer of /tokenize. */
export interface TokenizeResponse {
  tokens: number[];
  count: number;
  max_model_len: number;
  token_strs?: Array<string | null>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The model a tokenizer request names, defaulting to the generation model. */
function modelOf(deps: AppDeps, body: Body): ServedModel {
  if (has(body, 'model')) return findModel(deps, body.model);
  const task = deps.models.some((m) => m.task === 'generate') ? 'generate' : undefined;
  return findModel(deps, undefined, task);
}

function tokenize(model: ServedModel, body: Body, limits: AppDeps['limits']): number[] {
  const hasPrompt = has(body, 'prompt');
  const hasMessages = has(body, 'messages');
  if (hasPrompt && hasMessages) {
    throw invalidRequest(`Give either 'prompt' or 'messages', not both`, 'messages');
  }
  if (hasPrompt) {
    if (typeof body.prompt !== 'string') {
      throw invalidRequest(`Invalid type for 'prompt': expected a string`, 'prompt', 'invalid_type');
    }
    return model.tokenizer.encode(body.prompt, { addSpecialTokens: optBool(body, 'add_special_tokens', true) });
  }
  if (!hasMessages) throw invalidRequest(`Either 'prompt' or 'messages' is required`, 'prompt', 'missing_required_parameter');
  const messages = parseMessages(body.messages, limits.maxMessages);
  // Tools are checked as chat completions check them before they reach the template.
  checkCount(body.tools, limits.maxTools, 'tools', 'tools');
  const tools = validateTools(body.tools);
  if (has(body, 'chat_template_kwargs') && !isObject(body.chat_template_kwargs)) {
    throw invalidRequest(`Invalid type for 'chat_template_kwargs': expected an object`, 'chat_template_kwargs', 'invalid_type');
  }
  return model.tokenizer.encodeChat(messages, {
    addGenerationPrompt: optBool(body, 'add_generation_prompt', true),
    // An empty list means no tools, as in chat (the Llama 3.1 template would render an empty tool block).
    tools: tools.length > 0 ? tools : undefined,
    templateKwargs: has(body, 'chat_template_kwargs') ? (body.chat_template_kwargs as Record<string, unknown>) : undefined,
  });
}

/** Registers /tokenize and /detokenize. */
export function registerTokenizeRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/tokenize', async (req): Promise<TokenizeResponse> => {
    const body = asBody(req.body);
    const model = modelOf(deps, body);
    const tokens = tokenize(model, body, deps.limits);
    const out: TokenizeResponse = { tokens, count: tokens.length, max_model_len: model.contextLength };
    if (optBool(body, 'return_token_strs', false)) {
      out.token_strs = tokens.map((id) => model.tokenizer.idToToken(id) ?? null);
    }
    return out;
  });

  app.post('/detokenize', async (req) => {
    const body = asBody(req.body);
    const model = modelOf(deps, body);
    if (!has(body, 'tokens')) throw invalidRequest(`'tokens' is required`, 'tokens', 'missing_required_parameter');
    const tokens = tokenIdList(body, 'tokens', model.tokenizer.vocabSize);
    return { prompt: model.tokenizer.decode(tokens, { skipSpecialTokens: false }) };
  });
}
