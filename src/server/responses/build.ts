/**
 * Response objects and stream events of the Responses API, shaped as the `openai` package's `Response`
 * and `ResponseStreamEvent` types (a test checks the assignment).
 *
 * One {@link ResponseAssembler} serves both modes: the non-streamed answer is the assembler fed the
 * whole text at once with its events dropped, so a stream always assembles to the non-streamed answer.
 * Output items, in the order the model wrote them:
 *
 *   message        — text: output_item.added, content_part.added, output_text.delta…, output_text.done,
 *                    content_part.done, output_item.done
 *   function_call  — a Llama 3.1 JSON tool call (tools offered, parsed by tools/parse.ts):
 *                    output_item.added, function_call_arguments.delta…, function_call_arguments.done,
 *                    output_item.done
 *
 * An item is opened at its first text and closed when an item of another kind starts or at the end.
 * The stream opens with response.created and response.in_progress and ends with response.completed
 * (response.incomplete at max_output_tokens), or after an error with `error` then response.failed.
 */
import type { ApiError } from '../errors.ts';
import { responseId } from '../generation-service.ts';
import { ToolCallStreamParser, type ToolStreamEvent } from '../tools/index.ts';

/** An `output_text` content part. */
export interface OutputText {
  type: 'output_text';
  text: string;
  annotations: never[];
  logprobs: never[];
}

/** A message output item. */
export interface MessageItem {
  type: 'message';
  id: string;
  role: 'assistant';
  status: ItemStatus;
  content: OutputText[];
}

/** A function_call output item. */
export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ItemStatus;
}

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';
/** An output item. */
export type OutputItem = MessageItem | FunctionCallItem;

/** The Responses API's usage block. */
export interface ResponseUsage {
  input_tokens: number;
  /** `cache_write_tokens` is 0: whether the prompt stays cached is the engine's business (and may be off). */
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** `text.format` as echoed. */
export type TextFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict?: boolean | null; description?: string };

/** Request fields a response echoes back (fixed when the request is parsed). */
export interface ResponseEcho {
  model: string;
  instructions: string | null;
  max_output_tokens: number | null;
  metadata: Record<string, string> | null;
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  temperature: number;
  top_p: number;
  text: { format: TextFormat };
  tool_choice: 'none' | 'auto' | 'required' | { type: 'function'; name: string };
  tools: Array<{ type: 'function'; name: string; description: string | null; parameters: Record<string, unknown> | null; strict: boolean | null }>;
  store: boolean;
  user?: string;
}

/** A response object (the SDK adds `output_text` on the client). */
export interface ResponseObject extends ResponseEcho {
  id: string;
  object: 'response';
  created_at: number;
  status: 'in_progress' | 'completed' | 'incomplete' | 'failed';
  error: { code: 'server_error' | 'rate_limit_exceeded' | 'invalid_prompt'; message: string } | null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  output: OutputItem[];
  usage?: ResponseUsage;
  truncation: 'disabled';
}

/** Where a content part is. */
interface PartPlace {
  item_id: string;
  output_index: number;
  content_index: number;
}

/** The fields of each stream event, by type (besides `type` and `sequence_number`). */
interface EventFields {
  'response.created': { response: ResponseObject };
  'response.in_progress': { response: ResponseObject };
  'response.completed': { response: ResponseObject };
  'response.incomplete': { response: ResponseObject };
  'response.failed': { response: ResponseObject };
  'response.output_item.added': { output_index: number; item: OutputItem };
  'response.output_item.done': { output_index: number; item: OutputItem };
  'response.content_part.added': PartPlace & { part: OutputText };
  'response.content_part.done': PartPlace & { part: OutputText };
  'response.output_text.delta': PartPlace & { delta: string; logprobs: never[] };
  'response.output_text.done': PartPlace & { text: string; logprobs: never[] };
  'response.function_call_arguments.delta': { item_id: string; output_index: number; delta: string };
  'response.function_call_arguments.done': { item_id: string; output_index: number; name: string; arguments: string };
  error: { code: string | null; message: string; param: string | null };
}

/** A stream event: its `type`, its `sequence_number` (0, 1, 2, … within a response) and its fields. */
export type StreamEvent = { [K in keyof EventFields]: { type: K; sequence_number: number } & EventFields[K] }[keyof EventFields];

/** The usage block for prompt, cached and output token counts. */
export function responseUsage(inputTokens: number, outputTokens: number, cachedTokens: number): ResponseUsage {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: cachedTokens, cache_write_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

/** The Responses `error.code` for an API error. */
function errorCode(err: ApiError): NonNullable<ResponseObject['error']>['code'] {
  if (err.status === 429) return 'rate_limit_exceeded';
  return err.status < 500 ? 'invalid_prompt' : 'server_error';
}

/** Builds one response's output items and stream events; see the module comment. */
export class ResponseAssembler {
  private seq = 0;
  private readonly output: OutputItem[] = [];
  private open: OutputItem | undefined;
  private readonly parser: ToolCallStreamParser | undefined;
  private status: ResponseObject['status'] = 'in_progress';
  private error: ResponseObject['error'] = null;
  private usage: ResponseUsage | undefined;

  constructor(
    private readonly id: string,
    private readonly createdAt: number,
    private readonly echo: ResponseEcho,
    /** Declared function names when the text is parsed for tool calls, else undefined. */
    toolNames?: string[],
    /** Most calls returned (`parallel_tool_calls: false` → 1); default all. */
    maxToolCalls?: number,
  ) {
    this.parser = toolNames ? new ToolCallStreamParser({ functionNames: toolNames, maxCalls: maxToolCalls }) : undefined;
  }

  /** The response as it stands. */
  snapshot(): ResponseObject {
    return {
      id: this.id,
      object: 'response',
      created_at: this.createdAt,
      status: this.status,
      error: this.error,
      incomplete_details: this.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      ...this.echo,
      output: structuredClone(this.output),
      ...(this.usage ? { usage: this.usage } : {}),
      truncation: 'disabled',
    };
  }

  /** The opening events: response.created, response.in_progress. */
  start(): StreamEvent[] {
    return [this.event('response.created', { response: this.snapshot() }), this.event('response.in_progress', { response: this.snapshot() })];
  }

  /** Events for a piece of generated text. */
  push(text: string): StreamEvent[] {
    if (text === '') return [];
    if (!this.parser) return this.content(text);
    return this.parser.push(text).flatMap((e) => this.toolEvent(e));
  }

  /**
   * The closing events, ending with response.completed (or response.incomplete when max_output_tokens
   * cut the text); the final response is the last event's `response`.
   */
  finish(reason: 'stop' | 'length', usage: ResponseUsage): StreamEvent[] {
    const events = this.parser ? this.parser.finish().flatMap((e) => this.toolEvent(e)) : [];
    const incomplete = reason === 'length';
    if (this.output.length === 0) events.push(...this.openMessage());
    events.push(...this.close(incomplete ? 'incomplete' : 'completed'));
    this.status = incomplete ? 'incomplete' : 'completed';
    this.usage = usage;
    events.push(this.event(incomplete ? 'response.incomplete' : 'response.completed', { response: this.snapshot() }));
    return events;
  }

  /** The events of a failure after the stream began: `error`, then response.failed. */
  fail(err: ApiError): StreamEvent[] {
    this.status = 'failed';
    this.error = { code: errorCode(err), message: err.message };
    return [
      this.event('error', { code: err.code ?? err.type, message: err.message, param: err.param }),
      this.event('response.failed', { response: this.snapshot() }),
    ];
  }

  private event<K extends keyof EventFields>(type: K, fields: EventFields[K]): StreamEvent {
    // The cast joins what the signature already ties together: `fields` belongs to `type`.
    return { type, sequence_number: this.seq++, ...fields } as StreamEvent;
  }

  private toolEvent(e: ToolStreamEvent): StreamEvent[] {
    if (e.type === 'content') return this.content(e.text);
    if (e.type === 'tool_call') {
      const events = this.close('completed');
      const item: FunctionCallItem = { type: 'function_call', id: responseId('fc'), call_id: e.id, name: e.name, arguments: '', status: 'in_progress' };
      events.push(...this.add(item));
      return events;
    }
    const item = this.open as FunctionCallItem;
    item.arguments += e.text;
    return [this.event('response.function_call_arguments.delta', { item_id: item.id, output_index: this.output.length - 1, delta: e.text })];
  }

  private content(text: string): StreamEvent[] {
    const events = this.open?.type === 'message' ? [] : [...this.close('completed'), ...this.openMessage()];
    const part = (this.open as MessageItem).content[0]!;
    part.text += text;
    events.push(this.event('response.output_text.delta', { ...this.where(), delta: text, logprobs: [] }));
    return events;
  }

  private openMessage(): StreamEvent[] {
    const item: MessageItem = { type: 'message', id: responseId('msg'), role: 'assistant', status: 'in_progress', content: [] };
    const events = this.add(item);
    item.content.push({ type: 'output_text', text: '', annotations: [], logprobs: [] });
    events.push(this.event('response.content_part.added', { ...this.where(), part: structuredClone(item.content[0]) }));
    return events;
  }

  private add(item: OutputItem): StreamEvent[] {
    this.output.push(item);
    this.open = item;
    return [this.event('response.output_item.added', { output_index: this.output.length - 1, item: structuredClone(item) })];
  }

  private where(): PartPlace {
    return { item_id: this.open!.id, output_index: this.output.length - 1, content_index: 0 };
  }

  /** Closes the open item (if any) with `status`. */
  private close(status: ItemStatus): StreamEvent[] {
    const item = this.open;
    if (!item) return [];
    const events: StreamEvent[] = [];
    const output_index = this.output.length - 1;
    if (item.type === 'message') {
      const part = item.content[0]!;
      events.push(this.event('response.output_text.done', { ...this.where(), text: part.text, logprobs: [] }));
      events.push(this.event('response.content_part.done', { ...this.where(), part: structuredClone(part) }));
    } else {
      events.push(this.event('response.function_call_arguments.done', { item_id: item.id, output_index, name: item.name, arguments: item.arguments }));
    }
    item.status = status;
    this.open = undefined;
    events.push(this.event('response.output_item.done', { output_index, item: structuredClone(item) }));
    return events;
  }
}
