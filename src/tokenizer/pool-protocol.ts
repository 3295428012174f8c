/**
 * Messages between TokenizerPool (main thread) and its workers (pool-worker.ts), one union each way,
 * shared by both sides. Per worker, messages arrive in the order sent, so a `load` sent before a task
 * is always handled before it.
 */
import type { ChatMessage, ChatTemplateOptions } from './chat-template.ts';
import { ChatTemplateError, TemplateInputError, TokenizerLoadError } from './errors.ts';
import type { DecodeOptions, EncodeOptions, TokenizerSource } from './tokenizer.ts';

/** Main thread → worker. */
export type PoolRequest =
  /** Build the tokenizer `key` from its files (once per worker and key). */
  | { type: 'load'; key: string; source: TokenizerSource }
  | { type: 'encode'; id: number; key: string; text: string; opts: EncodeOptions }
  | { type: 'encodeChat'; id: number; key: string; messages: ReadonlyArray<ChatMessage>; opts: ChatTemplateOptions }
  /** `ids` travels as a transferred buffer. */
  | { type: 'decode'; id: number; key: string; ids: Uint32Array; opts: DecodeOptions };

/** Worker → main thread: the answer to task `id` (token ids in a transferred buffer, text, or the error). */
export type PoolReply =
  | { id: number; ok: true; ids: Uint32Array }
  | { id: number; ok: true; text: string }
  | { id: number; ok: false; error: SerializedError };

/** An error as it crosses threads: enough to rebuild the tokenizer layer's error classes. */
export interface SerializedError {
  name: string;
  message: string;
  /** ChatTemplateError's own message. */
  templateMessage?: string;
  /** TokenizerLoadError's file. */
  file?: string;
}

/** Flattens a thrown value for postMessage. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof ChatTemplateError) return { name: err.name, message: err.message, templateMessage: err.templateMessage };
  if (err instanceof TokenizerLoadError) return { name: err.name, message: err.message, file: err.file };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/**
 * Rebuilds an error on the main thread with the class the tokenizer would have thrown there, so callers
 * map it the same way (ChatTemplateError and TemplateInputError are 400s).
 */
export function reviveError(e: SerializedError): Error {
  switch (e.name) {
    case 'ChatTemplateError':
      return new ChatTemplateError(e.templateMessage ?? e.message);
    case 'TemplateInputError':
      return new TemplateInputError(e.message);
    case 'TokenizerLoadError':
      return new TokenizerLoadError(e.message, e.file);
    default: {
      const err = new Error(e.message);
      err.name = e.name;
      return err;
    }
  }
}
