/**
 * Chat templates: Jinja templates shipped in tokenizer_config.json (as HF `apply_chat_template` uses
 * them), parsed once and rendered with `@huggingface/jinja`.
 */
import { Template } from '@huggingface/jinja';
import { ChatTemplateError, TemplateInputError, errorMessage } from './errors.ts';

/** A text content part, as in OpenAI chat messages. */
export interface TextContentPart {
  readonly type: 'text';
  readonly text: string;
}

/**
 * A content part. Only text parts can be rendered; any other `type` makes rendering throw
 * {@link TemplateInputError}. The wide member lets callers pass wire data through unchanged.
 */
export type ContentPart = TextContentPart | { readonly type: string; readonly [key: string]: unknown };

/** One chat message handed to the template. */
export interface ChatMessage {
  /** `system`, `user`, `assistant`, `tool`, `ipython`, ... (passed to the template as is). */
  readonly role: string;
  /** Text, text parts (joined with "\n" before rendering), or null (e.g. an assistant tool call). */
  readonly content?: string | ReadonlyArray<ContentPart> | null;
  /** Optional participant name. */
  readonly name?: string;
  /**
   * Tool calls, passed to the template as is. HF templates (Llama 3.1's included) expect
   * `{type: 'function', function: {name, arguments}}` with `arguments` an object, not a JSON string:
   * parse OpenAI's string arguments before calling.
   */
  readonly tool_calls?: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** For `tool` messages: the id of the call this answers. */
  readonly tool_call_id?: string;
}

/** Options for rendering a chat template. */
export interface ChatTemplateOptions {
  /** Append the header that starts the assistant's turn (HF `add_generation_prompt`). */
  readonly addGenerationPrompt: boolean;
  /** Tool definitions (JSON schemas, e.g. `{type: 'function', function: {...}}`); passed only when given. */
  readonly tools?: ReadonlyArray<unknown>;
  /**
   * Extra template variables (e.g. Llama 3.1's `date_string`, `tools_in_user_message`). They cannot
   * override `messages`, `add_generation_prompt`, `tools`, `bos_token` or `eos_token`.
   */
  readonly templateKwargs?: Readonly<Record<string, unknown>>;
}

/**
 * Template used when a model folder ships no chat template: a plain transcript. Each message renders
 * as `"<role>: <content>\n\n"` after the bos token (when the tokenizer has one); a tool call renders as
 * its JSON; the generation prompt is `"assistant:"` (no trailing space, so the model's first token can
 * carry its own leading space). It works for any roles and never raises.
 */
export const DEFAULT_CHAT_TEMPLATE = [
  '{%- if bos_token %}{{ bos_token }}{% endif %}',
  '{%- for message in messages %}',
  '{{- message.role + ": " }}',
  '{%- if message.content is string %}{{ message.content }}{% endif %}',
  '{%- if message.tool_calls is defined %}{{ message.tool_calls | tojson }}{% endif %}',
  '{{- "\\n\\n" }}',
  '{%- endfor %}',
  '{%- if add_generation_prompt %}{{ "assistant:" }}{% endif %}',
].join('\n');

/** Where a tokenizer's chat template came from. */
export type ChatTemplateSource = 'tokenizer_config.json' | 'chat_template.jinja' | 'default';

/** Raw `chat_template` value of tokenizer_config.json: one template, or named templates. */
export type RawChatTemplate = string | ReadonlyArray<{ readonly name: string; readonly template: string }>;

/** Values the chat template gets besides the messages. */
export interface SpecialTokenStrings {
  readonly bosToken: string;
  readonly eosToken: string;
}

/** Parses a template, turning a syntax error into a {@link ChatTemplateError}. */
function parseTemplate(source: string, what: string): Template {
  try {
    return new Template(source);
  } catch (err) {
    throw new ChatTemplateError(`cannot parse ${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * A parsed chat template (parsed once, rendered many times). When tokenizer_config.json names several
 * templates, `default` is used, and `tool_use` instead whenever tools are given and it exists.
 */
export class CompiledChatTemplate {
  /** Where the template came from. */
  readonly source: ChatTemplateSource;
  private readonly main: Template;
  private readonly toolUse: Template | undefined;
  /** Whether the template used with tools mentions `tools` at all (see {@link rendersTools}). */
  private readonly toolsMentioned: boolean;

  /**
   * @param raw - the template (or named templates); undefined selects {@link DEFAULT_CHAT_TEMPLATE}
   * @param source - where `raw` came from (ignored when `raw` is undefined)
   * @throws ChatTemplateError when a template does not parse
   */
  constructor(raw: RawChatTemplate | undefined, source: Exclude<ChatTemplateSource, 'default'>) {
    if (raw === undefined) {
      this.source = 'default';
      this.main = parseTemplate(DEFAULT_CHAT_TEMPLATE, 'the default chat template');
      this.toolsMentioned = mentionsTools(DEFAULT_CHAT_TEMPLATE);
      return;
    }
    this.source = source;
    if (typeof raw === 'string') {
      this.main = parseTemplate(raw, `the chat template in ${source}`);
      this.toolsMentioned = mentionsTools(raw);
      return;
    }
    const named = new Map(raw.map((t) => [t.name, t.template]));
    const main = named.get('default') ?? raw[0]?.template;
    if (main === undefined) throw new ChatTemplateError(`${source} has an empty list of chat templates`);
    this.main = parseTemplate(main, `the default chat template in ${source}`);
    const toolUse = named.get('tool_use');
    if (toolUse !== undefined) this.toolUse = parseTemplate(toolUse, `the tool_use chat template in ${source}`);
    this.toolsMentioned = mentionsTools(toolUse ?? main);
  }

  /**
   * Whether rendering with these options may write the tool definitions: tools are given and the
   * template used for them mentions `tools` (the default template never does). For length bounds only.
   */
  rendersTools(opts: ChatTemplateOptions): boolean {
    return opts.tools !== undefined && this.toolsMentioned;
  }

  /**
   * Renders messages to the prompt string.
   * @throws TemplateInputError for content the template cannot take (non-text parts, missing role)
   * @throws ChatTemplateError for any error raised while rendering
   */
  render(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions, special: SpecialTokenStrings): string {
    const context: Record<string, unknown> = {
      ...opts.templateKwargs,
      messages: messages.map(toTemplateMessage),
      add_generation_prompt: opts.addGenerationPrompt,
      bos_token: special.bosToken,
      eos_token: special.eosToken,
    };
    if (opts.tools !== undefined) context.tools = opts.tools;
    else delete context.tools;
    const template = opts.tools !== undefined && this.toolUse !== undefined ? this.toolUse : this.main;
    try {
      return template.render(context);
    } catch (err) {
      throw new ChatTemplateError(renderFailure(err), { cause: err });
    }
  }
}

/**
 * What a client is told when rendering fails. A template's own `raise_exception` message and the
 * template engine's errors are about the template and its input; JavaScript's own errors (a stack
 * overflow on deeply nested input, a property of undefined) name engine internals a client can do
 * nothing with, so they get a plain sentence instead.
 */
function renderFailure(err: unknown): string {
  if (err instanceof RangeError || err instanceof TypeError || err instanceof ReferenceError || !(err instanceof Error)) {
    return 'the chat template could not render these messages';
  }
  return errorMessage(err);
}

/** Whether a template's source reads a `tools` variable. */
function mentionsTools(source: string): boolean {
  return /\btools\b/.test(source);
}

/** Joins text parts into one string; throws on any other part type. */
export function contentToText(content: ReadonlyArray<ContentPart>, index: number): string {
  const texts: string[] = [];
  for (const part of content) {
    if (part === null || typeof part !== 'object' || part.type !== 'text' || typeof part.text !== 'string') {
      const type = part !== null && typeof part === 'object' ? String(part.type) : typeof part;
      throw new TemplateInputError(`messages[${index}].content: unsupported content part type "${type}"; only text parts are supported`);
    }
    texts.push(part.text);
  }
  return texts.join('\n');
}

/** Converts a message to the plain object the template sees, omitting absent fields. */
function toTemplateMessage(message: ChatMessage, index: number): Record<string, unknown> {
  if (message === null || typeof message !== 'object' || typeof message.role !== 'string' || message.role === '') {
    throw new TemplateInputError(`messages[${index}]: role must be a non-empty string`);
  }
  const out: Record<string, unknown> = { role: message.role };
  const content: unknown = message.content;
  if (typeof content === 'string' || content === null) out.content = content;
  else if (Array.isArray(content)) out.content = contentToText(content as ContentPart[], index);
  else if (content !== undefined) throw new TemplateInputError(`messages[${index}].content must be a string, an array of text parts, or null`);
  if (message.name !== undefined) out.name = message.name;
  if (message.tool_calls !== undefined) out.tool_calls = message.tool_calls;
  if (message.tool_call_id !== undefined) out.tool_call_id = message.tool_call_id;
  return out;
}
