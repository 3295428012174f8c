/**
 * Text tokenizer for a model folder: encode/decode through `@huggingface/tokenizers` and chat templates
 * through `@huggingface/jinja`, both from local files only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import {
  CompiledChatTemplate,
  type ChatMessage,
  type ChatTemplateOptions,
  type ChatTemplateSource,
  type RawChatTemplate,
} from './chat-template.ts';
import { TokenizerLoadError, errorMessage } from './errors.ts';
import { chatTextMinBytes, maxTokenBytes } from './length-bound.ts';

/** Options for {@link TextTokenizer.encode}. */
export interface EncodeOptions {
  /** Add the tokenizer's special tokens (Llama: a leading bos). Default true, as in HF. */
  readonly addSpecialTokens?: boolean;
}

/** Options for {@link TextTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop tokens marked special (bos, eot, ...) from the text. Default true. */
  readonly skipSpecialTokens?: boolean;
}

/** Encoding, decoding and chat templating for one model. */
export interface TextTokenizer {
  /** Number of token ids (highest id in the vocabulary or added tokens, plus one). */
  readonly vocabSize: number;
  /** Id of tokenizer_config.json's `bos_token`, if it has one. */
  readonly bosTokenId: number | undefined;
  /** Id of tokenizer_config.json's `eos_token`, if it has one. */
  readonly eosTokenId: number | undefined;
  /** Ids of all added tokens marked special. */
  readonly specialTokenIds: ReadonlySet<number>;
  /** Where the chat template came from (`default` means `DEFAULT_CHAT_TEMPLATE`). */
  readonly chatTemplateSource: ChatTemplateSource;
  /**
   * Most bytes of input text one token stands for (Llama 3: 128), or Infinity when this tokenizer admits
   * no such bound; a text of B bytes has at least ceil(B / maxTokenBytes) tokens (see length-bound.ts).
   */
  readonly maxTokenBytes: number;
  /** Text to token ids. Special-token strings in the text (e.g. `<|eot_id|>`) become their ids. */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Token ids to text, without cleanup of tokenization spaces (so text round-trips). Unknown ids are dropped. */
  decode(ids: ReadonlyArray<number>, opts?: DecodeOptions): string;
  /** Id of a token string, or undefined. */
  tokenToId(token: string): number | undefined;
  /** Token string of an id, or undefined. */
  idToToken(id: number): string | undefined;
  /**
   * Renders messages with the chat template (with `bos_token`, `eos_token`, `messages`,
   * `add_generation_prompt`, and `tools` when given).
   * @throws TemplateInputError for non-text content parts or malformed messages
   * @throws ChatTemplateError for any error raised while rendering
   */
  applyChatTemplate(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): string;
  /**
   * Renders then encodes messages. The rendered text already holds whatever special tokens the template
   * writes (Llama: bos), so it is encoded without adding special tokens again.
   */
  encodeChat(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): number[];
  /**
   * A lower bound on the UTF-8 bytes of `applyChatTemplate(messages, opts)`, without rendering (the
   * messages' trimmed texts, plus the tool definitions as JSON when the template writes them).
   */
  chatTextMinBytes(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): number;
  /** The files this tokenizer was built from, to build it again in another thread (TokenizerPool). */
  source(): TokenizerSource;
}

/**
 * A tokenizer's files as text: structured-clone-able (a few flat strings), so a worker thread can build
 * the same tokenizer with {@link createTokenizerFromSource}.
 */
export interface TokenizerSource {
  /** tokenizer.json. */
  readonly tokenizerJson: string;
  /** tokenizer_config.json. */
  readonly config: string;
  /** chat_template.jinja, when the config has no chat template and the folder has one. */
  readonly chatTemplateFile?: string;
}

/** The parts of tokenizer_config.json this layer reads. */
export interface TokenizerConfig {
  readonly bos_token?: TokenSpec;
  readonly eos_token?: TokenSpec;
  readonly chat_template?: RawChatTemplate | null;
  readonly [key: string]: unknown;
}

/** A special token as tokenizer_config.json writes it: a string, an `{content}` object, or null. */
export type TokenSpec = string | { readonly content: string } | null;

/** Content string of a bos/eos entry, or undefined. */
function tokenContent(spec: TokenSpec | undefined): string | undefined {
  if (typeof spec === 'string') return spec;
  if (spec !== null && typeof spec === 'object' && typeof spec.content === 'string') return spec.content;
  return undefined;
}

/**
 * String entries of tokenizer_config.json's `additional_special_tokens` (the library's decode skips
 * those, and only string entries, besides added tokens marked special).
 */
function additionalSpecialTokens(config: TokenizerConfig): string[] {
  const list = config.additional_special_tokens;
  if (!Array.isArray(list)) return [];
  return list.filter((t): t is string => typeof t === 'string');
}

/** {@link TextTokenizer} over `@huggingface/tokenizers`. */
class HfTextTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly specialTokenIds: ReadonlySet<number>;
  readonly maxTokenBytes: number;
  private readonly bosToken: string;
  private readonly eosToken: string;

  constructor(
    private readonly tok: Tokenizer,
    config: TokenizerConfig,
    private readonly template: CompiledChatTemplate,
    tokenizerJson: object,
    private readonly sourceOf: () => TokenizerSource,
  ) {
    const vocab = tok.get_vocab(true);
    this.maxTokenBytes = maxTokenBytes(tokenizerJson, [...vocab.keys()]);
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const special = new Set<number>();
    for (const [id, added] of tok.get_added_tokens_decoder()) if (added.special) special.add(id);
    // decode's skip_special_tokens also skips the config's additional_special_tokens.
    for (const extra of additionalSpecialTokens(config)) {
      const id = tok.token_to_id(extra);
      if (id !== undefined) special.add(id);
    }
    this.specialTokenIds = special;
    this.bosToken = tokenContent(config.bos_token) ?? '';
    this.eosToken = tokenContent(config.eos_token) ?? '';
    this.bosTokenId = this.bosToken === '' ? undefined : tok.token_to_id(this.bosToken);
    this.eosTokenId = this.eosToken === '' ? undefined : tok.token_to_id(this.eosToken);
  }

  get chatTemplateSource(): ChatTemplateSource {
    return this.template.source;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  decode(ids: ReadonlyArray<number>, opts: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library throws on an empty array
    return this.tok.decode(ids as number[], {
      skip_special_tokens: opts.skipSpecialTokens ?? true,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  applyChatTemplate(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): string {
    return this.template.render(messages, opts, { bosToken: this.bosToken, eosToken: this.eosToken });
  }

  encodeChat(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }

  chatTextMinBytes(messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): number {
    return chatTextMinBytes(messages, this.template.rendersTools(opts) ? opts.tools : undefined);
  }

  source(): TokenizerSource {
    return this.sourceOf();
  }
}

/**
 * Builds a tokenizer from already-parsed files.
 * @param tokenizerJson - parsed tokenizer.json
 * @param config - parsed tokenizer_config.json
 * @param chatTemplateFile - contents of a separate chat_template.jinja, used when the config has no
 *   `chat_template`; with neither, `DEFAULT_CHAT_TEMPLATE` is used
 * @throws ChatTemplateError when the chat template does not parse
 */
export function createTokenizer(tokenizerJson: object, config: TokenizerConfig, chatTemplateFile?: string): TextTokenizer {
  let source: TokenizerSource | undefined;
  const sourceOf = () =>
    (source ??= {
      tokenizerJson: JSON.stringify(tokenizerJson),
      config: JSON.stringify(config),
      ...(chatTemplateFile !== undefined ? { chatTemplateFile } : {}),
    });
  return buildTokenizer(tokenizerJson, config, chatTemplateFile, sourceOf);
}

/** Builds a tokenizer from its files' text (in a worker thread, from another thread's `source()`). */
export function createTokenizerFromSource(source: TokenizerSource): TextTokenizer {
  const json = parseJsonObject(source.tokenizerJson, 'tokenizer.json');
  const config = parseJsonObject(source.config, 'tokenizer_config.json') as TokenizerConfig;
  return buildTokenizer(json, config, source.chatTemplateFile, () => source);
}

function buildTokenizer(
  tokenizerJson: object,
  config: TokenizerConfig,
  chatTemplateFile: string | undefined,
  sourceOf: () => TokenizerSource,
): TextTokenizer {
  const template =
    config.chat_template !== undefined && config.chat_template !== null
      ? new CompiledChatTemplate(config.chat_template, 'tokenizer_config.json')
      : new CompiledChatTemplate(chatTemplateFile, 'chat_template.jinja');
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, config);
  } catch (err) {
    throw new TokenizerLoadError(`cannot build tokenizer from tokenizer.json: ${errorMessage(err)}`, 'tokenizer.json', { cause: err });
  }
  return new HfTextTokenizer(tok, config, template, tokenizerJson, sourceOf);
}

/** Reads a file, or returns undefined when it does not exist. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerLoadError(`cannot read ${path}: ${errorMessage(err)}`, path, { cause: err });
  }
}

/** Parses a JSON object read from `path`, naming the file in any error. */
function parseJsonObject(text: string, path: string): object {
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value;
  } catch (err) {
    throw new TokenizerLoadError(`${path} is not valid JSON: ${errorMessage(err)}`, path, { cause: err });
  }
}

/**
 * Reads the required JSON files of `dir`; a missing one is reported by name (all missing ones at once).
 * Returns each file parsed and as text.
 */
async function readRequiredJson(dir: string, names: readonly string[]): Promise<Array<{ json: object; text: string }>> {
  const paths = names.map((name) => join(dir, name));
  const texts = await Promise.all(paths.map(readOptional));
  const missing = names.filter((_, i) => texts[i] === undefined);
  if (missing.length > 0) {
    const what = missing.join(' and ');
    throw new TokenizerLoadError(`${what} not found in ${dir}`, join(dir, missing[0]!));
  }
  return texts.map((text, i) => ({ json: parseJsonObject(text!, paths[i]!), text: text! }));
}

/**
 * Loads the tokenizer of a local model folder: tokenizer.json and tokenizer_config.json (both required),
 * plus chat_template.jinja when the config has no `chat_template`. Never touches the network.
 * @param dir - the model folder
 * @param opts.chatTemplate - a chat template that replaces the folder's (--chat-template FILE's text)
 * @throws TokenizerLoadError naming the missing or invalid file
 * @throws ChatTemplateError when the chat template does not parse
 */
export async function loadTokenizer(dir: string, opts: { chatTemplate?: string } = {}): Promise<TextTokenizer> {
  const [tokenizerJson, config] = await readRequiredJson(dir, ['tokenizer.json', 'tokenizer_config.json']);
  // An override goes into the config itself, so the tokenizer pool's workers (which rebuild the
  // tokenizer from its source) render with it too.
  const folderConfig = config!.json as TokenizerConfig;
  const tokenizerConfig: TokenizerConfig = opts.chatTemplate !== undefined ? { ...folderConfig, chat_template: opts.chatTemplate } : folderConfig;
  const hasTemplate = tokenizerConfig.chat_template !== undefined && tokenizerConfig.chat_template !== null;
  const jinja = hasTemplate ? undefined : await readOptional(join(dir, 'chat_template.jinja'));
  // The files' text is kept (a few flat strings, cheap for the GC) rather than the parsed objects.
  const source: TokenizerSource = {
    tokenizerJson: tokenizerJson!.text,
    config: opts.chatTemplate !== undefined ? JSON.stringify(tokenizerConfig) : config!.text,
    ...(jinja !== undefined ? { chatTemplateFile: jinja } : {}),
  };
  return buildTokenizer(tokenizerJson!.json, tokenizerConfig, jinja, () => source);
}
