/**
 * POST /v1/responses body → the chat-completions body that parseChatRequest validates, so the Responses
 * API shares chat's validation, template rendering, tool definitions and constrained decoding instead of
 * copying them:
 *
 *   instructions                   → a leading system message (never carried over by previous_response_id)
 *   input (string)                 → one user message
 *   input[i] message               → a message (`input_text` / `output_text` parts → text parts)
 *   input[i] function_call         → an assistant message with `tool_calls` (consecutive calls merge)
 *   input[i] function_call_output  → a `tool` message
 *   input[i] item_reference        → the stored output item it names, converted as above
 *   tools (flat)                   → nested chat tools;  tool_choice {type, name} → {type, function: {name}}
 *   text.format                    → response_format;    max_output_tokens → max_completion_tokens
 *
 * Errors that chat's code raises name chat's fields; {@link ParamMap} renames them to this request's
 * (`messages[3].content` → `input[2].content`, `max_completion_tokens` → `max_output_tokens`, …).
 */
import { ApiError, invalidRequest, toApiError } from '../errors.ts';
import { type Body, has, optBool, optString } from '../validate.ts';
import type { ResponseEcho } from './build.ts';

/** A chat message in wire shape (what parseChatRequest reads). */
export type WireMessage = Record<string, unknown>;

/** Fields passed through unchanged: the Responses API's sampling fields and vLLM's extensions. */
const PASSTHROUGH = [
  'model', 'temperature', 'top_p', 'parallel_tool_calls', 'user', 'seed', 'top_k', 'min_p', 'repetition_penalty',
  'presence_penalty', 'frequency_penalty', 'ignore_eos', 'cache_salt', 'stop', 'min_tokens',
];

const MESSAGE_ROLES = new Set(['user', 'system', 'developer', 'assistant']);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Renames chat field names in errors to the Responses request's. */
export class ParamMap {
  /** `origins[k]`: where chat message k came from (`input[2]`, `instructions`, `previous_response_id`). */
  constructor(private readonly origins: string[]) {}

  /** The Responses field for a chat field. */
  param(chatParam: string): string {
    const m = /^messages\[(\d+)\](.*)$/.exec(chatParam);
    if (m) {
      const origin = this.origins[Number(m[1])] ?? 'input';
      return origin.startsWith('input[') ? origin + m[2] : origin;
    }
    if (chatParam === 'messages') return 'input';
    if (chatParam === 'max_completion_tokens' || chatParam === 'max_tokens') return 'max_output_tokens';
    if (chatParam.startsWith('response_format.json_schema.')) return 'text.format.' + chatParam.slice('response_format.json_schema.'.length);
    if (chatParam === 'response_format.json_schema') return 'text.format';
    if (chatParam.startsWith('response_format')) return 'text.format' + chatParam.slice('response_format'.length);
    if (chatParam === 'tool_choice.function.name') return 'tool_choice.name';
    return chatParam.replace(/^tools\[(\d+)\]\.function\b/, 'tools[$1]');
  }

  /** The error with its field (and the field's name in its message) renamed; other errors as they are. */
  translate(err: unknown): unknown {
    // Library errors (template, engine) are mapped first; server faults pass unchanged, to be logged.
    const apiErr = toApiError(err);
    if (apiErr.status >= 500 || apiErr.param === null) return err;
    const param = this.param(apiErr.param);
    if (param === apiErr.param) return err;
    let message = apiErr.message.split(`'${apiErr.param}'`).join(`'${param}'`);
    // Chat's sentences about the prompt say "messages"; this request's prompt is its input.
    if (apiErr.param === 'messages') message = message.replace(/\bmessages\b/g, 'input');
    return new ApiError(apiErr.status, message, apiErr.type, param, apiErr.code, apiErr.headers);
  }
}

/** Text of a message's content parts (`input_text`, `output_text`, `text`); other kinds are refused. */
function contentParts(content: unknown, at: string): unknown {
  if (typeof content === 'string' || !Array.isArray(content)) return content; // chat's checks name the rest
  return content.map((part: unknown, j: number) => {
    if (!isObject(part)) throw invalidRequest(`Invalid type for '${at}[${j}]': expected an object`, `${at}[${j}]`, 'invalid_type');
    if (part.type === 'input_text' || part.type === 'output_text' || part.type === 'text') {
      if (typeof part.text !== 'string') throw invalidRequest(`Invalid type for '${at}[${j}].text': expected a string`, `${at}[${j}].text`, 'invalid_type');
      return { type: 'text', text: part.text };
    }
    if (part.type === 'refusal' && typeof part.refusal === 'string') return { type: 'text', text: part.refusal };
    throw invalidRequest(
      `Content part type ${JSON.stringify(part.type)} is not supported: only 'input_text' and 'output_text' parts are`,
      `${at}[${j}].type`,
    );
  });
}

function requiredString(item: Record<string, unknown>, key: string, at: string): string {
  if (typeof item[key] !== 'string') {
    throw invalidRequest(
      has(item, key) ? `Invalid type for '${at}.${key}': expected a string` : `Missing required parameter: '${at}.${key}'`,
      `${at}.${key}`,
      has(item, key) ? 'invalid_type' : 'missing_required_parameter',
    );
  }
  return item[key] as string;
}

/** The text of a function_call_output's `output` (a string, or text parts). */
function outputText(output: unknown, at: string): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) {
    return (contentParts(output, at) as Array<{ text: string }>).map((p) => p.text).join('');
  }
  throw invalidRequest(`Invalid type for '${at}': expected a string or an array of text parts`, at, 'invalid_type');
}

/** Looks up an output item of a stored response by its id (`msg_…`, `fc_…`); undefined when unknown. */
export type ItemResolver = (id: string) => Record<string, unknown> | undefined;

/** The stored item an `item_reference` names, or a 404 naming its id. */
function referenced(ref: Body, at: string, resolve: ItemResolver): Record<string, unknown> {
  const id = requiredString(ref, 'id', at);
  const item = resolve(id);
  if (!item) throw new ApiError(404, `Item with id '${id}' not found.`, 'invalid_request_error', `${at}.id`, 'not_found');
  return item;
}

/** Input (or stored output) items → chat messages, with the item each message came from. */
export function itemsToMessages(
  items: unknown,
  base = 'input',
  resolve: ItemResolver = () => undefined,
): { messages: WireMessage[]; origins: string[] } {
  if (typeof items === 'string') return { messages: [{ role: 'user', content: items }], origins: [base] };
  if (!Array.isArray(items)) throw invalidRequest(`Invalid type for '${base}': expected a string or an array of input items`, base, 'invalid_type');
  const messages: WireMessage[] = [];
  const origins: string[] = [];
  let calls: unknown[] | undefined; // tool_calls of the assistant message the last function_call went into
  items.forEach((given: unknown, i: number) => {
    const at = `${base}[${i}]`;
    const item = given !== null && typeof given === 'object' && (given as Body).type === 'item_reference' ? referenced(given as Body, at, resolve) : given;
    if (!isObject(item)) throw invalidRequest(`Invalid type for '${at}': expected an object`, at, 'invalid_type');
    const type = item.type ?? (has(item, 'role') ? 'message' : undefined);
    if (type === 'function_call') {
      const call = { id: requiredString(item, 'call_id', at), type: 'function', function: { name: requiredString(item, 'name', at), arguments: requiredString(item, 'arguments', at) } };
      if (calls) calls.push(call);
      else {
        calls = [call];
        messages.push({ role: 'assistant', content: null, tool_calls: calls });
        origins.push(at);
      }
      return;
    }
    calls = undefined;
    if (type === 'message') {
      if (typeof item.role !== 'string' || !MESSAGE_ROLES.has(item.role)) {
        throw invalidRequest(
          `Invalid value for '${at}.role': ${JSON.stringify(item.role)}; expected one of ${[...MESSAGE_ROLES].join(', ')}`,
          `${at}.role`,
        );
      }
      messages.push({ role: item.role, content: contentParts(item.content, `${at}.content`) });
    } else if (type === 'function_call_output') {
      messages.push({ role: 'tool', tool_call_id: requiredString(item, 'call_id', at), content: outputText(item.output, `${at}.output`) });
    } else if (type === 'reasoning') {
      return; // reasoning items are accepted and ignored (this model has none)
    } else {
      throw invalidRequest(
        `Input item type ${JSON.stringify(type)} is not supported: 'message', 'function_call', 'function_call_output' and 'item_reference' are`,
        `${at}.type`,
      );
    }
    origins.push(at);
  });
  return { messages, origins };
}

/** Flat Responses function tools → chat tools; other tool types are refused. */
function convertTools(tools: unknown): unknown {
  if (!Array.isArray(tools)) return tools; // chat's validation names the wrong type
  return tools.map((tool: unknown, i: number) => {
    if (!isObject(tool)) return tool;
    if (tool.type !== 'function') {
      throw invalidRequest(`Tool type ${JSON.stringify(tool.type)} is not supported: only 'function' tools are`, `tools[${i}].type`);
    }
    if (isObject(tool.function)) return tool; // already in chat's nested shape
    const { type: _type, ...fn } = tool;
    void _type;
    return { type: 'function', function: fn };
  });
}

/** Responses tool_choice → chat's. */
function convertToolChoice(choice: unknown): unknown {
  if (!isObject(choice)) return choice;
  if (choice.type === 'function' && typeof choice.name === 'string') return { type: 'function', function: { name: choice.name } };
  if (choice.type === 'function' && isObject(choice.function)) return choice;
  throw invalidRequest(
    `Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {"type": "function", "name": ...}`,
    'tool_choice',
  );
}

/** `text.format` → `response_format` (undefined: plain text). */
function convertTextFormat(text: unknown): unknown {
  if (text === undefined || text === null) return undefined;
  if (!isObject(text)) throw invalidRequest(`Invalid type for 'text': expected an object`, 'text', 'invalid_type');
  const format = text.format;
  if (format === undefined || format === null) return undefined;
  if (!isObject(format)) throw invalidRequest(`Invalid type for 'text.format': expected an object`, 'text.format', 'invalid_type');
  if (format.type !== 'json_schema') return format;
  const { type: _type, ...schema } = format;
  void _type;
  return { type: 'json_schema', json_schema: schema };
}

/** What a Responses request became. */
export interface ConvertedRequest {
  /** The chat-completions body for parseChatRequest. */
  chatBody: Body;
  /** This request's own input as chat messages (without instructions), for the store. */
  inputMessages: WireMessage[];
  params: ParamMap;
}

/**
 * Builds the chat body of a Responses request. `previous` is the stored conversation that
 * `previous_response_id` continues (already looked up), or empty; `resolve` finds the stored items that
 * `item_reference` items name.
 */
export function convertRequest(body: Body, previous: WireMessage[], resolve?: ItemResolver): ConvertedRequest {
  // Server-side conversations and stored prompts would change what the model sees: refused, not ignored.
  for (const key of ['conversation', 'prompt']) {
    if (has(body, key)) throw invalidRequest(`'${key}' is not supported by this server; send the items as 'input' (or use 'previous_response_id')`, key);
  }
  if (!has(body, 'input')) throw invalidRequest(`Missing required parameter: 'input'`, 'input', 'missing_required_parameter');
  const input = itemsToMessages(body.input, 'input', resolve);
  const instructions = optString(body, 'instructions');
  const head: WireMessage[] = instructions === undefined ? [] : [{ role: 'system', content: instructions }];
  const origins = [...head.map(() => 'instructions'), ...previous.map(() => 'previous_response_id'), ...input.origins];
  const chatBody: Body = { messages: [...head, ...previous, ...input.messages] };
  for (const key of PASSTHROUGH) if (has(body, key)) chatBody[key] = body[key];
  if (has(body, 'tools')) chatBody.tools = convertTools(body.tools);
  if (has(body, 'tool_choice')) chatBody.tool_choice = convertToolChoice(body.tool_choice);
  const format = convertTextFormat(body.text);
  if (format !== undefined) chatBody.response_format = format;
  if (has(body, 'max_output_tokens')) chatBody.max_completion_tokens = body.max_output_tokens;
  optBool(body, 'stream', false);
  return { chatBody, inputMessages: input.messages, params: new ParamMap(origins) };
}

/** The request fields a response echoes, in the Responses shape (read after parseChatRequest validated them). */
export function responseEcho(body: Body, model: string, store: boolean): ResponseEcho {
  if (has(body, 'metadata') && !isObject(body.metadata)) {
    throw invalidRequest(`Invalid type for 'metadata': expected an object of strings`, 'metadata', 'invalid_type');
  }
  const tools = Array.isArray(body.tools) ? (body.tools as Array<Record<string, unknown>>) : [];
  const choice = body.tool_choice;
  const format = isObject(body.text) && isObject(body.text.format) ? body.text.format : { type: 'text' };
  return {
    model,
    instructions: optString(body, 'instructions') ?? null,
    max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
    metadata: has(body, 'metadata') ? (body.metadata as Record<string, string>) : null,
    parallel_tool_calls: optBool(body, 'parallel_tool_calls', true),
    previous_response_id: optString(body, 'previous_response_id') ?? null,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    top_p: typeof body.top_p === 'number' ? body.top_p : 1,
    text: { format: format as ResponseEcho['text']['format'] },
    tool_choice: isObject(choice)
      ? { type: 'function', name: String(choice.name ?? (choice.function as { name?: unknown } | undefined)?.name) }
      : ((choice as 'none' | 'auto' | 'required' | undefined) ?? 'auto'),
    tools: tools.map((t) => {
      const fn = isObject(t.function) ? t.function : t;
      return {
        type: 'function' as const,
        name: String(fn.name),
        description: typeof fn.description === 'string' ? fn.description : null,
        parameters: isObject(fn.parameters) ? fn.parameters : null,
        strict: typeof fn.strict === 'boolean' ? fn.strict : null,
      };
    }),
    store,
    ...(typeof body.user === 'string' ? { user: body.user } : {}),
  };
}
