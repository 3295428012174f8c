/**
 * A decode-only view of a tokenizer, packed into a few typed arrays: every token's bytes in one
 * Uint8Array, offsets in an Int32Array, a special-token flag per id. Model workers decode with it instead
 * of holding the full tokenizer, whose millions of small objects (vocabulary and merge maps) made every
 * full garbage collection in the worker slow (V8 collects often there, because onnxruntime-node returns
 * fresh output buffers on every step). Encoding stays on the main thread.
 *
 * `decode` matches TextTokenizer.decode for the two vocabulary kinds Llama models use: byte-level BPE
 * (Llama 3: GPT-2's byte-to-unicode alphabet) and SentencePiece-style BPE (Llama 2: `▁` for spaces,
 * `<0xNN>` byte fallback, one leading space stripped at the start of a decoded text).
 */
import type { TextTokenizer } from './tokenizer.ts';

/** The byte-to-unicode alphabet of GPT-2 byte-level BPE, inverted: character → byte. */
export function byteLevelDecoder(): Map<string, number> {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = [...bytes];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(256 + n++);
    }
  }
  return new Map(bytes.map((b, i) => [String.fromCodePoint(chars[i]!), b]));
}

const utf8 = new TextEncoder();
// ignoreBOM: a leading U+FEFF is text (a token of its own in Llama 3), not a byte-order mark to drop.
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Structured-clone-able contents of a TokenTable (to build one in another thread). */
export interface TokenTableData {
  bytes: Uint8Array;
  /** Token id i's bytes are bytes[offsets[i], offsets[i + 1]). */
  offsets: Int32Array;
  /** 1 for special tokens (their bytes are their content, e.g. `<|eot_id|>`). */
  special: Uint8Array;
  /** SentencePiece decoders strip one leading space from a decoded text. */
  stripLeadingSpace: boolean;
}

/** See the module comment. */
export class TokenTable {
  readonly vocabSize: number;
  readonly specialTokenIds: ReadonlySet<number>;

  constructor(readonly data: TokenTableData) {
    this.vocabSize = data.offsets.length - 1;
    const special = new Set<number>();
    data.special.forEach((f, id) => f && special.add(id));
    this.specialTokenIds = special;
  }

  /** Packs a loaded tokenizer's vocabulary (a few hundred ms for 128k tokens). */
  static fromTokenizer(tok: TextTokenizer): TokenTable {
    const size = tok.vocabSize;
    const strings: Array<string | undefined> = [];
    for (let id = 0; id < size; id++) strings.push(tok.idToToken(id));
    const decoder = byteLevelDecoder();
    const regular = strings.filter((s, id) => s !== undefined && !tok.specialTokenIds.has(id)) as string[];
    const byteLevel = regular.filter((s) => [...s].every((ch) => decoder.has(ch))).length > 0.99 * regular.length;
    const pieces: Uint8Array[] = [];
    const special = new Uint8Array(size);
    strings.forEach((s, id) => {
      if (s === undefined) pieces.push(new Uint8Array(0));
      else if (tok.specialTokenIds.has(id)) {
        special[id] = 1;
        pieces.push(utf8.encode(s));
      } else pieces.push(byteLevel ? byteLevelBytes(s, decoder) ?? utf8.encode(tok.decode([id], { skipSpecialTokens: false })) : pieceBytes(s));
    });
    const offsets = new Int32Array(size + 1);
    pieces.forEach((p, i) => (offsets[i + 1] = offsets[i]! + p.length));
    const bytes = new Uint8Array(offsets[size]!);
    pieces.forEach((p, i) => bytes.set(p, offsets[i]!));
    return new TokenTable({ bytes, offsets, special, stripLeadingSpace: !byteLevel && stripsLeadingSpace(tok, strings) });
  }

  /** A token's bytes (special tokens: their content), or an empty array for an unknown id. */
  tokenBytes(id: number): Uint8Array {
    if (id < 0 || id >= this.vocabSize) return new Uint8Array(0);
    return this.data.bytes.subarray(this.data.offsets[id]!, this.data.offsets[id + 1]!);
  }

  /**
   * One token's own text, as it reads inside a text (SentencePiece `▁x` keeps its space; a token holding
   * part of a UTF-8 character shows U+FFFD). Special tokens give their content.
   */
  tokenText(id: number): string {
    return textDecoder.decode(this.tokenBytes(id));
  }

  /** Ids to text, as TextTokenizer.decode does (special tokens skipped unless skipSpecialTokens is false). */
  decode(ids: ReadonlyArray<number>, opts: { skipSpecialTokens?: boolean } = {}): string {
    const skip = opts.skipSpecialTokens ?? true;
    let len = 0;
    for (const id of ids) if (!(skip && this.data.special[id])) len += this.tokenBytes(id).length;
    const buf = new Uint8Array(len);
    let at = 0;
    for (const id of ids) {
      if (skip && this.data.special[id]) continue;
      const b = this.tokenBytes(id);
      buf.set(b, at);
      at += b.length;
    }
    const text = textDecoder.decode(buf);
    return this.data.stripLeadingSpace && text.startsWith(' ') ? text.slice(1) : text;
  }
}

function byteLevelBytes(s: string, decoder: Map<string, number>): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const b = decoder.get(s[i]!);
    if (b === undefined) return undefined;
    out[i] = b;
  }
  return out;
}

/** SentencePiece piece → bytes: `<0xNN>` is one byte; `▁` is a space. */
function pieceBytes(s: string): Uint8Array {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(s);
  if (m) return Uint8Array.of(parseInt(m[1]!, 16));
  return utf8.encode(s.replace(/\u2581/g, ' '));
}

/** Whether decoding a lone `▁word` piece drops its leading space (a Strip decoder). */
function stripsLeadingSpace(tok: TextTokenizer, strings: Array<string | undefined>): boolean {
  const id = strings.findIndex((s, i) => s !== undefined && /^\u2581[a-z]/.test(s) && !tok.specialTokenIds.has(i));
  if (id < 0) return false;
  return !tok.decode([id], { skipSpecialTokens: false }).startsWith(' ');
}
