/**
 * Errors raised by the tokenizer layer. Each has a stable `name` so callers (an HTTP layer, a loader)
 * can map them without importing anything else: {@link ChatTemplateError} and {@link TemplateInputError}
 * describe a bad request (HTTP 400); {@link TokenizerLoadError} describes a bad model folder.
 */

/** A tokenizer folder could not be loaded: a file is missing, unreadable, or not valid JSON. */
export class TokenizerLoadError extends Error {
  override readonly name = 'TokenizerLoadError';
  /** The file the error is about (absolute or as given), when there is one. */
  readonly file: string | undefined;

  /**
   * @param message - what went wrong, naming the file
   * @param file - the file the error is about
   * @param options - standard `cause`
   */
  constructor(message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.file = file;
  }
}

/**
 * The chat template failed: it called `raise_exception(...)` (e.g. "This model only supports single
 * tool-calls at once!"), hit a Jinja runtime error while rendering, or could not be parsed at load time.
 * The message includes the template's own message.
 */
export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
  /** The message raised inside the template engine, without this layer's prefix. */
  readonly templateMessage: string;

  /**
   * @param templateMessage - the message raised by the template engine
   * @param options - standard `cause` (the original error)
   */
  constructor(templateMessage: string, options?: { cause?: unknown }) {
    super(`chat template error: ${templateMessage}`, options);
    this.templateMessage = templateMessage;
  }
}

/**
 * Messages handed to the chat template are not representable as template input: a content part that is
 * not text, a missing role, content of the wrong type.
 */
export class TemplateInputError extends Error {
  override readonly name = 'TemplateInputError';
}

/** Message of any thrown value, for wrapping third-party errors. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
