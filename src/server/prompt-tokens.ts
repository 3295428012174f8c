/**
 * Prompt tokenization for the routes, in two steps:
 *
 * 1. A cheap length check before any tokenizing: a token stands for at most `tokenizer.maxTokenBytes`
 *    bytes of text (Llama 3: 128), so a prompt of B bytes has at least ceil(B / maxTokenBytes) tokens. When
 *    even that many cannot fit the limit, the request is a 400 at once, in the words the exact check
 *    (finalizeRequest, tokenizeConversations) uses, saying "at least". A 2 MiB one-word prompt, ~25 s of
 *    BPE, is refused in microseconds.
 * 2. Encoding: on the HTTP thread when the input is small and of an ordinary shape (isCheapToEncode), in
 *    the tokenizer pool (deps.tokenizerPool) otherwise, so a large prompt never blocks other clients. Both
 *    give the same ids and the same errors (template errors are ChatTemplateError either way). Long
 *    token-id lists are decoded the same way (/detokenize, echo).
 */
import type { ChatMessage, ChatTemplateOptions, DecodeOptions, EncodeOptions, TextTokenizer } from '../tokenizer/index.ts';
import { isCheapToDecode, isCheapToEncode, isCheapToEncodeChat, minTokensFor, type TokenizerPool } from '../tokenizer/index.ts';
import type { RewardModel, ServedModel, ServerLimits } from './deps.ts';
import { invalidRequest } from './errors.ts';

/** How the least token count was found, for the message. */
function derivation(bytes: number, tokenizer: TextTokenizer): string {
  return `${bytes} bytes of text, and no token of this model stands for more than ${tokenizer.maxTokenBytes} bytes`;
}

/**
 * 400 when a prompt of `bytes` bytes of text cannot fit a generation model: over --max-prompt-tokens
 * (`prompt_too_long`) or, with the completion, over the context length (`context_length_exceeded`), as
 * finalizeRequest says it for an exact count.
 * @param param - the field named in the error ('messages', 'prompt', 'prompt[2]')
 * @param requestedMaxTokens - max_tokens the client asked for, if any (else one completion token counts)
 */
export function checkPromptBytes(bytes: number, model: ServedModel, limits: ServerLimits, param: string, requestedMaxTokens?: number): void {
  const least = minTokensFor(bytes, model.tokenizer.maxTokenBytes);
  if (least === 0) return;
  if (limits.maxPromptTokens > 0 && least > limits.maxPromptTokens) {
    throw invalidRequest(
      `The prompt has at least ${least} tokens (${derivation(bytes, model.tokenizer)}), more than this server's limit of ` +
        `${limits.maxPromptTokens} tokens`,
      param,
      'prompt_too_long',
    );
  }
  const completion = requestedMaxTokens ?? 1;
  const ctx = model.contextLength;
  if (least + completion > ctx) {
    const what = param === 'messages' ? 'messages' : 'prompt';
    throw invalidRequest(
      `This model's maximum context length is ${ctx} tokens. However, you requested at least ${least + completion} tokens ` +
        `(at least ${least} in the ${what}: ${derivation(bytes, model.tokenizer)}; ${completion} for the completion). ` +
        `Please reduce the length of the ${what} or completion.`,
      param,
      'context_length_exceeded',
    );
  }
}

/**
 * 400 when a conversation of `bytes` bytes of text cannot fit a reward model's --reward-max-tokens (or
 * its context), as tokenizeConversations says it for an exact count.
 * @param which - 'The conversation' or 'Conversation 3'
 */
export function checkConversationBytes(bytes: number, model: RewardModel, param: string, which: string): void {
  const least = minTokensFor(bytes, model.tokenizer.maxTokenBytes);
  if (least > model.maxScoreTokens) {
    throw invalidRequest(
      `${which} has at least ${least} tokens (${derivation(bytes, model.tokenizer)}), more than the reward model ` +
        `'${model.id}' accepts (${model.maxScoreTokens} tokens)`,
      param,
      'context_length_exceeded',
    );
  }
}

/** UTF-8 bytes of a string (native, no copy). */
export function textBytes(text: string): number {
  return Buffer.byteLength(text);
}

/** Encodes texts: on this thread when they are cheap together, else each in the pool. */
export async function encodeTexts(
  pool: TokenizerPool | undefined,
  tokenizer: TextTokenizer,
  texts: readonly string[],
  opts: EncodeOptions = {},
): Promise<number[][]> {
  if (!pool || isCheapToEncode(texts)) return texts.map((t) => tokenizer.encode(t, opts));
  return Promise.all(texts.map((t) => pool.encode(tokenizer, t, opts)));
}

/** Renders and encodes conversations: on this thread when they are cheap together, else each in the pool. */
export async function encodeChats(
  pool: TokenizerPool | undefined,
  tokenizer: TextTokenizer,
  conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>,
  opts: ChatTemplateOptions,
): Promise<number[][]> {
  if (!pool || isCheapToEncodeChat(conversations, opts)) return conversations.map((c) => tokenizer.encodeChat(c, opts));
  return Promise.all(conversations.map((c) => pool.encodeChat(tokenizer, c, opts)));
}

/** Decodes token-id lists: on this thread when they are short together, else each in the pool. */
export async function decodeIds(
  pool: TokenizerPool | undefined,
  tokenizer: TextTokenizer,
  lists: ReadonlyArray<ReadonlyArray<number>>,
  opts: DecodeOptions = {},
): Promise<string[]> {
  if (!pool || isCheapToDecode(lists)) return lists.map((ids) => tokenizer.decode(ids, opts));
  return Promise.all(lists.map((ids) => pool.decode(tokenizer, ids, opts)));
}
