import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.ts';
import { HostKvMemory, type HostKvArray } from '../src/runtime/kv/memory.ts';
import { KvPool, KvStore, type KvGeometry } from '../src/runtime/kv/store.ts';
import { commonPrefix, PrefixCache } from '../src/runtime/kv/prefix-cache.ts';
import type { GenerationEvent } from '../src/runtime/types.ts';
import { FIXTURE, INSTRUCT, INSTRUCT_GENAI } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, tokenIds } from './helpers/engine.ts';

const GEO: KvGeometry = { numLayers: 1, numKvHeads: 1, headDim: 2, dtype: 'float32', side: 'left', inPlace: false };

/** A one-row store whose token t holds the values [t, -t] (keys and values alike). */
function filled(pool: KvPool<HostKvArray>, tokens: number[]): KvStore<HostKvArray> {
  const s = KvStore.forPrefill(pool, 1, tokens.length, false);
  const present = s.present(0, 'keys', tokens.length);
  const vals = s.present(0, 'values', tokens.length);
  tokens.forEach((t, i) => {
    present.array.data.set([t, -t], i * 2);
    vals.array.data.set([t, -t], i * 2);
  });
  s.adopt(tokens.length, [tokens.length]);
  return s;
}

/** Keys of row 0 of a store, as token numbers. */
function keysOf(s: KvStore<HostKvArray>): number[] {
  const v = s.past(0, 'keys');
  const cols = v.dims[2];
  return Array.from({ length: s.lens[0]! }, (_, i) => v.array.data[(cols - s.lens[0]! + i) * 2]!);
}

describe('PrefixCache (host memory)', () => {
  test('commonPrefix stops at the first difference and at the limit', () => {
    assert.equal(commonPrefix([1, 2, 3, 4], [1, 2, 9]), 2);
    assert.equal(commonPrefix([1, 2, 3, 4], [1, 2, 3, 4], 3), 3);
    assert.equal(commonPrefix([], [1]), 0);
  });

  test('a lookup finds the longest shared prefix, capped, and only under the same salt', () => {
    const pool = new KvPool(new HostKvMemory('float32'), GEO, 1000);
    const cache = new PrefixCache(pool, 2);
    const a = [10, 11, 12, 13, 14, 15];
    const src = filled(pool, a);
    cache.insert(a, '', src, 0);
    cache.insert([10, 11, 20, 21], 'tenant-b', filled(pool, [10, 11, 20, 21]), 0);
    assert.equal(cache.lookup([10, 11, 12, 99], '', 3)?.tokens, 3);
    assert.equal(cache.lookup([10, 11, 12, 13, 14, 15, 16], '', 6)?.tokens, 6);
    assert.equal(cache.lookup([10, 11, 12, 13, 14, 15], '', 5)?.tokens, 5, 'capped below the prompt length');
    assert.equal(cache.lookup([10, 99], '', 5), undefined, 'shorter than minTokens');
    assert.equal(cache.lookup([10, 11, 12, 13], 'tenant-b', 3)?.tokens, 2, 'another salt sees only its own entries');
    assert.equal(cache.lookup([10, 11, 12, 13], 'tenant-c', 3), undefined);
    // The entry holds the KV of exactly its tokens.
    assert.deepEqual(keysOf(cache.lookup(a.concat(7), '', 6)!.entry), a);
  });

  test('an entry covered by a newer, longer one is dropped; a covered insert only refreshes', () => {
    const pool = new KvPool(new HostKvMemory('float32'), GEO, 1000);
    const cache = new PrefixCache(pool, 2);
    cache.insert([1, 2, 3], '', filled(pool, [1, 2, 3]), 0);
    const longer = filled(pool, [1, 2, 3, 4, 5]);
    cache.insert([1, 2, 3, 4, 5], '', longer, 0);
    assert.equal(cache.stats().entries, 1);
    assert.equal(cache.stats().cachedTokens, 5);
    cache.insert([1, 2, 3, 4], '', longer, 0, 4);
    assert.equal(cache.stats().entries, 1, 'a prefix of a cached sequence adds nothing');
    // Only the first `count` tokens of a row are cached.
    cache.insert([7, 8, 9, 10, 11], '', filled(pool, [7, 8, 9, 10, 11]), 0, 3);
    assert.deepEqual(keysOf(cache.lookup([7, 8, 9, 1], '', 3)!.entry), [7, 8, 9]);
  });

  test('the pool reclaims entries least recently used first, never a pinned one, never past the budget', () => {
    const pool = new KvPool(new HostKvMemory('float32'), GEO, 20);
    const cache = new PrefixCache(pool, 2);
    const seqs = [[1, 1, 1, 1, 1], [2, 2, 2, 2, 2], [3, 3, 3, 3, 3]];
    for (const s of seqs) {
      const src = filled(pool, s);
      cache.insert(s, '', src, 0);
      src.release();
    }
    assert.equal(pool.allocatedSlots, 15);
    // Use [1…] so that [2…] becomes the least recently used; pin [3…].
    cache.record(5, cache.lookup([1, 1, 1, 1, 9], '', 4));
    const pinned = cache.lookup([3, 3, 3, 3, 9], '', 4)!;
    cache.pin(pinned);
    const big = pool.alloc(10); // needs 5 more slots than are free: one entry must go
    assert.ok(pool.allocatedSlots <= pool.budgetSlots);
    assert.equal(cache.lookup([2, 2, 2, 2, 9], '', 4), undefined, 'the least recently used entry went');
    assert.ok(cache.lookup([1, 1, 1, 1, 9], '', 4));
    assert.throws(() => pool.alloc(10), /budget/, 'a pinned entry is not reclaimed');
    cache.unpin(pinned);
    pool.alloc(10);
    assert.equal(cache.stats().entries, 0);
    assert.equal(cache.stats().evictions, 3);
    pool.free(big);
  });

  test('an insert the pool cannot hold is skipped, not an error', () => {
    const pool = new KvPool(new HostKvMemory('float32'), GEO, 8);
    const cache = new PrefixCache(pool, 2);
    const src = filled(pool, [1, 2, 3, 4, 5, 6]);
    cache.insert([1, 2, 3, 4, 5, 6], '', src, 0);
    assert.equal(cache.stats().entries, 0);
    assert.equal(pool.allocatedSlots, 6);
  });
});

/** Token ids and logprobs of sequence 0, and the end event. */
function outcome(events: GenerationEvent[]) {
  const end = events.find((e) => e.type === 'end');
  assert.deepEqual(events.filter((e) => e.type === 'error'), [], 'no error events');
  return {
    ids: tokenIds(events),
    logprobs: events.flatMap((e) => (e.type === 'token' ? [e.logprob!] : [])),
    cached: end?.type === 'end' ? (end.cachedTokens ?? 0) : -1,
  };
}

function assertSame(a: ReturnType<typeof outcome>, b: ReturnType<typeof outcome>, what: string): void {
  assert.deepEqual(a.ids, b.ids, `${what}: tokens`);
  a.logprobs.forEach((l, i) => assert.ok(Math.abs(l - b.logprobs[i]!) < 2e-3, `${what}: logprob ${i} ${l} vs ${b.logprobs[i]}`));
}

const ENGINE_MODELS = [
  { name: 'optimum-style (left padding, batched multi-token steps on a past)', dir: INSTRUCT, vocab: 128000 },
  { name: 'genai-style (GroupQueryAttention: suffix prefilled alone)', dir: INSTRUCT_GENAI, vocab: 128000 },
  { name: 'shared fixture (MultiHeadAttention: suffix token by token)', dir: FIXTURE, vocab: 32000 },
];

for (const model of ENGINE_MODELS) {
  describe(`prefix caching on the ${model.name}`, () => {
    let on: Engine;
    let off: Engine;
    const limits = { maxNumSeqs: 16, maxBatchedTokens: 64, minChunk: 16 };
    before(async () => {
      [on, off] = await Promise.all([
        Engine.start({ modelDir: model.dir, limits }),
        Engine.start({ modelDir: model.dir, limits, prefixCaching: false }),
      ]);
    });
    after(async () => Promise.all([on.close(), off.close()]));
    const req = (ids: number[], maxTokens = 6) => greedyRequest(ids, { maxTokens, sampling: { ...greedyRequest([]).sampling, logprobs: 2 } });
    const run = async (e: Engine, ids: number[], maxTokens = 6) => outcome(await collect(e.generate(req(ids, maxTokens))));

    test('prompts sharing none, a few and all but one of their tokens: same tokens and logprobs as without caching', async () => {
      const base = prompt(90, 11, model.vocab);
      assert.equal((await run(on, base)).cached, 0, 'nothing cached yet');
      const variants = [
        { ids: prompt(40, 12, model.vocab), shared: 0 },
        { ids: [...base.slice(0, 6), ...prompt(20, 13, model.vocab)], shared: 6 },
        { ids: [...base.slice(0, 89), 4242], shared: 89 },
        { ids: [...base, ...prompt(5, 14, model.vocab)], shared: 90 },
      ];
      for (const v of variants) {
        const [a, b] = [await run(on, v.ids), await run(off, v.ids)];
        assertSame(a, b, `sharing ${v.shared}`);
        // Cached: the shared prompt tokens, or more (a finished sequence's output is cached too).
        if (v.shared === 0) assert.equal(a.cached, 0);
        else assert.ok(a.cached >= v.shared, `sharing ${v.shared}: cached ${a.cached}`);
        assert.equal(b.cached, 0, 'caching off reports none');
      }
      const again = await run(on, base);
      assert.equal(again.cached, base.length - 1, 'the same prompt again: all but its last token');
      assertSame(again, await run(off, base), 'the same prompt again');
    });

    test('a conversation turn reuses the previous prompt and its output', async () => {
      const turn1 = prompt(30, 21, model.vocab);
      const first = await run(on, turn1, 8);
      const turn2 = [...turn1, ...first.ids, ...prompt(7, 22, model.vocab)];
      const second = await run(on, turn2);
      // All but the last output token were fed back through the model, so their KV is cached.
      assert.equal(second.cached, turn1.length + first.ids.length - 1);
      assertSame(second, await run(off, turn2), 'second turn');
    });

    test('batched: concurrent requests sharing a prefix equal the same requests without caching', async () => {
      const system = prompt(50, 31, model.vocab);
      await run(on, system, 2);
      const prompts = Array.from({ length: 6 }, (_, i) => [...system, ...prompt(3 + 4 * i, 40 + i, model.vocab)]);
      const [withCache, without] = await Promise.all([
        Promise.all(prompts.map((p) => run(on, p))),
        Promise.all(prompts.map((p) => run(off, p))),
      ]);
      withCache.forEach((a, i) => assertSame(a, without[i]!, `request ${i}`));
      assert.ok(withCache.every((a) => a.cached >= (model.dir === FIXTURE ? 0 : system.length)), `cached: ${withCache.map((a) => a.cached)}`);
      assert.ok(withCache.some((a) => a.cached >= system.length));
      const stats = on.stats().prefixCache!;
      assert.ok(stats.hitTokens > 0 && stats.queryTokens >= stats.hitTokens);
      assert.equal(off.stats().prefixCache, undefined);
    });
  });
}

describe('prefix caching under a small KV budget', () => {
  let engine: Engine;
  const budget = 600;
  before(async () => {
    engine = await Engine.start({ modelDir: INSTRUCT, limits: { maxNumSeqs: 8, maxBatchedTokens: 64, minChunk: 16, kvBudgetTokens: budget } });
  });
  after(async () => engine.close());

  test('a sustained mix of distinct prompts evicts, stays within the budget, and admits what fits alone', async () => {
    for (let round = 0; round < 6; round++) {
      const batch = Array.from({ length: 4 }, (_, i) => engine.generate(greedyRequest(prompt(40 + i, 500 + round * 10 + i), { maxTokens: 10 })));
      const results = await Promise.all(batch.map(collect));
      results.forEach((r) => assert.equal(tokenIds(r).length, 10));
      const s = engine.stats();
      assert.ok(s.kvPeakTokens <= budget, `peak ${s.kvPeakTokens}`);
      assert.ok(s.prefixCache!.cachedTokens <= budget);
    }
    const s = engine.stats();
    assert.ok(s.prefixCache!.evictions > 0, 'entries were evicted');
    assert.ok(s.prefixCache!.entries > 0, 'recent entries stay');
    assert.equal(s.kvUsedTokens, 0, 'idle: only evictable cache entries are held');
    // A request needing most of the budget alone still runs while the cache is full.
    const big = await collect(engine.generate(greedyRequest(prompt(150, 999), { maxTokens: 30 })));
    assert.equal(tokenIds(big).length, 30);
    assert.ok(engine.stats().kvPeakTokens <= budget);
  });
});
