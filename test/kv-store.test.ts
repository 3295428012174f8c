import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostKvMemory, type HostKvArray } from '../src/runtime/kv/memory.ts';
import { KvBudgetError, KvPool, KvStore, type KvGeometry } from '../src/runtime/kv/store.ts';

const geo = (side: 'left' | 'right', inPlace = false): KvGeometry => ({ numLayers: 2, numKvHeads: 2, headDim: 3, dtype: 'float32', side, inPlace });

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
  if (store.inPlace) return fakeStepInPlace(store, seqIds, real, added);
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

/** GroupQueryAttention with a shared buffer: each row's new tokens are written at its own positions. */
function fakeStepInPlace(store: KvStore<HostKvArray>, seqIds: number[], real: number[], added: number): void {
  const { numLayers, numKvHeads: H, headDim: D } = store.pool.geo;
  for (let layer = 0; layer < numLayers; layer++) {
    for (const [k, kind] of [[0, 'keys'], [1, 'values']] as const) {
      const view = store.present(layer, kind, added);
      assert.equal(view.array, store.past(layer, kind).array, 'past and present share one buffer');
      const S = view.dims[2];
      for (let r = 0; r < store.rows; r++) {
        for (let h = 0; h < H; h++) {
          for (let j = 0; j < real[r]!; j++) {
            const pos = store.lens[r]! + j;
            assert.ok(pos < S, 'the write stays inside the row');
            for (let d = 0; d < D; d++) view.array.data[((r * H + h) * S + pos) * D + d] = code(layer, k, seqIds[r]!, h, pos, d);
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
  for (let layer = 0; layer < numLayers; layer++) {
    for (const [k, kind] of [[0, 'keys'], [1, 'values']] as const) {
      const { array, dims } = store.past(layer, kind);
      const data = array.data;
      const L = dims[2];
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

for (const [side, inPlace] of [['left', false], ['right', false], ['right', true]] as const) {
  describe(`KV store (${side} padding, decode ${inPlace ? 'in place' : 'ping-pong'})`, () => {
    test('prefill, join with repeated rows, decode, leave: rows keep their own tokens; padding never holds NaN', () => {
      const mem = new HostKvMemory('float32');
      const pool = new KvPool(mem, geo(side, inPlace), 10_000);
      const decode = KvStore.forDecode(pool);
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
      const pool = new KvPool(mem, geo(side, inPlace), 10_000);
      const g = KvStore.forPrefill(pool, 3, 4, false);
      fakeStep(g, [1, 2, 3], [4, 3, 1]);
      const decode = KvStore.forDecode(pool);
      decode.absorb(g, [0, 1, 2], [30, 20, 40]);
      g.release();
      fakeStep(decode, [1, 2, 3], [1, 1, 1]); // makes the idle twin of a re-sized ping-pong buffer
      // Rows leave when they reach their final length (as the step loop drops them); every step in
      // between must fit without allocating.
      let ids = [1, 2, 3];
      let finals = [30, 20, 40];
      for (;;) {
        const before = mem.allocations;
        fakeStep(decode, ids, ids.map(() => 1));
        assert.equal(mem.allocations, before, `a step at length ${decode.length} allocated`);
        const keep = ids.flatMap((_, r) => (decode.lens[r]! < finals[r]! ? [r] : []));
        if (keep.length === 0) break;
        if (keep.length < ids.length) {
          decode.keep(keep);
          ids = keep.map((r) => ids[r]!);
          finals = keep.map((r) => finals[r]!);
          checkContents(decode, ids);
        }
      }
      assert.deepEqual([ids, decode.lens], [[3], [40]], 'the longest row reached its final length');
      // In place, a row's columns end at its final length; ping-pong capacity may keep slack from rows gone.
      if (inPlace) assert.throws(() => decode.checkStep(1), KvBudgetError, 'past its final length the store refuses to grow');
      checkContents(decode, ids);
    });

    test('joinCost bounds what the pool really reaches, and the pool refuses past its budget', () => {
      const mem = new HostKvMemory('float32');
      const pool = new KvPool(mem, geo(side, inPlace), 600);
      const decode = KvStore.forDecode(pool);
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
