/**
 * Prompt logprobs in the runtime: the builder's logits_positions input (against the float64 reference),
 * the worker's per-position logprobs (against a greedy completion's own logprobs), chunked prefill, the
 * prefix cache (never hit by such a request), max_tokens 0, and the refusal of a graph that cannot answer.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModelFolder } from '../src/modelgen/folder.ts';
import { LlamaReference } from '../src/modelgen/reference.ts';
import { resolveSpec, specFingerprint } from '../src/modelgen/spec.ts';
import { Scheduler } from '../src/runtime/scheduler.ts';
import { promptLogprobsChunk } from '../src/runtime/prompt-logprobs.ts';
import { Engine } from '../src/runtime/engine.ts';
import { KvStore } from '../src/runtime/kv/store.ts';
import { NativeModel } from '../src/runtime/native-model.ts';
import { promptTokenLogprob } from '../src/runtime/prompt-logprobs.ts';
import { EngineError, type GenerationEvent, type PromptLogprobs } from '../src/runtime/types.ts';
import { FIXTURE, INSTRUCT, INSTRUCT_GENAI } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, tokenIds } from './helpers/engine.ts';

const describeId = (id: number) => ({ token: `t${id}`, bytes: [id % 256] });

test('promptTokenLogprob: log-softmax, rank counts strictly larger logits, top-k most likely first', () => {
  const logits = Float32Array.from([1, 3, 2, 3, -Infinity]);
  const z = Math.log(Math.exp(1) + 2 * Math.exp(3) + Math.exp(2));
  const e = promptTokenLogprob(logits, 2, 2, describeId);
  assert.equal(e.rank, 3);
  assert.ok(Math.abs(e.logprob - (2 - z)) < 1e-9);
  assert.deepEqual(e.top.map((t) => t.tokenId), [1, 3]);
  assert.equal(e.token, 't2');
  assert.equal(promptTokenLogprob(logits, 1, 0, describeId).rank, 1);
  assert.deepEqual(promptTokenLogprob(logits, 1, 0, describeId).top, []);
  const banned = promptTokenLogprob(logits, 4, 1, describeId);
  assert.equal(banned.logprob, -Infinity);
  assert.equal(banned.rank, 5);
});

test('scheduler: a request with maxChunk prefills alone, at most maxChunk tokens per step', () => {
  const s = new Scheduler({ maxNumSeqs: 8, maxBatchedTokens: 64, minChunk: 8 }, { check: () => 'fits' });
  s.enqueue({ id: 1, promptLen: 10, n: 1, maxTokens: 5, maxChunk: 4 });
  s.enqueue({ id: 2, promptLen: 10, n: 1, maxTokens: 5 });
  const spans: Array<[number[], number, number]> = [];
  for (let i = 0; i < 10; i++) {
    const plan = s.plan();
    if (!plan.prefill) break;
    spans.push([[...plan.prefill.group.ids], plan.prefill.from, plan.prefill.to]);
    s.prefillDone(plan);
  }
  assert.deepEqual(spans, [[[1], 0, 4], [[1], 4, 8], [[1], 8, 10], [[2], 0, 10]]);
  assert.equal(promptLogprobsChunk(128256), 261);
});

test('builder: the positions input is in the spec fingerprint and named in config.json', () => {
  assert.notEqual(specFingerprint(resolveSpec('instruct')), specFingerprint(resolveSpec('instruct', { logitsPositions: false })));
  assert.throws(() => resolveSpec('reward-attributes', { logitsPositions: true }), /logits_positions/);
});

describe('logits_positions input: chosen positions equal the float64 reference', () => {
  for (const [name, dir] of [['optimum', INSTRUCT], ['genai', INSTRUCT_GENAI]] as const) {
    test(`${name}: every prompt position of a 2-row batch, and the default run unchanged`, () => {
      const model = NativeModel.open(dir);
      try {
        assert.equal(model.spec.promptLogprobs, true);
        assert.equal(model.spec.inputs.logitsPositions, 'logits_positions');
        const ref = LlamaReference.fromFolder(dir);
        const prompts = [prompt(9, 3, 128000), prompt(5, 4, 128000)];
        const seen: Float32Array[][] = [[], []];
        const pool = model.createPool(1000);
        const store = KvStore.forPrefill(pool, 2, 9, false);
        const last = model.step(store, prompts, { wants: () => true, visit: (r, j, l) => (seen[r]![j] = l.slice()) });
        prompts.forEach((p, r) => {
          const expected = ref.logits(p, { lastOnly: false });
          assert.equal(seen[r]!.filter(Boolean).length, p.length);
          for (let j = 0; j < p.length; j++) {
            let d = 0;
            expected[j]!.forEach((v, i) => (d = Math.max(d, Math.abs(v - seen[r]![j]![i]!))));
            assert.ok(d < 1e-4, `row ${r} position ${j}: ${d}`);
          }
          assert.deepEqual(Array.from(last[r]!), Array.from(seen[r]![p.length - 1]!), 'last row as before');
        });
        store.release();
        const plain = KvStore.forPrefill(pool, 2, 9, false);
        const again = model.step(plain, prompts);
        prompts.forEach((p, r) => assert.deepEqual(Array.from(again[r]!), Array.from(seen[r]![p.length - 1]!)));
        plain.release();
      } finally {
        model.close();
      }
    });
  }
});

/** Choice 0's prompt logprobs, from whichever event carries them. */
function promptLogprobsOf(events: GenerationEvent[]): PromptLogprobs | undefined {
  for (const e of events) if (e.type !== 'error' && e.promptLogprobs) return e.promptLogprobs;
  return undefined;
}

const MODELS = [
  { name: 'optimum instruct', dir: INSTRUCT, vocab: 128000 },
  { name: 'genai instruct', dir: INSTRUCT_GENAI, vocab: 128000 },
  { name: 'shared fixture (full logits, fp16)', dir: FIXTURE, vocab: 32000 },
];

for (const m of MODELS) {
  describe(`prompt logprobs on ${m.name}`, () => {
    let engine: Engine;
    before(async () => {
      engine = await Engine.start({ modelDir: m.dir, limits: { maxBatchedTokens: 16, minChunk: 8 } });
    });
    after(async () => engine.close());

    test('echo of prompt + greedy completion reports the completion its own logprobs', async () => {
      const p = prompt(21, 7, m.vocab);
      const gen = await collect(engine.generate(greedyRequest(p, { maxTokens: 6, sampling: { ...greedyRequest([]).sampling, logprobs: 0 } })));
      const c = tokenIds(gen);
      const reported = gen.flatMap((e) => (e.type === 'token' ? [e.logprob!] : []));
      const events = await collect(engine.generate(greedyRequest([...p, ...c], { maxTokens: 0, promptLogprobs: 2 })));
      assert.deepEqual(events.filter((e) => e.type === 'error'), []);
      assert.deepEqual(events.map((e) => e.type), ['end'], 'max_tokens 0: one end event, no token');
      const end = events[0]!;
      assert.ok(end.type === 'end' && end.completionTokens === 0 && end.finishReason === 'length');
      const lp = promptLogprobsOf(events)!;
      assert.equal(lp.length, p.length + c.length);
      assert.equal(lp[0], null);
      // Prompt 21 tokens > 16 per step: the prompt logprobs came from several prefill chunks.
      c.forEach((t, i) => {
        const e = lp[p.length + i]!;
        assert.equal(e.tokenId, t);
        assert.ok(Math.abs(e.logprob - reported[i]!) < 2e-3, `token ${i}: ${e.logprob} vs ${reported[i]}`);
        assert.equal(e.rank, 1, 'a greedy token is the most likely');
        assert.equal(e.top[0]!.tokenId, t);
        assert.equal(e.top.length, 2);
      });
      for (let i = 1; i < lp.length; i++) assert.ok(lp[i]!.logprob <= 0 && lp[i]!.rank >= 1 && lp[i]!.tokenId === [...p, ...c][i]);
    });

    test('a cached prompt is prefilled again for prompt logprobs (no cache hit), same numbers', async () => {
      const p = prompt(12, 11, m.vocab);
      const first = await collect(engine.generate(greedyRequest(p, { maxTokens: 2, promptLogprobs: 0 })));
      const second = await collect(engine.generate(greedyRequest(p, { maxTokens: 2, promptLogprobs: 0 })));
      const plain = await collect(engine.generate(greedyRequest(p, { maxTokens: 2 })));
      const ends = (ev: GenerationEvent[]) => ev.filter((e) => e.type === 'end');
      assert.equal((ends(second)[0] as { cachedTokens?: number }).cachedTokens, 0);
      assert.ok(((ends(plain)[0] as { cachedTokens?: number }).cachedTokens ?? 0) > 0, 'the plain request did hit the cache');
      assert.deepEqual(promptLogprobsOf(second), promptLogprobsOf(first));
      const token0 = first.find((e) => e.type === 'token')!;
      assert.ok(token0.type === 'token' && token0.promptLogprobs, 'choice 0\'s first token event carries them');
      assert.deepEqual(tokenIds(first), tokenIds(plain));
    });

    test('n = 3: the prompt logprobs come once, on choice 0', async () => {
      const events = await collect(engine.generate(greedyRequest(prompt(6, 5, m.vocab), { n: 3, maxTokens: 2, promptLogprobs: 1 })));
      const carriers = events.filter((e) => e.type !== 'error' && e.promptLogprobs);
      assert.equal(carriers.length, 1);
      assert.equal((carriers[0] as { index: number }).index, 0);
    });
  });
}

describe('a last-position-only graph without a positions input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-positions-'));
  let engine: Engine;
  before(async () => {
    buildModelFolder(resolveSpec('instruct', { logitsPositions: false }), join(dir, 'm'));
    engine = await Engine.start({ modelDir: join(dir, 'm') });
  });
  after(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('refuses prompt logprobs before generating, naming prompt_logprobs; plain requests still run', async () => {
    assert.equal(engine.spec.promptLogprobs, false);
    assert.throws(
      () => engine.generate(greedyRequest(prompt(5, 1, 128000), { promptLogprobs: 1 })),
      (err: unknown) => err instanceof EngineError && err.code === 'invalid_request' && err.param === 'prompt_logprobs' && /logprobs/.test(err.message),
    );
    assert.equal(tokenIds(await collect(engine.generate(greedyRequest(prompt(5, 1, 128000))))).length, 12);
  });
});
