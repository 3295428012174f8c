import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostKvMemory, type HostKvArray } from '../src/runtime/kv/memory.ts';
import { KvBudgetError, KvPool, KvStore, type KvGeometry } from '../src/runtime/kv/store.ts';

const geo = (side: 'left' | 'right'): KvGeometry => ({ numLayers: 2, numKvHeads: 2, headDim: 3, dtype: 'float32', side });

/** A value that names its layer, kind, row (sequence id), head, token position and dim. */
const code = (layer: number, kind: number, seq: number, h: number, pos: number, d: number) =>
  layer * 1e6 + kind * 5e5 + seq * 1e4 + h * 1e3 + pos * 10 + d + 1;

/**
 * Runs a fake step as the graph would: present = past + `added` new columns, each row's new tokens
 * padded on the store's side, holding codes of the row's sequence id and positions.
 */
function fakeStep(store: KvStore<HostKvArray>, seqIds: number[], real: number[]): void {
  const added = Math.max(1, ...real);
  store.checkStep(added);
  const { numLayers, numKvHeads: H, headDim: D, side } = store.pool.geo;
  const L = store.length;
  for (let layer = 0; layer < numLayers; layer++) {
    for (const [k, kind] of [[0, 'keys'], [1, 'values']] as const) {
      const past = store.past(layer, kind).array.data;
      const present = store.present(layer, kind, added).array.data;
      for (let r = 0; r < store.rows; r++) {
        for (let h = 0; h < H; h++) {
          for (let c = 0; c < L; c++) {
            for (let d = 0; d < D; d++) present[((r * H + h) * (L + added) + c) * D + d] = past[((r * H + h) * L + c) * D + d]!;
          }
          // Left padding: the new columns are L..L+added-1, real tokens last. Right padding: a row's new
          // tokens go right after its valid ones (GroupQueryAttention writes at sum(mask) - 1).
          const firstNew = side === 'left' ? L + added - real[r]! : store.lens[r]!;
          const padFrom = side === 'left' ? L : store.lens[r]! + real[r]!;
          const padTo = side === 'left' ? L + added - real[r]! : L + added;
          for (let d = 0; d < D; d++) {
            for (let c = padFrom; c < padTo; c++) present[((r * H + h) * (L + added) + c) * D + d] = NaN;
            for (let j = 0; j < real[r]!; j++) {
              present[((r * H + h) * (L + added) + firstNew + j) * D + d] = code(layer, k, seqIds[r]!, h, store.lens[r]! + j, d);
            }
          }
        }
      }
    }
  }
  store.adopt(added, real);
}

/** Checks that every row holds exactly its sequence's codes at its valid columns and zeros/finite data elsewhere. */
function checkContents(store: KvStore<HostKvArray>, seqIds: number[]): void {
  const { numLayers, numKvHeads: H, headDim: D, side } = store.pool.geo;
  const L = store.length;
  for (let layer = 0; layer < numLayers; layer++) {
    for (const [k, kind] of [[0, 'keys'], [1, 'values']] as const) {
      const data = store.past(layer, kind).array.data;
      for (let r = 0; r < store.rows; r++) {
        const len = store.lens[r]!;
        const first = side === 'left' ? L - len : 0;
        for (let h = 0; h < H; h++) {
          for (let c = 0; c < L; c++) {
            for (let d = 0; d < D; d++) {
              const v = data[((r * H + h) * L + c) * D + d]!;
              if (c >= first && c < first + len) assert.equal(v, code(layer, k, seqIds[r]!, h, c - first, d), `row ${r} col ${c}`);
              // Left padding: masked columns still enter attention (probability 0 × value), so they
              // must hold no NaN. Right padding (GroupQueryAttention) never reads past a row's length.
              else if (side === 'left') assert.ok(Number.isFinite(v), `padding of row ${r} col ${c} is finite (${v})`);
            }
          }
        }
      }
    }
  }
}

for (const side of ['left', 'right'] as const) {
  describe(`KV store (${side} padding)`, () => {
    test('prefill, join with repeated rows, decode, leave: rows keep their own tokens; padding never holds NaN', () => {
      const mem = new HostKvMemory('float32');
      const pool = new KvPool(mem, geo(side), 10_000);
      const decode = new KvStore(pool);
      let seqIds: number[] = [];
      // Group A: prompts of 5 and 2 tokens; the second is joined twice (n = 2).
      const a = KvStore.forPrefill(pool, 2, 5, false);
      fakeStep(a, [1, 2], [5, 2]);
      decode.absorb(a, [0, 1, 1], [20, 12, 12]);
      a.release();
      seqIds = [1, 2, 2];
      checkContents(decode, seqIds);
      for (let i = 0; i < 3; i++) fakeStep(decode, seqIds, [1, 1, 1]);
      // Group B: one prompt of 9 tokens, prefilled in two chunks.
      const b = KvStore.forPrefill(pool, 1, 9, true);
      fakeStep(b, [7], [4]);
      fakeStep(b, [7], [5]);
      decode.absorb(b, [0], [15]);
      b.release();
      seqIds = [...seqIds, 7];
      checkContents(decode, seqIds);
      fakeStep(decode, seqIds, [1, 1, 1, 1]);
      decode.keep([0, 3]);
      seqIds = [1, 7];
      checkContents(decode, seqIds);
      assert.deepEqual(decode.lens, [9, 10], 'prompt 5 + 4 decoded; prompt 9 + 1 decoded');
      fakeStep(decode, seqIds, [1, 1]);
      checkContents(decode, seqIds);
      decode.keep([]);
      assert.equal(pool.allocatedSlots, 0, 'an empty store holds nothing');
      assert.equal(mem.live, 0, 'every array was freed');
      assert.ok(pool.peakSlots <= pool.budgetSlots);
    });

    test('decode steps allocate nothing; capacity covers every row to its final length', () => {
      const mem = new HostKvMemory('float32');
      const pool = new KvPool(mem, geo(side), 10_000);
      const g = KvStore.forPrefill(pool, 3, 4, false);
      fakeStep(g, [1, 2, 3], [4, 3, 1]);
      const decode = new KvStore(pool);
      decode.absorb(g, [0, 1, 2], [30, 20, 40]);
      g.release();
      fakeStep(decode, [1, 2, 3], [1, 1, 1]); // makes the idle twin of the re-sized buffer
      const allocations = mem.allocations;
      // Row 2 (final 40) may take 38 more tokens: every one of those steps must fit without allocating.
      for (let i = 0; i < 38; i++) fakeStep(decode, [1, 2, 3], [1, 1, 1]);
      assert.equal(mem.allocations, allocations);
      assert.throws(() => decode.checkStep(1), KvBudgetError, 'past every final length the store refuses to grow');
      checkContents(decode, [1, 2, 3]);
    });

    test('joinCost bounds what the pool really reaches, and the pool refuses past its budget', () => {
      const mem = new HostKvMemory('float32');
      const pool = new KvPool(mem, geo(side), 600);
      const decode = new KvStore(pool);
      const first = [{ promptLen: 6, n: 2, finalLen: 20 }];
      const c1 = decode.joinCost(first, 6, 1);
      const g = KvStore.forPrefill(pool, 1, 6, false);
      fakeStep(g, [1], [6]);
      decode.absorb(g, [0, 0], [20, 20]);
      g.release();
      for (let i = 0; i < 3; i++) fakeStep(decode, [1, 1], [1, 1]);
      assert.ok(pool.peakSlots <= c1.peak, `peak ${pool.peakSlots} <= predicted ${c1.peak}`);
      assert.equal(pool.allocatedSlots, c1.after);
      const second = [{ promptLen: 10, n: 1, finalLen: 30 }];
      const c2 = decode.joinCost(second, 10, 2);
      const before = pool.peakSlots;
      pool.peakSlots = pool.allocatedSlots;
      const h = KvStore.forPrefill(pool, 1, 10, true);
      fakeStep(h, [5], [5]);
      fakeStep(decode, [1, 1], [1, 1]);
      fakeStep(h, [5], [5]);
      decode.absorb(h, [0], [30]);
      h.release();
      fakeStep(decode, [1, 1, 5], [1, 1, 1]);
      assert.ok(pool.peakSlots <= c2.peak, `peak ${pool.peakSlots} <= predicted ${c2.peak}`);
      assert.ok(before <= 600 && pool.peakSlots <= 600);
      assert.throws(() => pool.alloc(600), KvBudgetError);
      checkContents(decode, [1, 1, 5]);
      assert.ok(pool.allocatedSlots <= c2.after, 'after the join: within what joinCost said');
    });
  });
}
