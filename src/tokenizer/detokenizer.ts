/**
 * Incremental detokenization for streaming: turns generated token ids into text pieces that no later
 * token can change, without ever splitting a UTF-8 character.
 *
 * Algorithm (vLLM's `detokenize_incrementally`): keep two offsets into the generated ids, `prefix` and
 * `read`. The text of ids[prefix:read] has been emitted already. After each new id, decode
 * ids[prefix:] and emit what extends past the text of ids[prefix:read], unless the decode ends in
 * U+FFFD (an incomplete UTF-8 sequence that a later token may complete). On emitting, `prefix` moves to
 * `read` and `read` to the end. Decoding from a few tokens back, instead of from the new token alone, keeps
 * context-dependent decoders right (SentencePiece's Metaspace + Strip drops the first token's leading
 * space; byte tokens merge into one character). Each decode covers only the window since `prefix`, so the
 * cost per token is O(window), not O(tokens so far). Two additions keep the window small in odd cases:
 * skipped special tokens never enter it (decode drops them anyway), and text that has ended in U+FFFD
 * for more than `MAX_HELD_TOKENS` tokens (e.g. literal replacement characters) is released up to an
 * earlier boundary that no later token can change.
 */
import type { TextTokenizer } from './tokenizer.ts';

/** What the detokenizer needs from a tokenizer. */
export type TokenDecoder = Pick<TextTokenizer, 'decode' | 'specialTokenIds'>;

/** Options for {@link IncrementalDetokenizer}. */
export interface IncrementalDetokenizerOptions {
  /** Drop special tokens (bos, eot, ...) from the text. Default true. */
  readonly skipSpecialTokens?: boolean;
  /**
   * Token ids that precede the generated ones (the prompt). Its last few seed the decode window and are
   * never emitted, so the first generated token keeps a leading space a SentencePiece decoder would
   * strip at the start of a text (vLLM's behaviour). Without them, the pieces concatenate to exactly
   * `decode(generatedIds)`.
   */
  readonly contextIds?: ReadonlyArray<number>;
}

const REPLACEMENT = '\uFFFD';
/** Context tokens kept from `contextIds` (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET). */
const CONTEXT_TOKENS = 5;
/**
 * Held-back tokens after which the detokenizer looks for an earlier safe boundary, so a long run of
 * text ending in U+FFFD (e.g. literal replacement characters) cannot grow the window without bound:
 * the window stays under about twice this many tokens. A split character holds back at most 3.
 */
const MAX_HELD_TOKENS = 8;
/**
 * A trailing incomplete UTF-8 sequence is at most 3 bytes; a tail decoding to at least this many
 * characters holds at least 4 bytes, so everything before it is final.
 */
const SAFE_TAIL_CHARS = 4;
/** Boundaries tried when releasing held text (a character spans at most 4 tokens). */
const RELEASE_TRIES = 4;

/**
 * Streams text for one sequence of generated token ids. Feed each id to {@link push}; call {@link flush}
 * after the last one. Without `contextIds`, the concatenation of every `push` result and the final
 * `flush` equals `tokenizer.decode(allIds, {skipSpecialTokens})`.
 */
export class IncrementalDetokenizer {
  private readonly decoder: TokenDecoder;
  private readonly specialTokenIds: ReadonlySet<number>;
  private readonly skipSpecialTokens: boolean;
  /** Ids from the window start (vLLM's prefix offset) on; older ones are dropped. */
  private ids: number[] = [];
  /** Index in `ids` up to which the text has been emitted (vLLM's read offset). */
  private readOffset = 0;
  /** decode(ids[0:readOffset]). */
  private prefixText = '';

  /**
   * @param tokenizer - the tokenizer whose `decode` defines the text
   * @param opts - special-token handling and optional prompt context
   */
  constructor(tokenizer: TokenDecoder, opts: IncrementalDetokenizerOptions = {}) {
    this.decoder = tokenizer;
    this.specialTokenIds = tokenizer.specialTokenIds;
    this.skipSpecialTokens = opts.skipSpecialTokens ?? true;
    if (opts.contextIds !== undefined && opts.contextIds.length > 0) {
      const context = opts.contextIds.filter((id) => !this.skips(id));
      this.ids = context.slice(-CONTEXT_TOKENS);
      this.readOffset = this.ids.length;
      this.prefixText = this.decodeRange(0, this.readOffset);
    }
  }

  /**
   * Adds one generated token id.
   * @returns the text that became stable with it (often '', e.g. inside a multi-byte character)
   */
  push(tokenId: number): string {
    // Skipped special tokens add no text (decode filters them out before decoding), so leaving them out
    // changes no decode; it keeps the window from growing over runs of them and keeps every window
    // starting at a token that has text, which a Strip decoder needs.
    if (this.skips(tokenId)) return '';
    this.ids.push(tokenId);
    const text = this.decodeRange(0, this.ids.length);
    if (text.length > this.prefixText.length && !text.endsWith(REPLACEMENT)) {
      return this.advance(text, this.ids.length);
    }
    if (this.ids.length - this.readOffset > MAX_HELD_TOKENS) return this.release(text);
    return '';
  }

  /**
   * Ends the sequence: returns everything still held back (e.g. an incomplete character at the very
   * end, which decodes to U+FFFD exactly as a full decode would) and resets to an empty state.
   */
  flush(): string {
    const text = this.decodeRange(0, this.ids.length);
    const out = text.length > this.prefixText.length ? text.slice(this.prefixText.length) : '';
    this.ids = [];
    this.readOffset = 0;
    this.prefixText = '';
    return out;
  }

  /**
   * Emits `text` (the decode of ids[0:end]) past the emitted part, and slides the window: the new
   * window starts at the old read offset and everything up to `end` counts as emitted.
   */
  private advance(text: string, end: number): string {
    const out = text.slice(this.prefixText.length);
    const newStart = this.readOffset;
    this.ids = this.ids.slice(newStart);
    this.readOffset = end - newStart;
    this.prefixText = this.decodeRange(0, this.readOffset);
    return out;
  }

  /**
   * The window has held text back for long: release it up to an earlier token boundary whose text is
   * final (at least {@link SAFE_TAIL_CHARS} characters follow it, and it is a prefix of the whole window's
   * text, so no character is cut in two).
   */
  private release(text: string): string {
    const end = this.ids.length;
    let b = end - 1;
    for (let scanned = 0; b > this.readOffset && this.decodeRange(b, end).length < SAFE_TAIL_CHARS; scanned++) {
      if (scanned >= MAX_HELD_TOKENS) return '';
      b--;
    }
    for (let tries = 0; tries < RELEASE_TRIES && b > this.readOffset; tries++, b--) {
      const head = this.decodeRange(0, b);
      if (head.length > this.prefixText.length && text.startsWith(head)) return this.advance(head, b);
    }
    return '';
  }

  /** Whether `id` is a special token this detokenizer drops. */
  private skips(id: number): boolean {
    return this.skipSpecialTokens && this.specialTokenIds.has(id);
  }

  private decodeRange(start: number, end: number): string {
    if (start >= end) return '';
    return this.decoder.decode(this.ids.slice(start, end), { skipSpecialTokens: this.skipSpecialTokens });
  }
}
