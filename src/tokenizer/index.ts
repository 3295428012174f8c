/**
 * Tokenizer layer: loading a model folder's tokenizer, chat templates, incremental detokenization, cheap
 * token-count bounds, and a worker pool that encodes large inputs off the calling thread.
 * Depends on nothing else in the project.
 */
export { loadTokenizer, createTokenizer, createTokenizerFromSource } from './tokenizer.ts';
export type { TextTokenizer, EncodeOptions, DecodeOptions, TokenizerConfig, TokenSpec, TokenizerSource } from './tokenizer.ts';
export { TokenizerPool, INLINE_MAX_CHARS, INLINE_MAX_IDS, isCheapToDecode, isCheapToEncode, isCheapToEncodeChat } from './pool.ts';
export type { TokenizerPoolOptions } from './pool.ts';
export { minTokensFor } from './length-bound.ts';
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
