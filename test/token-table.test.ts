import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { TokenTable } from '../src/tokenizer/token-table.ts';
import { IncrementalDetokenizer } from '../src/tokenizer/detokenizer.ts';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';

/** Seeded ids, some of them special tokens. */
function randomIds(vocab: number, special: number[], seed: number, n: number): number[] {
  let x = seed;
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: n }, () => (rnd() < 0.1 ? special[Math.floor(rnd() * special.length)]! : Math.floor(rnd() * vocab)));
}

for (const [name, dir] of [['Llama 3.1 byte-level BPE', INSTRUCT], ['fixture SentencePiece', FIXTURE]] as const) {
  describe(`TokenTable (${name})`, () => {
    test('decode equals the full tokenizer on 1,000 random id sequences, special tokens skipped and kept', async () => {
      const tok = await loadTokenizer(dir);
      const table = TokenTable.fromTokenizer(tok);
      assert.equal(table.vocabSize, tok.vocabSize);
      assert.deepEqual([...table.specialTokenIds].sort((a, b) => a - b), [...tok.specialTokenIds].sort((a, b) => a - b));
      const special = [...tok.specialTokenIds];
      for (let seed = 1; seed <= 1000; seed++) {
        const ids = randomIds(tok.vocabSize, special, seed, 1 + (seed % 13));
        for (const skipSpecialTokens of [true, false]) {
          assert.equal(table.decode(ids, { skipSpecialTokens }), tok.decode(ids, { skipSpecialTokens }), `seed ${seed}: ${ids}`);
        }
      }
    });

    test('the incremental detokenizer gives the same pieces over the table as over the tokenizer', async () => {
      const tok = await loadTokenizer(dir);
      const table = TokenTable.fromTokenizer(tok);
      const ids = tok.encode('Héllo wörld 🤖👍🏽 你好，世界 — done.', { addSpecialTokens: false });
      const run = (src: typeof tok | TokenTable) => {
        const d = new IncrementalDetokenizer(src, { skipSpecialTokens: true, contextIds: [ids[0]!] });
        return [...ids.slice(1).map((id) => d.push(id)), d.flush()];
      };
      assert.deepEqual(run(table), run(tok));
    });
  });
}

describe('exact token bytes through the engine', () => {
  test('a token holding part of a UTF-8 character reports its real bytes in logprobs', async () => {
    const { Engine } = await import('../src/runtime/engine.ts');
    const { greedyRequest, collect } = await import('./helpers/engine.ts');
    const tok = await loadTokenizer(INSTRUCT);
    const table = TokenTable.fromTokenizer(tok);
    const partial = tok.encode('🤖', { addSpecialTokens: false }).find((id) => tok.decode([id]).includes('\uFFFD'))!;
    assert.ok(partial !== undefined, 'the emoji splits into byte tokens');
    const engine = await Engine.start({ modelDir: INSTRUCT });
    try {
      const events = await collect(engine.generate(greedyRequest([128000, 9906], {
        maxTokens: 1,
        returnTokenText: true,
        sampling: { ...greedyRequest([]).sampling, logitBias: { [partial]: 100 }, logprobs: 2 },
      })));
      const t = events.find((e) => e.type === 'token');
      assert.ok(t && t.type === 'token');
      assert.equal(t.tokenId, partial);
      assert.ok(t.token!.includes('\uFFFD'));
      assert.deepEqual(t.bytes, [...table.tokenBytes(partial)]);
      assert.ok(t.bytes!.length > 0 && t.bytes![0]! >= 0x80, 'raw UTF-8 bytes, not the replacement character');
      assert.deepEqual(t.topLogprobs![0]!.bytes, t.bytes);
    } finally {
      await engine.close();
    }
  });
});
