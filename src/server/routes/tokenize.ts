/**
 * POST /tokenize and POST /detokenize, in vLLM's shapes:
 * - `{model?, prompt, add_special_tokens?=true, return_token_strs?}` or
 *   `{model?, messages, add_generation_prompt?=true, tools?, chat_template_kwargs?, return_token_strs?}`
 *   → `{tokens, count, max_model_len, token_strs?}`. The messages form renders the model's chat template
 *   (whose text already holds the bos token); messages are checked and mapped by chat's own
 *   `parseMessages`, so the count is the one a chat completion would have.
 * - `{model?, tokens}` → `{prompt}`; special tokens are kept, so tokenize → detokenize gives the text back.
 * When `model` is omitted the single generation model is used (or the single model, if none generates).
 * A text too long for the model (its prompt or conversation limit) is a 400 before any tokenizing; a large
 * one is tokenized in the tokenizer pool, and a long /detokenize list decoded there (prompt-tokens.ts).
 */
import type { FastifyInstance } from 'fastify';
import type { AppDeps, ServedModel } from '../deps.ts';
import { invalidRequest } from '../errors.ts';
import { parseMessages } from '../chat-request.ts';
import { checkConversationBytes, checkPromptBytes, decodeIds, encodeChats, encodeTexts, textBytes } from '../prompt-tokens.ts';
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

/**
 * 400 when the text cannot fit what the model takes (a generation model's prompt limit, a reward model's
 * conversation limit), before any tokenizing.
 */
function checkBytes(bytes: number, model: ServedModel, limits: AppDeps['limits'], param: string): void {
  if (model.task === 'reward') checkConversationBytes(bytes, model, param, param === 'prompt' ? 'The prompt' : 'The conversation');
  else checkPromptBytes(bytes, model, limits, param);
}

async function tokenize(model: ServedModel, body: Body, deps: AppDeps): Promise<number[]> {
  const limits = deps.limits;
  const hasPrompt = has(body, 'prompt');
  const hasMessages = has(body, 'messages');
  if (hasPrompt && hasMessages) {
    throw invalidRequest(`Give either 'prompt' or 'messages', not both`, 'messages');
  }
  if (hasPrompt) {
    if (typeof body.prompt !== 'string') {
      throw invalidRequest(`Invalid type for 'prompt': expected a string`, 'prompt', 'invalid_type');
    }
    const encodeOptions = { addSpecialTokens: optBool(body, 'add_special_tokens', true) };
    checkBytes(textBytes(body.prompt), model, limits, 'prompt');
    const [ids] = await encodeTexts(deps.tokenizerPool, model.tokenizer, [body.prompt], encodeOptions);
    return ids!;
  }
  if (!hasMessages) throw invalidRequest(`Either 'prompt' or 'messages' is required`, 'prompt', 'missing_required_parameter');
  const messages = parseMessages(body.messages, limits.maxMessages);
  // Tools are checked as chat completions check them before they reach the template.
  checkCount(body.tools, limits.maxTools, 'tools', 'tools');
  const tools = validateTools(body.tools);
  if (has(body, 'chat_template_kwargs') && !isObject(body.chat_template_kwargs)) {
    throw invalidRequest(`Invalid type for 'chat_template_kwargs': expected an object`, 'chat_template_kwargs', 'invalid_type');
  }
  const templateOptions = {
    addGenerationPrompt: optBool(body, 'add_generation_prompt', true),
    // An empty list means no tools, as in chat (the Llama 3.1 template would render an empty tool block).
    tools: tools.length > 0 ? tools : undefined,
    templateKwargs: has(body, 'chat_template_kwargs') ? (body.chat_template_kwargs as Record<string, unknown>) : undefined,
  };
  checkBytes(model.tokenizer.chatTextMinBytes(messages, templateOptions), model, limits, 'messages');
  const [ids] = await encodeChats(deps.tokenizerPool, model.tokenizer, [messages], templateOptions);
  return ids!;
}

/** Registers /tokenize and /detokenize. */
export function registerTokenizeRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/tokenize', async (req): Promise<TokenizeResponse> => {
    const body = asBody(req.body);
    const model = modelOf(deps, body);
    const tokens = await tokenize(model, body, deps);
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
    const [prompt] = await decodeIds(deps.tokenizerPool, model.tokenizer, [tokens], { skipSpecialTokens: false });
    return { prompt };
  });
}
