import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLAMA31_TOKENS, writeLlama31TokenizerFiles } from '../src/modelgen/tokenizer-files.ts';
import { IncrementalDetokenizer, loadTokenizer, type TextTokenizer, type TokenDecoder } from '../src/tokenizer/index.ts';

/** The third-party fixture folder (beside the repo, or inside it on a device copy). */
function fixtureDir(): string {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const rel = 'shared/fixtures/ortgenai-tiny-llama-fp16';
  const candidates = [join(repo, '..', rel), join(repo, rel)];
  return candidates.find((d) => existsSync(join(d, 'tokenizer.json'))) ?? candidates[0]!;
}

const FFFD = '\uFFFD';

interface Streamed {
  pieces: string[];
  flushed: string;
  text: string;
}

/**
 * Streams ids through a detokenizer, asserting after every push that the text so far is a prefix of
 * the full decode (so nothing emitted is ever changed by a later token).
 */
function stream(tok: TextTokenizer, ids: number[], skipSpecialTokens: boolean): Streamed {
  const full = tok.decode(ids, { skipSpecialTokens });
  const detok = new IncrementalDetokenizer(tok, { skipSpecialTokens });
  const pieces: string[] = [];
  let text = '';
  for (const id of ids) {
    const piece = detok.push(id);
    pieces.push(piece);
    text += piece;
    assert.ok(full.startsWith(text), `emitted ${JSON.stringify(text)} is not a prefix of ${JSON.stringify(full)}`);
  }
  const flushed = detok.flush();
  text += flushed;
  assert.equal(text, full);
  return { pieces, flushed, text };
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MULTIBYTE_TEXTS = ['👍🏽', '🤖', '你好，世界', '日本語', 'Great job 👍🏽! 🤖 says 你好，世界 in 日本語 too.'];

let tmp: string;
let llama: TextTokenizer;
let sp: TextTokenizer;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'detok-test-'));
  writeLlama31TokenizerFiles(tmp);
  llama = await loadTokenizer(tmp);
  sp = await loadTokenizer(fixtureDir());
});

after(() => rmSync(tmp, { recursive: true, force: true }));

describe('IncrementalDetokenizer on Llama 3.1 (byte-level BPE)', () => {
  test('multi-byte characters split across tokens are never emitted half-done', () => {
    let splitSeen = 0;
    for (const text of MULTIBYTE_TEXTS) {
      const ids = llama.encode(text, { addSpecialTokens: false });
      // The test only means something if some token alone decodes to a broken character.
      if (ids.some((id) => llama.decode([id]).includes(FFFD))) splitSeen++;
      const { pieces, text: out } = stream(llama, ids, true);
      assert.equal(out, text);
      for (const piece of pieces) assert.ok(!piece.includes(FFFD), `piece ${JSON.stringify(piece)} of ${text}`);
    }
    assert.ok(splitSeen >= 3, `only ${splitSeen} texts had byte-split tokens`);
  });

  test('👍🏽 is held until its last byte arrives', () => {
    const ids = llama.encode('👍🏽', { addSpecialTokens: false });
    assert.ok(ids.length >= 3);
    const { pieces } = stream(llama, ids, true);
    assert.deepEqual(pieces.slice(0, -1).filter((p) => p !== ''), ['👍']);
    assert.equal(pieces.join(''), '👍🏽');
  });

  test('special tokens are skipped or kept', () => {
    const body = llama.encode('Hi 🤖 there', { addSpecialTokens: false });
    const ids = [LLAMA31_TOKENS.bos, ...body, LLAMA31_TOKENS.eot, ...body, LLAMA31_TOKENS.eom];
    const skipped = stream(llama, ids, true);
    assert.equal(skipped.text, 'Hi 🤖 thereHi 🤖 there');
    assert.equal(skipped.pieces[0], '');
    const kept = stream(llama, ids, false);
    assert.equal(kept.text, '<|begin_of_text|>Hi 🤖 there<|eot_id|>Hi 🤖 there<|eom_id|>');
    assert.equal(kept.pieces[0], '<|begin_of_text|>');
    assert.equal(kept.pieces.at(-1), '<|eom_id|>');
    for (const piece of [...skipped.pieces, ...kept.pieces]) assert.ok(!piece.includes(FFFD));
  });

  test('flush returns an incomplete character at the end, as decode does, and resets', () => {
    const ids = llama.encode('ok 👍🏽', { addSpecialTokens: false }).slice(0, -1);
    const detok = new IncrementalDetokenizer(llama, { skipSpecialTokens: true });
    const pushed = ids.map((id) => detok.push(id)).join('');
    assert.ok(!pushed.includes(FFFD));
    const flushed = detok.flush();
    assert.ok(flushed.endsWith(FFFD));
    assert.equal(pushed + flushed, llama.decode(ids));
    assert.equal(detok.flush(), '');
    assert.equal(detok.push(9906), 'Hello');
  });

  test('random token sequences: pieces always add up to the full decode', () => {
    const rand = prng(1234);
    const special = [...llama.specialTokenIds];
    for (let round = 0; round < 150; round++) {
      const ids: number[] = [];
      for (let i = 0; i < 30; i++) {
        const r = rand();
        if (r < 0.1) ids.push(special[Math.floor(rand() * special.length)]!);
        else if (r < 0.5) ids.push(Math.floor(rand() * 256) + 94); // mostly single-byte tokens (Ā..)
        else ids.push(Math.floor(rand() * 128000));
      }
      stream(llama, ids, round % 2 === 0);
    }
  });

  test('decode work per token stays bounded by the window', () => {
    const calls: number[] = [];
    const counting: TokenDecoder = {
      specialTokenIds: llama.specialTokenIds,
      decode: (ids, opts) => {
        calls.push(ids.length);
        return llama.decode(ids, opts);
      },
    };
    const text = Array.from({ length: 200 }, (_, i) => `Line ${i}: 你好 👍🏽 日本語 and some words.`).join('\n');
    const ids = llama.encode(text, { addSpecialTokens: false });
    assert.ok(ids.length > 3000);
    const detok = new IncrementalDetokenizer(counting, { skipSpecialTokens: true });
    let out = '';
    for (const id of ids) out += detok.push(id);
    out += detok.flush();
    assert.equal(out, text);
    assert.ok(Math.max(...calls) <= 8, `largest decode ${Math.max(...calls)} tokens`);
    assert.ok(calls.length <= 2 * ids.length + 1, `${calls.length} decodes for ${ids.length} tokens`);
  });

  test('a long run of literal U+FFFD text is released with a bounded window', () => {
    const fffdToken = llama.encode('\uFFFD\uFFFD\uFFFD', { addSpecialTokens: false });
    assert.equal(fffdToken.length, 1);
    const ids = [9906, ...Array.from({ length: 100 }, () => fffdToken[0]!), 1917];
    const calls: number[] = [];
    const counting: TokenDecoder = {
      specialTokenIds: llama.specialTokenIds,
      decode: (window, opts) => {
        calls.push(window.length);
        return llama.decode(window, opts);
      },
    };
    const detok = new IncrementalDetokenizer(counting, { skipSpecialTokens: true });
    const pieces = ids.map((id) => detok.push(id));
    const out = pieces.join('') + detok.flush();
    assert.equal(out, llama.decode(ids));
    assert.ok(Math.max(...calls) <= 20, `largest decode ${Math.max(...calls)} tokens`);
    assert.ok(pieces.slice(0, 60).join('').length > 60, 'held text was released before the run ended');
  });

  test('a run of skipped special tokens does not grow the window', () => {
    const calls: number[] = [];
    const counting: TokenDecoder = {
      specialTokenIds: llama.specialTokenIds,
      decode: (window, opts) => {
        calls.push(window.length);
        return llama.decode(window, opts);
      },
    };
    const ids = [9906, ...Array.from({ length: 200 }, () => LLAMA31_TOKENS.eot), 1917, 0];
    const detok = new IncrementalDetokenizer(counting, { skipSpecialTokens: true });
    const out = ids.map((id) => detok.push(id)).join('') + detok.flush();
    assert.equal(out, 'Hello world!');
    assert.ok(Math.max(...calls) <= 4, `largest decode ${Math.max(...calls)} tokens`);
  });
});

describe('IncrementalDetokenizer release of long held runs (synthetic byte vocabulary)', () => {
  /** A decoder whose tokens are arbitrary byte strings, decoded as UTF-8 with replacement. */
  function byteDecoder(vocab: number[][]): TokenDecoder {
    return {
      specialTokenIds: new Set<number>(),
      decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.flatMap((id) => vocab[id]!))),
    };
  }

  test('never releases up to a boundary that cuts a character in two', () => {
    // 0: a literal U+FFFD; 1..3: first bytes of 🤖 (F0 9F A4 96); 4: its last byte plus the lead of another.
    const vocab = [[0xef, 0xbf, 0xbd], [0xf0], [0x9f], [0xa4], [0x96, 0xf0], [0x9f, 0x98, 0x80], [0x61]];
    const decoder = byteDecoder(vocab);
    const ids = [0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 2, 3, 5, 6];
    const full = decoder.decode(ids);
    const detok = new IncrementalDetokenizer(decoder, { skipSpecialTokens: true });
    let text = '';
    for (const id of ids) {
      text += detok.push(id);
      assert.ok(full.startsWith(text), `emitted ${JSON.stringify(text)} is not a prefix of ${JSON.stringify(full)}`);
    }
    assert.ok(text.includes('🤖'), 'the held run was released before the end');
    assert.equal(text + detok.flush(), full);
  });
});

describe('IncrementalDetokenizer on the SentencePiece fixture (Metaspace, byte fallback)', () => {
  test('leading spaces are kept between pieces and dropped only at the start', () => {
    const ids = sp.encode('Hello world, how are you?', { addSpecialTokens: false });
    const { pieces } = stream(sp, ids, true);
    assert.equal(pieces[0], 'Hello');
    assert.equal(pieces[1], ' world');
    assert.equal(pieces.join(''), 'Hello world, how are you?');
  });

  test('multi-byte characters from byte-fallback tokens are never emitted half-done', () => {
    let splitSeen = 0;
    for (const text of MULTIBYTE_TEXTS.map((t) => ` ${t} end`)) {
      const ids = sp.encode(text, { addSpecialTokens: false });
      if (ids.some((id) => sp.decode([id]).includes(FFFD))) splitSeen++;
      const { pieces, text: out } = stream(sp, ids, true);
      assert.equal(out, sp.decode(ids));
      assert.equal(out, text);
      for (const piece of pieces) assert.ok(!piece.includes(FFFD), `piece ${JSON.stringify(piece)} of ${text}`);
    }
    assert.ok(splitSeen >= 2, `only ${splitSeen} texts had byte-split tokens`);
  });

  test('special tokens are skipped or kept', () => {
    const body = sp.encode('Hi 🤖 there', { addSpecialTokens: false });
    const ids = [1, ...body, 2, ...body];
    const skipped = stream(sp, ids, true);
    assert.equal(skipped.text, sp.decode(ids, { skipSpecialTokens: true }));
    assert.ok(!skipped.text.includes('</s>'));
    assert.ok(skipped.text.includes('there Hi'));
    const kept = stream(sp, ids, false);
    assert.equal(kept.text, sp.decode(ids, { skipSpecialTokens: false }));
    assert.ok(kept.text.startsWith('<s>'));
    assert.ok(kept.text.includes('</s>'));
  });

  test('prompt context keeps the first generated token\'s leading space', () => {
    const prompt = sp.encode('Say hi:');
    const generated = sp.encode('Hello there', { addSpecialTokens: false });
    const detok = new IncrementalDetokenizer(sp, { skipSpecialTokens: true, contextIds: prompt });
    const out = generated.map((id) => detok.push(id)).join('') + detok.flush();
    assert.equal(out, ' Hello there');
    const plain = new IncrementalDetokenizer(sp, { skipSpecialTokens: true });
    assert.equal(generated.map((id) => plain.push(id)).join('') + plain.flush(), 'Hello there');
  });

  test('random token sequences: pieces always add up to the full decode', () => {
    const rand = prng(99);
    for (let round = 0; round < 150; round++) {
      const ids: number[] = [];
      for (let i = 0; i < 30; i++) {
        const r = rand();
        if (r < 0.1) ids.push(Math.floor(rand() * 3)); // <unk>, <s>, </s>
        else if (r < 0.5) ids.push(Math.floor(rand() * 256) + 3); // byte-fallback tokens <0x00>..<0xFF>
        else ids.push(Math.floor(rand() * 32000));
      }
      stream(sp, ids, round % 2 === 0);
    }
  });
});
