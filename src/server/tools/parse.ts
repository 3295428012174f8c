/**
 * The model's output → OpenAI tool calls, incrementally. Llama 3.1 JSON tool calling writes
 * `{"name": "fn", "parameters": {...}}` (optionally after `<|python_tag|>`); `"arguments"` is accepted for
 * `"parameters"`, a top-level array of calls and calls separated by `;` too.
 *
 * One parser serves both paths: non-streaming output is the stream parser fed the whole text at once, so
 * streamed pieces always assemble to the non-streamed result. `function.arguments` is the model's own text
 * of the parameters value (valid JSON, whitespace as written), streamed in pieces as it arrives.
 *
 * Modes, written down once:
 *   detect  — before the first non-space character: skip whitespace and `<|python_tag|>`; '{' or '['
 *             starts `json`, anything else `content`.
 *   json    — scanning tool calls; nothing is emitted until a call's name is known (and declared, when a
 *             list of names was given); then its start, then its arguments as they arrive. Text that turns
 *             out not to be a tool call goes back to content: all of it if no call started yet, else from
 *             the failed call on.
 *   content — plain text, passed through.
 */
import { randomBytes } from 'node:crypto';

/** One piece of parsed output. */
export type ToolStreamEvent =
  | { type: 'content'; text: string }
  /** A call begins: OpenAI's first delta.tool_calls piece (index, id, type, name, empty arguments). */
  | { type: 'tool_call'; index: number; id: string; name: string }
  /** More of a call's `function.arguments` string. */
  | { type: 'arguments'; index: number; text: string };

/** An OpenAI tool call. */
export interface ParsedToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** Parsed output: content (null when there is none besides the calls) and the calls. */
export interface ToolParseResult {
  content: string | null;
  toolCalls: ParsedToolCall[];
}

/** Options of {@link ToolCallStreamParser}. */
export interface ToolParserOptions {
  /** Declared function names; a call to any other name is treated as plain content. */
  functionNames?: Iterable<string>;
  /** Call id generator (default `call_` + 24 random characters). */
  newId?: () => string;
  /**
   * Most calls returned (`parallel_tool_calls: false` → 1): later calls are dropped, never turned into
   * content. Default: all.
   */
  maxCalls?: number;
}

const PYTHON_TAG = '<|python_tag|>';
const ARG_KEYS = new Set(['parameters', 'arguments']);

/** `call_` and 24 random alphanumerics, as OpenAI's ids look. */
export function newToolCallId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return 'call_' + [...randomBytes(24)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The state of the call being read. */
interface CallState {
  /** Offset in the text where the call's '{' is. */
  start: number;
  expectKey: boolean;
  key: string | undefined;
  /** Offset where the current value (at call depth) began, -1 before it does. */
  valueStart: number;
  keyStart: number;
  name: string | undefined;
  /** Offsets of the arguments value: start, end (exclusive, -1 while open), how far emitted. */
  argsStart: number;
  argsEnd: number;
  argsEmitted: number;
  /** Arguments are an object or array, streamed as they arrive; else (a string, decoded, or a scalar) sent whole. */
  argsStreams: boolean;
  /** Index among the calls once started (emitted), else -1. */
  index: number;
}

/** Incremental parser; see the module comment. */
export class ToolCallStreamParser {
  private text = '';
  private pos = 0;
  private mode: 'detect' | 'json' | 'content' = 'detect';
  private readonly stack: string[] = [];
  private inString = false;
  private escape = false;
  private stringStart = -1;
  private callDepth = 1;
  /** Offset just past the last finished call (or top-level array). */
  private lastEnd = 0;
  private call: CallState | undefined;
  private readonly names: ReadonlySet<string> | undefined;
  private readonly newId: () => string;
  private readonly maxCalls: number;
  private readonly calls: ParsedToolCall[] = [];
  private content = '';
  private out: ToolStreamEvent[] = [];

  constructor(options: ToolParserOptions = {}) {
    this.names = options.functionNames ? new Set(options.functionNames) : undefined;
    this.newId = options.newId ?? newToolCallId;
    this.maxCalls = options.maxCalls ?? Infinity;
  }

  /** Feeds a text delta; returns the events it completes. */
  push(delta: string): ToolStreamEvent[] {
    this.text += delta;
    this.run(false);
    return this.take();
  }

  /** Ends the text; returns the last events (anything held back that is not a call becomes content). */
  finish(): ToolStreamEvent[] {
    this.run(true);
    if (this.mode === 'detect') this.fail(0); // blank text
    else if (this.mode === 'json' && this.call && this.call.index === -1) this.failCall(this.call.start);
    else if (this.mode === 'json' && this.calls.length === 0) this.fail(0);
    return this.take();
  }

  /** Everything parsed so far. */
  result(): ToolParseResult {
    const content = this.calls.length > 0 && this.content.trim() === '' ? null : this.content;
    return { content, toolCalls: this.calls.slice(0, this.maxCalls).map((c) => ({ ...c, function: { ...c.function } })) };
  }

  private take(): ToolStreamEvent[] {
    const events = this.out.filter((e) => e.type === 'content' || e.index < this.maxCalls);
    this.out = [];
    return events;
  }

  private run(final: boolean): void {
    if (this.mode === 'detect') this.detect(final);
    if (this.mode === 'json') this.scan();
    if (this.mode === 'content' && this.pos < this.text.length) this.emitContent(this.text.slice(this.pos), this.text.length);
  }

  private detect(final: boolean): void {
    let i = this.pos;
    while (i < this.text.length && /\s/.test(this.text[i]!)) i++;
    const rest = this.text.slice(i);
    if (rest.startsWith(PYTHON_TAG)) {
      this.pos = i + PYTHON_TAG.length;
      this.detect(final);
      return;
    }
    if (rest === '' || (PYTHON_TAG.startsWith(rest) && !final)) return; // wait: blank so far, or maybe the tag
    if (rest[0] === '{' || rest[0] === '[') {
      this.mode = 'json';
      this.pos = i;
    } else this.mode = 'content';
  }

  private emitContent(text: string, upTo: number): void {
    this.pos = upTo;
    if (text === '') return;
    this.content += text;
    this.out.push({ type: 'content', text });
  }

  /** Gives up on tool calls from offset `from` on: that text (and all later text) is content. */
  private fail(from: number): void {
    this.mode = 'content';
    this.call = undefined;
    this.emitContent(this.text.slice(from), this.text.length);
  }

  private scan(): void {
    const text = this.text;
    while (this.mode === 'json' && this.pos < text.length) {
      const i = this.pos;
      const c = text[i]!;
      this.pos = i + 1;
      if (this.inString) this.stringChar(c, i);
      else this.structuralChar(c, i);
    }
    if (this.mode === 'json') this.emitArguments(this.pos);
  }

  private stringChar(c: string, i: number): void {
    if (this.escape) this.escape = false;
    else if (c === '\\') this.escape = true;
    else if (c === '"') {
      this.inString = false;
      this.stringEnd(i);
    }
  }

  private structuralChar(c: string, i: number): void {
    const depth = this.stack.length;
    const call = this.call;
    if (depth === 0) {
      this.topLevel(c, i);
      return;
    }
    if (depth === 1 && this.callDepth === 2 && !call) {
      // Inside a top-level array, between calls.
      if (c === '{') this.beginCall(i);
      else if (c === ']') {
        this.stack.pop();
        this.lastEnd = i + 1;
      }
      else if (c !== ',' && !/\s/.test(c)) this.failCall(i);
      return;
    }
    if (c === '"') {
      this.inString = true;
      this.stringStart = i;
      if (call && depth === this.callDepth) {
        if (call.expectKey) call.keyStart = i;
        else this.valueChar(call, i);
      }
      return;
    }
    if (c === '{' || c === '[') {
      if (call && depth === this.callDepth) {
        if (call.expectKey) return this.failCall(i);
        this.valueChar(call, i);
        if (this.mode !== 'json') return;
      }
      this.stack.push(c);
      return;
    }
    if (c === '}' || c === ']') {
      const open = this.stack.pop();
      if ((c === '}') !== (open === '{')) return this.failCall(i);
      if (call && this.stack.length === this.callDepth) this.valueEnds(call, i + 1); // a nested value closed
      else if (call && this.stack.length === this.callDepth - 1) {
        this.valueEnds(call, i); // scalar value ended by '}'
        this.endCall(call);
      }
      return;
    }
    if (!call || depth !== this.callDepth || /\s/.test(c)) return;
    if (c === ':') {
      if (!call.expectKey || call.key === undefined) return this.failCall(i);
      call.expectKey = false;
      call.valueStart = -1;
    } else if (c === ',') {
      this.valueEnds(call, i);
      call.expectKey = true;
      call.key = undefined;
    } else if (call.expectKey) this.failCall(i);
    else this.valueChar(call, i);
  }

  /** A character at call depth in value position: the value's first one, or (after it ended) an error. */
  private valueChar(call: CallState, i: number): void {
    if (call.valueStart === -1) this.valueBegins(call, i);
    else if (call.valueStart === -2) this.failCall(i);
  }

  private topLevel(c: string, i: number): void {
    if (/\s/.test(c) || (c === ';' && this.calls.length > 0)) return;
    if (c === '{') {
      this.callDepth = 1;
      this.beginCall(i);
    } else if (c === '[' && this.calls.length === 0) {
      this.callDepth = 2;
      this.stack.push('[');
    } else this.failCall(i);
  }

  private beginCall(i: number): void {
    this.stack.push('{');
    this.call = {
      start: i,
      expectKey: true,
      key: undefined,
      valueStart: -1,
      keyStart: -1,
      name: undefined,
      argsStart: -1,
      argsEnd: -1,
      argsEmitted: -1,
      argsStreams: false,
      index: -1,
    };
  }

  private stringEnd(i: number): void {
    const call = this.call;
    if (!call || this.stack.length !== this.callDepth) return;
    if (call.expectKey) call.key = decodeJsonString(this.text.slice(call.keyStart, i + 1));
    else if (call.valueStart === this.stringStart) this.valueEnds(call, i + 1);
  }

  private valueBegins(call: CallState, i: number): void {
    call.valueStart = i;
    if (call.key !== undefined && ARG_KEYS.has(call.key) && call.argsStart < 0) {
      call.argsStart = i;
      call.argsEmitted = i;
      const first = this.text[i];
      call.argsStreams = first === '{' || first === '[';
    }
  }

  /** The value at call depth ends at `end` (exclusive; trailing whitespace trimmed). */
  private valueEnds(call: CallState, end: number): void {
    if (call.valueStart < 0 || call.expectKey) return;
    while (end > call.valueStart && /\s/.test(this.text[end - 1]!)) end--;
    const raw = this.text.slice(call.valueStart, end);
    if (call.key === 'name') {
      const name = raw.startsWith('"') ? decodeJsonString(raw) : undefined;
      if (name === undefined || (this.names && !this.names.has(name))) return this.failCall(call.start);
      call.name = name;
      this.startCall(call);
    } else if (call.argsStart === call.valueStart && call.argsEnd < 0) {
      call.argsEnd = end;
      this.emitArguments(end);
    }
    call.valueStart = -2; // this key's value is done
  }

  private startCall(call: CallState): void {
    if (call.index >= 0 || call.name === undefined) return;
    call.index = this.calls.length;
    const id = this.newId();
    this.calls.push({ id, type: 'function', function: { name: call.name, arguments: '' } });
    this.out.push({ type: 'tool_call', index: call.index, id, name: call.name });
    this.emitArguments(this.pos);
  }

  /** Emits the call's arguments text read up to offset `upTo` (object/array values stream, others go whole). */
  private emitArguments(upTo: number): void {
    const call = this.call;
    if (!call || call.index < 0 || call.argsStart < 0) return;
    const end = call.argsEnd >= 0 ? call.argsEnd : upTo;
    if (!call.argsStreams) {
      if (call.argsEnd < 0 || call.argsEmitted >= call.argsEnd) return;
      call.argsEmitted = call.argsEnd;
      const raw = this.text.slice(call.argsStart, call.argsEnd);
      // A string holding the arguments' JSON is unwrapped; any other scalar is kept as written.
      this.addArguments(call, raw.startsWith('"') ? (decodeJsonString(raw) ?? '') : raw);
      return;
    }
    if (end <= call.argsEmitted) return;
    const piece = this.text.slice(call.argsEmitted, end);
    call.argsEmitted = end;
    this.addArguments(call, piece);
  }

  private addArguments(call: CallState, text: string): void {
    if (text === '') return;
    this.calls[call.index]!.function.arguments += text;
    this.out.push({ type: 'arguments', index: call.index, text });
  }

  private endCall(call: CallState): void {
    if (call.name === undefined) return this.failCall(call.start);
    if (call.argsStart < 0) this.addArguments(call, '{}');
    this.call = undefined;
    this.lastEnd = this.pos;
  }

  /** Text from the failed call on (from `at` if that call already started; after the last call at top level). */
  private failCall(at: number): void {
    const from = this.call ? (this.call.index === -1 ? this.call.start : at) : this.lastEnd;
    this.fail(this.calls.length === 0 ? 0 : from);
  }
}

function decodeJsonString(raw: string): string | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a whole output (non-streaming); the same as streaming it through {@link ToolCallStreamParser}. */
export function parseToolCalls(text: string, options: ToolParserOptions = {}): ToolParseResult {
  const parser = new ToolCallStreamParser(options);
  parser.push(text);
  parser.finish();
  return parser.result();
}

/** One OpenAI `delta.tool_calls` entry for a tool event (null for content events). */
export function toolCallDelta(
  e: ToolStreamEvent,
): { index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } } | null {
  if (e.type === 'tool_call') return { index: e.index, id: e.id, type: 'function', function: { name: e.name, arguments: '' } };
  if (e.type === 'arguments') return { index: e.index, function: { arguments: e.text } };
  return null;
}
