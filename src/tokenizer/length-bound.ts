/**
 * Cheap lower bounds on a prompt's token count, computed without tokenizing. A token stands for at most
 * `maxTokenBytes` bytes of input text, so a text of B UTF-8 bytes encodes to at least
 * ceil(B / maxTokenBytes) tokens. The server uses this to refuse a prompt that cannot fit before paying
 * for tokenization (BPE over one long word costs ~13 s per MiB on these machines).
 *
 * Invariant: the bound never exceeds the true count, or a legal prompt would be refused. It holds when
 * - the model is BPE (what Llama ships) and does not fuse runs of unknown characters into one `<unk>`
 *   (fuse_unk without byte_fallback);
 * - the normalizer only adds text: none, Prepend, or Replace of a string by one at least as long. Any
 *   other (NFC/NFKC, Lowercase, StripAccents, Strip, regex Replace) can shrink text, and then no bound is
 *   claimed (Infinity);
 * - no added token strips whitespace beside it (lstrip/rstrip swallow whitespace without bound);
 * - for chat: the template writes each message's text (trimmed, as Llama 3.1's `| trim` does; a message
 *   with tool calls may be written without its text, so it counts 0), and, when it mentions `tools`,
 *   each tool definition as JSON (Jinja's `tojson` is never shorter than compact JSON.stringify).
 */
import type { ChatMessage, ContentPart } from './chat-template.ts';
import { byteLevelDecoder } from './token-table.ts';

/** The parts of tokenizer.json this module reads. */
interface TokenizerJsonShape {
  model?: { type?: string; vocab?: unknown; fuse_unk?: boolean; byte_fallback?: boolean; unk_token?: string | null };
  normalizer?: NormalizerJson | null;
  added_tokens?: Array<{ content?: unknown; lstrip?: boolean; rstrip?: boolean }>;
}

interface NormalizerJson {
  type?: string;
  normalizers?: NormalizerJson[];
  pattern?: { String?: string; Regex?: string };
  content?: string;
}

/** Whether a normalizer can only make text longer (so a token never covers more input than its own bytes). */
function normalizerOnlyGrows(n: NormalizerJson | null | undefined): boolean {
  if (n === null || n === undefined) return true;
  switch (n.type) {
    case 'Sequence':
      return Array.isArray(n.normalizers) && n.normalizers.every(normalizerOnlyGrows);
    case 'Prepend':
      return true;
    case 'Replace':
      return typeof n.pattern?.String === 'string' && typeof n.content === 'string' && Buffer.byteLength(n.content) >= Buffer.byteLength(n.pattern.String);
    default:
      return false;
  }
}

/** GPT-2's byte alphabet as a lookup by UTF-16 code unit (all its characters are below U+0144). */
function alphabetTable(): Uint8Array {
  const table = new Uint8Array(0x144);
  for (const ch of byteLevelDecoder().keys()) table[ch.charCodeAt(0)] = 1;
  return table;
}

/** Input bytes a byte-level BPE token stands for (one per alphabet character), or -1 if it has others. */
function byteLevelLength(token: string, alphabet: Uint8Array): number {
  for (let i = 0; i < token.length; i++) if (alphabet[token.charCodeAt(i)] !== 1) return -1;
  return token.length;
}

/** Input bytes a SentencePiece-style piece stands for: `<0xNN>` is one byte, `▁` one space. */
function pieceLength(token: string): number {
  if (/^<0x[0-9A-Fa-f]{2}>$/.test(token)) return 1;
  let n = 0;
  for (const ch of token) n += ch === '\u2581' ? 1 : Buffer.byteLength(ch);
  return n;
}

/**
 * Most bytes of input text one token can stand for (128 for Llama 3: a run of 128 spaces), or Infinity
 * when this tokenizer admits no such bound (see the module comment).
 * @param tokenizerJson - the parsed tokenizer.json (its model kind, normalizer and added tokens)
 * @param tokens - every token string of the vocabulary, added tokens included (faster to pass in from the
 *   built tokenizer's vocabulary map than to list the JSON object's 128k keys)
 */
export function maxTokenBytes(tokenizerJson: object, tokens: readonly string[]): number {
  const json = tokenizerJson as TokenizerJsonShape;
  const model = json.model;
  if (!model || model.type !== 'BPE' || model.vocab === null || typeof model.vocab !== 'object') return Infinity;
  if (model.fuse_unk && !model.byte_fallback && model.unk_token) return Infinity;
  if (!normalizerOnlyGrows(json.normalizer)) return Infinity;
  const added = Array.isArray(json.added_tokens) ? json.added_tokens : [];
  if (added.some((t) => t.lstrip === true || t.rstrip === true)) return Infinity;
  const alphabet = alphabetTable();
  const lengths = tokens.map((t) => byteLevelLength(t, alphabet));
  // As TokenTable decides: a byte-level vocabulary is written (almost) only in GPT-2's byte alphabet.
  const byteLevel = lengths.filter((n) => n >= 0).length > 0.99 * tokens.length;
  let max = 0;
  tokens.forEach((t, i) => {
    // A byte-level token outside the alphabet: its UTF-8 bytes, at least what it can stand for.
    const n = byteLevel ? (lengths[i]! >= 0 ? lengths[i]! : Buffer.byteLength(t)) : pieceLength(t);
    if (n > max) max = n;
  });
  for (const t of added) if (typeof t.content === 'string') max = Math.max(max, Buffer.byteLength(t.content));
  return max;
}

/** A message's text as the template gets it (text parts joined with "\n"), or '' for anything else. */
function messageText(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as ReadonlyArray<ContentPart>).map((p) => (typeof p?.text === 'string' ? p.text : '')).join('\n');
}

/**
 * A lower bound on the UTF-8 bytes of the rendered chat prompt (see the module comment for what it
 * assumes of the template). `tools` are counted only when given (pass them only when the template
 * renders them).
 */
export function chatTextMinBytes(messages: ReadonlyArray<ChatMessage>, tools: ReadonlyArray<unknown> | undefined): number {
  let bytes = 0;
  for (const m of messages) {
    if (m.tool_calls !== undefined && m.tool_calls.length > 0) continue;
    bytes += Buffer.byteLength(messageText(m.content).trim());
  }
  for (const t of tools ?? []) bytes += Buffer.byteLength(JSON.stringify(t) ?? '');
  return bytes;
}

/** The fewest tokens `bytes` bytes of text can encode to, given a tokenizer's `maxTokenBytes` (0 if unbounded). */
export function minTokensFor(bytes: number, maxBytesPerToken: number): number {
  return Number.isFinite(maxBytesPerToken) && maxBytesPerToken > 0 ? Math.ceil(bytes / maxBytesPerToken) : 0;
}
