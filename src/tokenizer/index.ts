/**
 * Tokenizer layer: loading a model folder's tokenizer, chat templates, and incremental detokenization.
 * Depends on nothing else in the project.
 */
export { loadTokenizer, createTokenizer } from './tokenizer.ts';
export type { TextTokenizer, EncodeOptions, DecodeOptions, TokenizerConfig, TokenSpec } from './tokenizer.ts';
export { DEFAULT_CHAT_TEMPLATE } from './chat-template.ts';
export type {
  ChatMessage,
  ChatTemplateOptions,
  ChatTemplateSource,
  ContentPart,
  TextContentPart,
  RawChatTemplate,
} from './chat-template.ts';
export { IncrementalDetokenizer } from './detokenizer.ts';
export type { IncrementalDetokenizerOptions, TokenDecoder } from './detokenizer.ts';
export { ChatTemplateError, TemplateInputError, TokenizerLoadError } from './errors.ts';
