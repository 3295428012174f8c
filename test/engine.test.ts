import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.ts';
import { ModelSession } from '../src/runtime/model-session.ts';
import { KvBatch } from '../src/runtime/kv-cache.ts';
import { argmax } from '../src/runtime/sampling.ts';
import { EngineError } from '../src/runtime/types.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModelFolder } from '../src/modelgen/folder.ts';
import { resolveSpec } from '../src/modelgen/spec.ts';
import { FIXTURE, INSTRUCT, INSTRUCT_GENAI } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, tokenIds } from './helpers/engine.ts';

// float16 builds of both of our styles (the same weights rounded), made for this run.
const FP16 = mkdtempSync(join(tmpdir(), 'engine-fp16-'));
for (const preset of ['instruct', 'instruct-genai']) buildModelFolder(resolveSpec(preset, { dtype: 'float16' }), join(FP16, preset));
after(() => rmSync(FP16, { recursive: true, force: true }));

const MODELS = [
  { name: 'optimum-style instruct (fp32, left padding)', dir: INSTRUCT, vocab: 128000 },
  { name: 'genai-style instruct (GroupQueryAttention, right padding, KV in place)', dir: INSTRUCT_GENAI, vocab: 128000 },
  { name: 'optimum-style instruct, fp16', dir: join(FP16, 'instruct'), vocab: 128000 },
  { name: 'genai-style instruct, fp16', dir: join(FP16, 'instruct-genai'), vocab: 128000 },
  { name: 'shared fixture (ONNX Runtime GenAI builder, fp16)', dir: FIXTURE, vocab: 32000 },
];

/** Greedy decoding by recomputing the whole sequence each token, with no cache reuse. */
async function recomputeGreedy(session: ModelSession, ids: number[], n: number): Promise<number[]> {
  const seq = [...ids];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const [logits] = await session.step(KvBatch.empty(session.geometry, 1), [seq]);
    const t = argmax(logits!);
    out.push(t);
    seq.push(t);
  }
  return out;
}

for (const model of MODELS) {
  describe(`engine on ${model.name}`, () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.start({ modelDir: model.dir, limits: { maxNumSeqs: 16, maxBatchedTokens: 64, minChunk: 16 } });
    });
    after(async () => engine.close());

    test('batched equals unbatched: 9 concurrent greedy requests of different lengths', async () => {
      const prompts = Array.from({ length: 9 }, (_, i) => prompt(3 + i * 11, i + 1, model.vocab));
      const alone: number[][] = [];
      for (const p of prompts) alone.push(tokenIds(await collect(engine.generate(greedyRequest(p)))));
      const together = await Promise.all(prompts.map((p) => collect(engine.generate(greedyRequest(p)))));
      together.forEach((events, i) => {
        assert.deepEqual(events.filter((e) => e.type === 'error'), [], `request ${i} ran without errors`);
        assert.equal(alone[i]!.length, 12, `request ${i} alone gave all its tokens`);
        assert.deepEqual(tokenIds(events), alone[i], `request ${i}`);
      });
      // The longest prompts (> 64 tokens) needed several prefill chunks while others decoded.
      assert.ok(prompts.some((p) => p.length > 64));
    });

    test('cached equals recomputed: KV-cache decoding matches full recomputation', async () => {
      const session = await ModelSession.open(model.dir);
      try {
        for (const len of [1, 7, 40]) {
          const p = prompt(len, 100 + len, model.vocab);
          const viaEngine = tokenIds(await collect(engine.generate(greedyRequest(p, { maxTokens: 8 }))));
          assert.deepEqual(viaEngine, await recomputeGreedy(session, p, 8), `prompt length ${len}`);
        }
      } finally {
        await session.close();
      }
    });

    test('seeded sampling gives the same tokens alone and inside a busy batch', async () => {
      const sampled = greedyRequest(prompt(9, 7, model.vocab), {
        maxTokens: 16,
        sampling: { ...greedyRequest([]).sampling, temperature: 1.0, topP: 0.95, seed: 1234 },
      });
      const alone = tokenIds(await collect(engine.generate(sampled)));
      const noise = Array.from({ length: 6 }, (_, i) => engine.generate(greedyRequest(prompt(5 + i * 13, 50 + i, model.vocab), { maxTokens: 20 })));
      const [busy] = await Promise.all([collect(engine.generate(sampled)), ...noise.map(collect)]);
      assert.deepEqual(tokenIds(busy!), alone);
      const otherSeed = { ...sampled, sampling: { ...sampled.sampling, seed: 4321 } };
      assert.notDeepEqual(tokenIds(await collect(engine.generate(otherSeed))), alone);
    });

    test('n = 3 from one prefill: each choice equals a lone request with seed + index', async () => {
      const base = greedyRequest(prompt(11, 3, model.vocab), {
        maxTokens: 10,
        n: 3,
        sampling: { ...greedyRequest([]).sampling, temperature: 0.8, seed: 77 },
      });
      const events = await collect(engine.generate(base));
      for (let i = 0; i < 3; i++) {
        const lone = { ...base, n: 1, sampling: { ...base.sampling, seed: 77 + i } };
        assert.deepEqual(tokenIds(events, i), tokenIds(await collect(engine.generate(lone))), `choice ${i}`);
      }
      assert.equal(events.filter((e) => e.type === 'end').length, 3);
    });
  });
}

describe('engine lifecycle', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.start({ modelDir: INSTRUCT, limits: { maxNumSeqs: 2 }, maxNumQueuedReqs: 1 });
  });
  after(async () => engine.close());

  test('abort mid-generation: the sequence leaves at once; running and KV usage return to zero', async () => {
    const ac = new AbortController();
    const events = [];
    let atEnd = engine.stats();
    for await (const e of engine.generate(greedyRequest(prompt(20, 9), { maxTokens: 5000 }), ac.signal)) {
      events.push(e);
      if (events.length === 5) ac.abort();
      // The worker reports the abort's end event together with its counts right after removing the row.
      if (e.type === 'end') atEnd = engine.stats();
    }
    const end = events.at(-1)!;
    assert.equal(end.type, 'end');
    assert.equal(end.type === 'end' && end.finishReason, 'abort');
    assert.ok(tokenIds(events).length < 5000);
    assert.equal(atEnd.running, 0, 'no row left running when the abort end event arrives');
    assert.equal(atEnd.kvUsedTokens, 0, 'its KV cache freed by then');
    assert.equal(engine.inFlight, 0);
  });

  test('leaving a for-await loop early aborts the generation', async () => {
    let count = 0;
    for await (const e of engine.generate(greedyRequest(prompt(8, 2), { maxTokens: 5000 }))) {
      if (e.type === 'token' && ++count === 3) break;
    }
    await waitFor(() => engine.stats().running === 0 && engine.inFlight === 0);
  });

  test('a full waiting queue fails at once with "overloaded"', async () => {
    const long = () => engine.generate(greedyRequest(prompt(8, 4), { maxTokens: 40 }));
    const running = [long(), long()];
    const queued = long();
    assert.throws(() => long(), (err: unknown) => err instanceof EngineError && err.code === 'overloaded');
    const done = await Promise.all([...running, queued].map(collect));
    assert.ok(done.every((ev) => ev.at(-1)?.type === 'end' && (ev.at(-1) as { finishReason: string }).finishReason === 'length'));
  });

  test('a crashed worker: its requests end with an error event, and it is restarted', async () => {
    const events: string[] = [];
    const run = (async () => {
      for await (const e of engine.generate(greedyRequest(prompt(8, 5), { maxTokens: 5000 }))) {
        events.push(e.type === 'error' ? `error:${e.code}` : e.type);
        if (events.length === 3) engine.simulateWorkerCrash();
      }
    })();
    await run;
    assert.ok(events.includes('error:worker_crashed'));
    assert.equal(events.at(-1), 'end');
    await waitFor(() => engine.stats().alive);
    assert.equal(engine.stats().restarts, 1);
    const after = await collect(engine.generate(greedyRequest(prompt(8, 6), { maxTokens: 4 })));
    assert.equal(tokenIds(after).length, 4);
  });
});

describe('main thread stays free', () => {
  test('a main-thread timer keeps firing during one long forward pass', async () => {
    // One 6,000-token prompt in a single prefill chunk: a single long session.run in the worker.
    const engine = await Engine.start({ modelDir: INSTRUCT, limits: { maxBatchedTokens: 8192, minChunk: 8192 } });
    try {
      const ticks: number[] = [];
      const timer = setInterval(() => ticks.push(performance.now()), 5);
      const events = await collect(engine.generate(greedyRequest(prompt(6000, 11), { maxTokens: 1 })));
      clearInterval(timer);
      assert.equal(tokenIds(events).length, 1);
      const longest = Math.max(...engine.stats().recentStepMs);
      const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!);
      assert.ok(longest > 100, `the prefill step should be long enough to matter (${longest.toFixed(0)} ms)`);
      assert.ok(ticks.length >= Math.floor(longest / 5 / 3), `timer fired ${ticks.length} times during a ${longest.toFixed(0)} ms step`);
      assert.ok(Math.max(...gaps) < longest / 2, `largest timer gap ${Math.max(...gaps).toFixed(0)} ms vs step ${longest.toFixed(0)} ms`);
    } finally {
      await engine.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
