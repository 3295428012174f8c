import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.ts';
import { NativeModel } from '../src/runtime/native-model.ts';
import { KvStore } from '../src/runtime/kv/store.ts';
import { NativeSession } from '../src/runtime/ort/session.ts';
import { argmax } from '../src/runtime/sampling.ts';
import { EngineError } from '../src/runtime/types.ts';
import { INSTRUCT, INSTRUCT_GENAI } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, tokenIds } from './helpers/engine.ts';
import { readModelFolder } from '../src/runtime/model-loader.ts';

describe('native runtime: memory', () => {
  for (const [name, dir] of [['optimum style', INSTRUCT], ['genai style', INSTRUCT_GENAI]] as const) {
    test(`${name}: 200 decode steps at batch 8, context 1k, allocate nothing KV-sized`, () => {
      const model = NativeModel.open(dir);
      try {
        const pool = model.createPool(100_000);
        const rows = 8;
        const prompts = Array.from({ length: rows }, (_, r) => prompt(1000 - r * 3, r + 1, 128000));
        const group = KvStore.forPrefill(pool, rows, 1000, false);
        const first = model.step(group, prompts).map((l) => argmax(l));
        const decode = new KvStore(pool);
        decode.absorb(group, prompts.map((_, r) => r), prompts.map((p) => p.length + 230));
        group.release();
        let next = first;
        const run = (steps: number) => {
          for (let i = 0; i < steps; i++) next = model.step(decode, next.map((t) => [t])).map((l) => argmax(l));
        };
        run(10); // warm-up: the idle twin and the staging buffers are made here
        global.gc?.();
        const mem0 = process.memoryUsage();
        const allocs0 = pool.allocations;
        const live0 = model.memory.live;
        run(200);
        global.gc?.();
        const mem1 = process.memoryUsage();
        // One step's KV (8 rows × ~1.2k columns × 2 layers × keys+values × 2 heads × 16 × 4 bytes) is
        // ~4.9 MB; a copy per step would add ~1 GB over 200 steps.
        const kvStepBytes = rows * 1200 * 2 * 2 * 2 * 16 * 4;
        assert.equal(pool.allocations, allocs0, 'no KV buffer allocated during decode');
        assert.equal(model.memory.live, live0, 'no native KV array allocated during decode');
        assert.ok(mem1.arrayBuffers - mem0.arrayBuffers < kvStepBytes, `array buffers grew ${mem1.arrayBuffers - mem0.arrayBuffers} bytes`);
        assert.ok(mem1.external - mem0.external < kvStepBytes, `external memory grew ${mem1.external - mem0.external} bytes`);
        assert.equal(decode.length, 1000 + 210);
        decode.release();
        assert.equal(pool.allocatedSlots, 0);
      } finally {
        model.close();
      }
    });
  }

  test('opening and closing many sessions and values leaks no native memory', () => {
    const path = readModelFolder(INSTRUCT).onnxPath;
    const rss = () => process.memoryUsage().rss;
    const cycle = () => {
      const model = NativeModel.open(INSTRUCT);
      const pool = model.createPool(10_000);
      const g = KvStore.forPrefill(pool, 2, 16, false);
      model.step(g, [prompt(16, 3, 128000), prompt(9, 4, 128000)]);
      g.release();
      model.forward([prompt(5, 5, 128000)]);
      model.close();
      NativeSession.open(path, { provider: 'cpu', deviceId: 0, intraOpThreads: 1 }).release();
    };
    for (let i = 0; i < 5; i++) cycle();
    const before = rss();
    for (let i = 0; i < 30; i++) cycle();
    const grown = rss() - before;
    // One session of this model holds ~36 MB of weights: 30 leaked sessions would be > 1 GB.
    assert.ok(grown < 150 * 1024 * 1024, `RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB over 30 open/close cycles`);
  });

  test('ONNX Runtime errors name the model and the call', () => {
    assert.throws(() => NativeSession.open('/nonexistent/model.onnx', { provider: 'cpu', deviceId: 0, intraOpThreads: 0 }), /creating the session for \/nonexistent\/model.onnx/);
  });
});

describe('bounded KV memory (63 short requests + long ones under a 6,000-slot budget)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.start({ modelDir: INSTRUCT, limits: { maxNumSeqs: 64, kvBudgetTokens: 6000 }, maxNumQueuedReqs: 16 });
  });
  after(async () => engine.close());

  test('allocated KV never passes the budget; a long request that fits alone waits; one that never fits is refused', async () => {
    const shorts = Array.from({ length: 63 }, (_, i) => collect(engine.generate(greedyRequest(prompt(30, i + 1, 128000)))));
    // 400 + 1,500 tokens, twice over for the store's two buffers: fits the budget alone, not beside 63 others.
    const waiting = collect(engine.generate(greedyRequest(prompt(400, 99, 128000), { maxTokens: 1500 })));
    // 4,100 + 12 tokens (prefilled in 9 chunks, whose store has two buffers too) needs more than the
    // budget even alone: refused at once, naming the numbers.
    assert.throws(
      () => engine.generate(greedyRequest(prompt(4100, 98, 128000))),
      (err: unknown) => err instanceof EngineError && err.code === 'invalid_request' && err.param === 'max_tokens' && /KV cache budget holds \(6000\)/.test(err.message),
    );
    const results = await Promise.all([...shorts, waiting]);
    results.forEach((events, i) => {
      assert.deepEqual(events.filter((e) => e.type === 'error'), [], `request ${i} ran without errors`);
      assert.equal(tokenIds(events).length, i < 63 ? 12 : 1500, `request ${i} got all its tokens`);
    });
    const stats = engine.stats();
    assert.ok(stats.kvPeakTokens <= 6000, `peak KV ${stats.kvPeakTokens} slots within the 6000 budget`);
    assert.ok(stats.kvPeakTokens >= 3800, `the long request really used the budget (peak ${stats.kvPeakTokens})`);
    assert.equal(stats.kvUsedTokens, 0, 'everything freed at the end');
    assert.equal(stats.running, 0);
  });
});
