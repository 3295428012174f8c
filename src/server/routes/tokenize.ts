/**
 * POST /tokenize and POST /detokenize, in vLLM's shapes:
 * - `{model?, prompt, add_special_tokens?=true, return_token_strs?}` or
 *   `{model?, messages, add_generation_prompt?=true, tools?, chat_template_kwargs?, return_token_strs?}`
 *   → `{tokens, count, max_model_len, token_strs?}`. The messages form renders the model's chat template
 *   (whose text already holds the bos token), exactly as a chat completion would count its prompt.
 * - `{model?, tokens}` → `{prompt}`; special tokens are kept, so tokenize → detokenize gives the text back.
 * When `model` is omitted the single generation model is used (or the single model, if none generates).
 */
import type { FastifyInstance } from 'fastify';
import type { ChatMessage } from '../../tokenizer/index.ts';
import type { AppDeps, ServedModel } from '../deps.ts';
import { invalidRequest } from '../errors.ts';
import { findModel } from '../registry.ts';
import { asBody, has, optBool, tokenIdList, type Body } from '../validate.ts';

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

/** OpenAI tool calls carry `arguments` as a JSON string; chat templates expect an object. */
function toolCalls(value: unknown, param: string): Array<Record<string, unknown>> {
  if (!Array.isArray(value)) throw invalidRequest(`Invalid type for '${param}': expected an array`, param, 'invalid_type');
  return value.map((call, j) => {
    const at = `${param}[${j}]`;
    if (!isObject(call)) throw invalidRequest(`Invalid type for '${at}': expected an object`, at, 'invalid_type');
    const fn = call.function;
    if (!isObject(fn) || typeof fn.arguments !== 'string') return call;
    try {
      return { ...call, function: { ...fn, arguments: JSON.parse(fn.arguments) as unknown } };
    } catch {
      throw invalidRequest(`'${at}.function.arguments' is not valid JSON`, `${at}.function.arguments`);
    }
  });
}

/** Checks the wire messages' shape; the chat template rejects what it cannot render. */
function chatMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value)) {
    throw invalidRequest(`Invalid type for 'messages': expected an array of messages`, 'messages', 'invalid_type');
  }
  if (value.length === 0) throw invalidRequest(`'messages' must hold at least one message`, 'messages');
  return value.map((m, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw invalidRequest(`Invalid type for '${at}': expected an object`, at, 'invalid_type');
    if (typeof m.role !== 'string' || m.role === '') {
      throw invalidRequest(`'${at}.role' is required and must be a string`, `${at}.role`);
    }
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      throw invalidRequest(`Invalid type for '${at}.content': expected a string or an array of content parts`, `${at}.content`, 'invalid_type');
    }
    return has(m, 'tool_calls') ? { ...m, tool_calls: toolCalls(m.tool_calls, `${at}.tool_calls`) } : m;
  }) as ChatMessage[];
}

function tokenize(model: ServedModel, body: Body): number[] {
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
  const messages = chatMessages(body.messages);
  if (has(body, 'tools') && !Array.isArray(body.tools)) {
    throw invalidRequest(`Invalid type for 'tools': expected an array`, 'tools', 'invalid_type');
  }
  if (has(body, 'chat_template_kwargs') && !isObject(body.chat_template_kwargs)) {
    throw invalidRequest(`Invalid type for 'chat_template_kwargs': expected an object`, 'chat_template_kwargs', 'invalid_type');
  }
  return model.tokenizer.encodeChat(messages, {
    addGenerationPrompt: optBool(body, 'add_generation_prompt', true),
    tools: has(body, 'tools') ? (body.tools as unknown[]) : undefined,
    templateKwargs: has(body, 'chat_template_kwargs') ? (body.chat_template_kwargs as Record<string, unknown>) : undefined,
  });
}

/** Registers /tokenize and /detokenize. */
export function registerTokenizeRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/tokenize', async (req): Promise<TokenizeResponse> => {
    const body = asBody(req.body);
    const model = modelOf(deps, body);
    const tokens = tokenize(model, body);
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
