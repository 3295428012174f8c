/**
 * POST /v1/chat/completions wire body → validated request: messages checked and normalized for the chat
 * template, unsupported features refused with a 400 that says so, the prompt rendered and tokenized, and
 * the generation fields mapped (generation-params.ts).
 */
import type { GenerationRequest } from '../runtime/types.ts';
import type { ChatMessage } from '../tokenizer/index.ts';
import type { AppDeps, GenerateModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { finalizeRequest, parseGenerationParams } from './generation-params.ts';
import { checkPromptBytes, encodeChats } from './prompt-tokens.ts';
import { parsePromptLogprobs } from './prompt-logprobs.ts';
import { findModel } from './registry.ts';
import { type Body, checkCount, has, optBool, optString, parseStreaming } from './validate.ts';
import { responseFormatConstraint, toolCallConstraint, validateToolChoice, validateTools } from './tools/index.ts';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

/** A validated chat request. */
export interface ChatRequest {
  model: GenerateModel;
  /** The validated messages, as rendered (for reward scoring of best_of candidates). */
  messages: ChatMessage[];
  generation: GenerationRequest;
  stream: boolean;
  includeUsage: boolean;
  /** Whether logprobs were asked for (chat style). */
  logprobs: boolean;
  /**
   * Declared function names when the output should be parsed for tool calls (tools given and
   * tool_choice not "none"); undefined otherwise.
   */
  toolNames?: string[];
  /** `parallel_tool_calls: false`: at most this many calls (1) are returned. */
  maxToolCalls?: number;
}

function checkContent(content: unknown, i: number, role: string): ChatMessage['content'] {
  const param = `messages[${i}].content`;
  if (content === undefined || content === null) {
    if (role === 'assistant') return null;
    throw invalidRequest(`Missing required parameter: '${param}'`, param);
  }
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw invalidRequest(`Invalid type for '${param}': expected a string or an array of content parts`, param, 'invalid_type');
  }
  if (content.length === 0) throw invalidRequest(`'${param}' must contain at least one content part`, param);
  content.forEach((part: unknown, j: number) => {
    const p = part as { type?: unknown; text?: unknown } | null;
    if (!p || typeof p !== 'object' || p.type !== 'text') {
      const t = p && typeof p === 'object' ? String(p.type) : typeof part;
      throw invalidRequest(`Content part type '${t}' is not supported: only 'text' parts are`, `${param}[${j}].type`);
    }
    if (typeof p.text !== 'string') {
      throw invalidRequest(`Invalid type for '${param}[${j}].text': expected a string`, `${param}[${j}].text`, 'invalid_type');
    }
  });
  return content as ChatMessage['content'];
}

/** An optional field that must be a string when present. */
function optionalString(obj: Record<string, unknown>, key: string, param: string): string | undefined {
  if (!has(obj, key) || obj[key] === null) return undefined;
  if (typeof obj[key] !== 'string') throw invalidRequest(`Invalid type for '${param}': expected a string`, param, 'invalid_type');
  return obj[key] as string;
}

/**
 * Tool calls as the chat template wants them: `function.arguments` parsed from OpenAI's JSON string.
 * As OpenAI's: `id` a string, `type` "function", `function.name` a string, `function.arguments` a JSON string.
 */
function checkToolCalls(v: unknown, i: number): ChatMessage['tool_calls'] {
  const param = `messages[${i}].tool_calls`;
  if (!Array.isArray(v)) throw invalidRequest(`Invalid type for '${param}': expected an array`, param, 'invalid_type');
  return v.map((c: unknown, j: number) => {
    const at = `${param}[${j}]`;
    if (!c || typeof c !== 'object' || Array.isArray(c)) throw invalidRequest(`Invalid type for '${at}': expected an object`, at, 'invalid_type');
    const call = c as Record<string, unknown>;
    optionalString(call, 'id', `${at}.id`);
    if (has(call, 'type') && call.type !== 'function') {
      throw invalidRequest(`Invalid value for '${at}.type': ${JSON.stringify(call.type)}; expected "function"`, `${at}.type`);
    }
    const fn = call.function as Record<string, unknown> | undefined;
    if (!fn || typeof fn !== 'object' || typeof fn.name !== 'string') throw invalidRequest(`'${at}.function.name' is required`, `${at}.function.name`);
    const raw = fn.arguments ?? '{}';
    if (typeof raw !== 'string') {
      throw invalidRequest(`Invalid type for '${at}.function.arguments': expected a JSON string`, `${at}.function.arguments`, 'invalid_type');
    }
    let args: unknown;
    try {
      args = JSON.parse(raw || '{}');
    } catch {
      throw invalidRequest(`'${at}.function.arguments' is not valid JSON`, `${at}.function.arguments`);
    }
    return { ...call, function: { name: fn.name, arguments: args } } as NonNullable<ChatMessage['tool_calls']>[number];
  });
}

/** Validates `messages` (at most `max`) and maps them to the template's shape ('developer' is rendered as 'system'). */
export function parseMessages(v: unknown, max = Infinity): ChatMessage[] {
  if (!Array.isArray(v)) throw invalidRequest(`Invalid type for 'messages': expected an array`, 'messages', 'invalid_type');
  if (v.length === 0) throw invalidRequest(`'messages' must contain at least one message`, 'messages');
  checkCount(v, max, 'messages', 'messages');
  return v.map((m: unknown, i: number) => {
    if (!m || typeof m !== 'object' || Array.isArray(m)) {
      throw invalidRequest(`Invalid type for 'messages[${i}]': expected an object`, `messages[${i}]`, 'invalid_type');
    }
    const msg = m as Record<string, unknown>;
    if (typeof msg.role !== 'string' || !ROLES.has(msg.role)) {
      throw invalidRequest(
        `Invalid value for 'messages[${i}].role': ${JSON.stringify(msg.role)}; expected one of ${[...ROLES].join(', ')}`,
        `messages[${i}].role`,
      );
    }
    const name = optionalString(msg, 'name', `messages[${i}].name`);
    const toolCallId = optionalString(msg, 'tool_call_id', `messages[${i}].tool_call_id`);
    if (msg.role === 'tool' && toolCallId === undefined) {
      throw invalidRequest(`Missing required parameter: 'messages[${i}].tool_call_id'`, `messages[${i}].tool_call_id`);
    }
    const out: ChatMessage = {
      role: msg.role === 'developer' ? 'system' : msg.role,
      content: checkContent(msg.content, i, msg.role),
      ...(name !== undefined ? { name } : {}),
      ...(has(msg, 'tool_calls') && msg.tool_calls !== null && msg.role === 'assistant' ? { tool_calls: checkToolCalls(msg.tool_calls, i) } : {}),
      ...(toolCallId !== undefined ? { tool_call_id: toolCallId } : {}),
    };
    if (out.content === null && !out.tool_calls) {
      throw invalidRequest(`Missing required parameter: 'messages[${i}].content'`, `messages[${i}].content`);
    }
    return out;
  });
}

/**
 * Validates a chat body and renders its prompt (a prompt that cannot fit is refused before rendering;
 * a large one is rendered and encoded in the tokenizer pool).
 */
export async function parseChatRequest(body: Body, deps: AppDeps): Promise<ChatRequest> {
  const model = findModel(deps, optString(body, 'model'), 'generate');
  if (!has(body, 'messages')) throw invalidRequest(`Missing required parameter: 'messages'`, 'messages');
  const messages = parseMessages(body.messages, deps.limits.maxMessages);
  checkCount(body.tools, deps.limits.maxTools, 'tools', 'tools');
  const tools = validateTools(body.tools);
  if (has(body, 'chat_template_kwargs') && (typeof body.chat_template_kwargs !== 'object' || body.chat_template_kwargs === null || Array.isArray(body.chat_template_kwargs))) {
    throw invalidRequest(`Invalid type for 'chat_template_kwargs': expected an object`, 'chat_template_kwargs', 'invalid_type');
  }
  const choice = validateToolChoice(body.tool_choice, tools);
  // A forced tool call (tool_choice "required" or a named function) wins over response_format.
  const constraint = toolCallConstraint(tools, choice) ?? responseFormatConstraint(body.response_format);
  optString(body, 'user');
  const params = parseGenerationParams(body, model, deps.limits, 'chat');
  const kwargs = body.chat_template_kwargs;
  const useTools = tools.length > 0 && choice.type !== 'none';
  const templateOptions = {
    addGenerationPrompt: optBool(body, 'add_generation_prompt', true),
    ...(useTools ? { tools } : {}),
    templateKwargs: kwargs && typeof kwargs === 'object' && !Array.isArray(kwargs) ? (kwargs as Record<string, unknown>) : undefined,
  };
  checkPromptBytes(model.tokenizer.chatTextMinBytes(messages, templateOptions), model, deps.limits, 'messages', params.requestedMaxTokens);
  const [promptIds] = await encodeChats(deps.tokenizerPool, model.tokenizer, [messages], templateOptions);
  const generation = finalizeRequest(params, promptIds!, model, deps.limits, 'messages');
  if (constraint) generation.constraint = constraint;
  // vLLM's prompt_logprobs: answered whole, as a top-level field (not in streamed chunks).
  const promptLogprobs = parsePromptLogprobs(body);
  if (promptLogprobs !== undefined) {
    if (optBool(body, 'stream', false)) throw invalidRequest(`'prompt_logprobs' is not available with 'stream': ask for them without streaming`, 'prompt_logprobs');
    generation.promptLogprobs = promptLogprobs;
  }
  return {
    model,
    messages,
    generation,
    ...parseStreaming(body),
    logprobs: generation.sampling.logprobs !== null,
    toolNames: useTools ? tools.map((t) => t.function.name) : undefined,
    ...(optBool(body, 'parallel_tool_calls', true) ? {} : { maxToolCalls: 1 }),
  };
}
