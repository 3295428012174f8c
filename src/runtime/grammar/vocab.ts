/**
 * The token vocabulary as bytes, prepared once per tokenizer (cached; in the engine that is once per
 * model worker): every token's UTF-8 bytes, a byte trie over all of them, and the "plain" tokens that
 * may sit inside a JSON string whatever surrounds them, so a constraint in string content can allow them
 * in bulk and walk only the rest.
 *
 * Byte-level BPE vocabularies (Llama 3: GPT-2's byte-to-unicode alphabet) map back to exact bytes, so
 * tokens that hold part of a UTF-8 character are handled; SentencePiece vocabularies (`▁`, `<0xNN>`) too.
 * Special tokens (bos, eot, reserved, python_tag…) have no bytes: a constraint never allows them, except
 * EOS when the value is complete.
 */
import type { TextTokenizer } from '../../tokenizer/tokenizer.ts';
import { TokenTable } from '../../tokenizer/token-table.ts';
import { isPlainAscii, utf8Lead } from './scalars.ts';

/** A byte trie in first-child / next-sibling form; node 0 is the root. */
export interface ByteTrie {
  firstChild: Int32Array;
  nextSibling: Int32Array;
  byte: Uint8Array;
  /** Token id ending at each node, or -1. */
  token: Int32Array;
  /** Further ids ending at a node (tokens with identical bytes). */
  moreTokens: Map<number, number[]>;
  nodeCount: number;
}

/** A vocabulary prepared for constrained decoding. */
export interface TokenVocabulary {
  /** Number of token ids (rows of logits beyond it are always masked). */
  size: number;
  /** Bytes of a token; null for special tokens and ids without text (packed: no per-token objects kept). */
  bytesOf(id: number): Uint8Array | null;
  /** Every token with bytes. */
  trie: ByteTrie;
  /** Tokens with bytes that are not plain (a quote, backslash, control byte, or bad UTF-8 from a clean start). */
  nonPlainTrie: ByteTrie;
  /** Plain tokens: valid string content from a clean start, possibly ending inside a UTF-8 character. */
  plainIds: Int32Array;
  /** Characters (code points begun) of each plain token, parallel to plainIds. */
  plainChars: Uint16Array;
  /** UTF-8 continuation bytes still due after each plain token. */
  plainPending: Uint8Array;
  /** Reusable scratch mask, one byte per id (constraints run synchronously, one at a time). */
  scratch: Uint8Array;
  /** Whether each of the 256 single bytes is some token (true for byte-level vocabularies). */
  allBytesCovered: boolean;
}

const cache = new WeakMap<object, TokenVocabulary>();

/** What a vocabulary can be prepared from: a full tokenizer, or a model worker's packed TokenTable. */
export type VocabularySource = TextTokenizer | TokenTable;

/** The prepared vocabulary of `source`, built on first use (a few hundred ms for 128k tokens). */
export function getTokenVocabulary(source: VocabularySource): TokenVocabulary {
  let v = cache.get(source);
  if (!v) {
    // Token bytes come from the packed table (built here for a full tokenizer: one decoding rule set).
    const table = source instanceof TokenTable ? source : TokenTable.fromTokenizer(source);
    const bytes = Array.from({ length: table.vocabSize }, (_, id) => (table.specialTokenIds.has(id) ? null : table.tokenBytes(id)));
    v = buildVocabulary(bytes);
    cache.set(source, v);
  }
  return v;
}

/** Packs per-token bytes into one buffer (null and empty entries read back as null). */
function packBytes(bytes: (Uint8Array | null)[]): (id: number) => Uint8Array | null {
  const offsets = new Int32Array(bytes.length + 1);
  bytes.forEach((b, i) => (offsets[i + 1] = offsets[i]! + (b?.length ?? 0)));
  const n = bytes.length;
  const all = new Uint8Array(offsets[n]!);
  bytes.forEach((b, i) => b && all.set(b, offsets[i]!));
  return (id) => {
    if (id < 0 || id >= n || offsets[id] === offsets[id + 1]) return null;
    return all.subarray(offsets[id]!, offsets[id + 1]!);
  };
}

/** Builds the prepared vocabulary from each id's bytes (null = special / no text). */
export function buildVocabulary(bytes: (Uint8Array | null)[]): TokenVocabulary {
  const all: number[] = [];
  const nonPlain: number[] = [];
  const plainIds: number[] = [];
  const plainChars: number[] = [];
  const plainPending: number[] = [];
  const singles = new Set<number>();
  bytes.forEach((b, id) => {
    if (!b || b.length === 0) return;
    all.push(id);
    if (b.length === 1) singles.add(b[0]!);
    const plain = classifyPlain(b);
    if (plain) {
      plainIds.push(id);
      plainChars.push(plain.chars);
      plainPending.push(plain.pending);
    } else nonPlain.push(id);
  });
  return {
    size: bytes.length,
    bytesOf: packBytes(bytes),
    trie: buildTrie(all, bytes),
    nonPlainTrie: buildTrie(nonPlain, bytes),
    plainIds: Int32Array.from(plainIds),
    plainChars: Uint16Array.from(plainChars),
    plainPending: Uint8Array.from(plainPending),
    scratch: new Uint8Array(bytes.length),
    allBytesCovered: singles.size === 256,
  };
}

/**
 * Whether `bytes` are valid JSON string content from a clean start (what StringFrame accepts with no
 * escape and no UTF-8 sequence open), and if so its characters and the continuation bytes still due.
 */
export function classifyPlain(bytes: Uint8Array): { chars: number; pending: number } | null {
  let chars = 0;
  let pending = 0;
  let lo = 0x80;
  let hi = 0xbf;
  for (const b of bytes) {
    if (pending > 0) {
      if (b < lo || b > hi) return null;
      pending--;
      lo = 0x80;
      hi = 0xbf;
    } else if (isPlainAscii(b)) chars++;
    else {
      const lead = utf8Lead(b);
      if (!lead) return null;
      chars++;
      ({ pending, lo, hi } = lead);
    }
  }
  return { chars, pending };
}

function buildTrie(ids: number[], bytes: (Uint8Array | null)[]): ByteTrie {
  const keys = ids.map((id) => Buffer.from(bytes[id]!).toString('latin1'));
  const order = ids.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : ids[a]! - ids[b]!));
  const capacity = keys.reduce((n, k) => n + k.length, 1);
  const firstChild = new Int32Array(capacity).fill(-1);
  const nextSibling = new Int32Array(capacity).fill(-1);
  const lastChild = new Int32Array(capacity).fill(-1);
  const byte = new Uint8Array(capacity);
  const token = new Int32Array(capacity).fill(-1);
  const moreTokens = new Map<number, number[]>();
  const maxLen = keys.reduce((m, k) => Math.max(m, k.length), 0);
  const path = new Int32Array(maxLen + 1); // path[d]: node at depth d along the previous key
  let nodeCount = 1;
  let prev = '';
  for (const i of order) {
    const key = keys[i]!;
    let lcp = 0;
    while (lcp < key.length && lcp < prev.length && key.charCodeAt(lcp) === prev.charCodeAt(lcp)) lcp++;
    let node = path[lcp]!;
    for (let d = lcp; d < key.length; d++) {
      const n = nodeCount++;
      byte[n] = key.charCodeAt(d);
      if (lastChild[node] === -1) firstChild[node] = n;
      else nextSibling[lastChild[node]!] = n;
      lastChild[node] = n;
      node = n;
      path[d + 1] = n;
    }
    const id = ids[i]!;
    if (token[node] === -1) token[node] = id;
    else moreTokens.set(node, [...(moreTokens.get(node) ?? []), id]);
    prev = key;
  }
  return { firstChild, nextSibling, byte, token, moreTokens, nodeCount };
}
