/**
 * Shared-prompt reward scoring: the planning (pure), and on real models that scores with sharing on equal
 * scores with it off (each conversation whole) within 1e-4 — on the Optimum-style reward model, the
 * attribute-head model, a GroupQueryAttention (GenAI-style) model read as a token-logit reward model, and
 * the shared fp16 fixture, which cannot share and must fall back. The batch stats' sharedTokens prove
 * that sharing really happened (a silent fallback fails these tests).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { RewardReadout } from '../src/runtime/model-loader.ts';
import type { Score } from '../src/scoring/readout.ts';
import { RewardEngine, type RewardEngineOptions, type ScoreBatchStats } from '../src/scoring/reward-engine.ts';
import { ScoreBatcher } from '../src/scoring/score-batcher.ts';
import {
  commonPrefixLength, DEFAULT_SHARE_THRESHOLDS, groupSavedTokens, planGroup, planSharedJob, planSuffixPasses, savedTokens, suffixPassSlots, wholeItems, worthSharing,
  type SharedJob, type SharedLimits,
} from '../src/scoring/shared-prefix.ts';
import { prompt } from './helpers/engine.ts';
import { FIXTURE, INSTRUCT_GENAI, MODELS, REWARD } from './helpers/paths.ts';

const seq = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);
const LIMITS: SharedLimits = { maxBatchTokens: 1000, maxBatchRows: 8, window: 256, kvSlots: 4000, batchedSuffixes: true };
const job = (requestId: number, p: number, lens: number[]): SharedJob => ({ requestId, prefix: seq(p), suffixes: lens.map((n) => seq(n, 500)) });

describe('shared-prefix planning', () => {
  test('commonPrefixLength: longest prefix of every item', () => {
    assert.equal(commonPrefixLength([]), 0);
    assert.equal(commonPrefixLength([[1, 2, 3], [1, 2, 4], [1, 2]]), 2);
    assert.equal(commonPrefixLength([[1, 2, 3], [1, 2, 3]]), 3);
    assert.equal(commonPrefixLength([[5, 2], [1, 2]]), 0);
  });

  test('planSharedJob: two items or more, a prefix of 16 or more, one token short of the shortest item', () => {
    const p = seq(20);
    assert.equal(DEFAULT_SHARE_THRESHOLDS.prefix, 16);
    assert.equal(planSharedJob(1, [[...p, 7]], LIMITS), undefined, 'one item');
    assert.equal(planSharedJob(1, [[...seq(15), 7], [...seq(15), 8]], LIMITS), undefined, '15 shared tokens');
    assert.ok(planSharedJob(1, [[...seq(16), 7], [...seq(16), 8]], LIMITS), '16 shared tokens');
    const j = planSharedJob(1, [[...p, 7, 8], [...p, 7], [...p, 7]], LIMITS)!;
    // The second item is a prefix of the first and equals the third: the prefix stops one token short.
    assert.deepEqual(j.prefix, seq(20));
    assert.deepEqual(j.suffixes, [[7, 8], [7], [7]]);
    const whole = planSharedJob(2, [[...p, 1], [...p, 1, 2, 3]], LIMITS)!;
    assert.deepEqual(wholeItems(whole), [[...p, 1], [...p, 1, 2, 3]]);
    // Alone it needs prefix + 2 × its longest item: 20 + 2 × 1991 > 4000 slots; 20 + 2 × 1990 fits.
    assert.equal(planSharedJob(3, [[...p, 1], [...p, ...seq(1971, 100)]], LIMITS), undefined, 'does not fit the pool');
    assert.ok(planSharedJob(3, [[...p, 1], [...p, ...seq(1970, 100)]], LIMITS));
  });

  test('worthSharing: a group shares when its requests together save 256 prompt tokens or more', () => {
    assert.equal(DEFAULT_SHARE_THRESHOLDS.saved, 256);
    assert.equal(groupSavedTokens([job(1, 100, [1, 2, 3])]), 200);
    assert.equal(worthSharing([job(1, 100, [1, 2, 3])]), false, 'a lone request saving 200');
    assert.equal(worthSharing([job(1, 100, [1, 2, 3]), job(2, 56, [4, 5])]), true, 'two requests saving 256 together');
    assert.equal(worthSharing([job(1, 255, [1, 2])]), false);
    assert.equal(worthSharing([job(1, 16, new Array<number>(17).fill(1))]), true, '16 responses × 16');
  });

  test('planGroup: the oldest job always, then the next ones in order while rows, tokens and KV fit', () => {
    assert.equal(planGroup([], LIMITS), 0);
    assert.equal(planGroup([job(1, 2000, [5, 5])], LIMITS), 1, 'an oversized prefix goes alone');
    const q = [job(1, 100, [10, 20]), job(2, 200, [10]), job(3, 300, [5]), job(4, 10, [5])];
    // 3 × 300 = 900 tokens fits 1000; a 4th row would make 4 × 300 = 1200.
    assert.equal(planGroup(q, LIMITS), 3);
    assert.equal(planGroup(q, { ...LIMITS, maxBatchRows: 2 }), 2);
    // KV: 2 × 200 + 2 × 210 = 820 fits; 3 × 300 + 2 × 305 = 1510 does not fit 1500.
    assert.equal(planGroup(q, { ...LIMITS, kvSlots: 1500 }), 2);
  });

  test('planSuffixPasses: longest first, every row once, within rows, tokens, KV and the padding rule', () => {
    const group = [job(1, 100, [10, 60, 35]), job(2, 50, [50, 12, 1])];
    const rows = (passes: ReturnType<typeof planSuffixPasses>) => passes.flat().map((r) => `${r.job}.${r.index}`).sort();
    const all = ['0.0', '0.1', '0.2', '1.0', '1.1', '1.2'];
    const plain = planSuffixPasses(group, 200, LIMITS);
    assert.deepEqual(rows(plain), all);
    // 60, 50, 35 share a pass (35 × 2 >= 60); 12 and 10 would be padded to more than twice their length.
    assert.deepEqual(plain.map((p) => p.map((r) => group[r.job]!.suffixes[r.index]!.length)), [[60, 50, 35], [12, 10], [1]]);
    const oneRow = planSuffixPasses(group, 200, { ...LIMITS, batchedSuffixes: false });
    assert.deepEqual(oneRow.map((p) => p.length), [1, 1, 1, 1, 1, 1]);
    const tight = planSuffixPasses(group, 200, { ...LIMITS, kvSlots: 200 + suffixPassSlots(2, 100, 60) });
    assert.ok(tight.every((p) => p.length <= 2));
    assert.deepEqual(rows(tight), all);
    assert.ok(planSuffixPasses(group, 200, { ...LIMITS, maxBatchTokens: 100 }).every((p) => p.length * Math.max(...p.map((r) => group[r.job]!.suffixes[r.index]!.length)) <= 100));
  });

  test('savedTokens sums to (responses − 1) × prefix over a group', () => {
    const group = [job(1, 100, [10, 60, 35]), job(2, 50, [50, 12])];
    const seen = new Set<number>();
    const total = planSuffixPasses(group, 200, { ...LIMITS, maxBatchRows: 2 }).reduce((a, p) => a + savedTokens(group, p, seen), 0);
    assert.equal(total, 2 * 100 + 1 * 50);
  });

  test('ScoreBatcher.addInOrder puts a request back at its place by arrival', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 10, maxBatchRows: 1, window: 8 });
    b.add(2, [[1]]);
    b.add(5, [[2]]);
    b.addInOrder(3, [[3], [4]]);
    b.addInOrder(1, [[5]]);
    b.addInOrder(9, [[6]]);
    const order: Array<[number, number]> = [];
    while (b.size > 0) order.push(...b.next().map((i): [number, number] => [i.requestId, i.index]));
    assert.deepEqual(order, [[1, 0], [2, 0], [3, 0], [3, 1], [5, 0], [9, 0]]);
  });

  test('ScoreBatcher.oldestRequestId is the request of the oldest waiting item', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 10, maxBatchRows: 1, window: 8 });
    assert.equal(b.oldestRequestId, undefined);
    b.add(4, [[1], [2]]);
    b.add(5, [[3]]);
    assert.equal(b.oldestRequestId, 4);
    b.next();
    b.next();
    assert.equal(b.oldestRequestId, 5);
  });
});

/** An engine and the passes it reported. */
interface Probe {
  engine: RewardEngine;
  passes: ScoreBatchStats[];
}

async function probe(opts: RewardEngineOptions): Promise<Probe> {
  const engine = await RewardEngine.start(opts);
  const passes: ScoreBatchStats[] = [];
  engine.onBatch = (b) => passes.push(b);
  return { engine, passes };
}

/** The worker reports a pass after answering: lets the last reports arrive. */
const settle = () => new Promise((r) => setTimeout(r, 30));

function assertSameScores(on: Score[], off: Score[], what: string): void {
  assert.equal(on.length, off.length);
  on.forEach((s, i) => {
    assert.ok(Math.abs(s.score - off[i]!.score) < 1e-4, `${what} ${i}: ${s.score} shared vs ${off[i]!.score} whole`);
    for (const [k, v] of Object.entries(off[i]!.attributes ?? {})) assert.ok(Math.abs(s.attributes![k]! - v) < 1e-4, `${what} ${i} ${k}`);
  });
}

/** (responses − 1) × the prefix the worker shares (one token short of the shortest item), when worth it alone. */
function expectedShared(items: number[][]): number {
  const p = Math.min(commonPrefixLength(items), Math.min(...items.map((i) => i.length)) - 1);
  const saved = (items.length - 1) * p;
  return p >= DEFAULT_SHARE_THRESHOLDS.prefix && saved >= DEFAULT_SHARE_THRESHOLDS.saved ? saved : 0;
}

/** Two responses to a `p`-token prompt of its own. */
const pairOf = (p: number, seed: number) => [conversation(prompt(p, seed), prompt(7, seed + 1)), conversation(prompt(p, seed), prompt(20, seed + 2))];

const sharedSum = (passes: ScoreBatchStats[]) => passes.reduce((a, p) => a + p.sharedTokens, 0);

interface ModelCase {
  name: string;
  dir: string;
  readout?: RewardReadout;
  /** batched: suffixes share passes; one-row: one suffix per pass (GroupQueryAttention); never: falls back. */
  shares: 'batched' | 'one-row' | 'never';
}

const CASES: ModelCase[] = [
  { name: 'Optimum-style reward model (token logit)', dir: REWARD, shares: 'batched' },
  { name: 'attribute-head reward model (regression head)', dir: join(MODELS, 'reward-attributes'), shares: 'batched' },
  { name: 'GenAI-style GroupQueryAttention model read as a token-logit reward model', dir: INSTRUCT_GENAI, readout: { kind: 'token_logit', tokenId: 0 }, shares: 'one-row' },
  { name: 'shared fp16 fixture (MultiHeadAttention: cannot share)', dir: FIXTURE, readout: { kind: 'token_logit', tokenId: 0 }, shares: 'never' },
];

const longPrompt = prompt(240, 11);
/** Responses of different lengths; one is a prefix of another; two are equal. */
const responses = [prompt(30, 1), prompt(3, 2), prompt(70, 3), prompt(30, 1).slice(0, 12), prompt(3, 2)];
const conversation = (p: number[], r: number[]) => [...p, ...r];

for (const c of CASES) {
  describe(`shared-prompt scoring: ${c.name}`, () => {
    let on: Probe;
    let off: Probe;
    before(async () => {
      [on, off] = await Promise.all([probe({ modelDir: c.dir, readout: c.readout }), probe({ modelDir: c.dir, readout: c.readout, sharePrefix: false })]);
    });
    after(async () => Promise.all([on.engine.close(), off.engine.close()]));

    test('several responses to one long prompt score as each conversation alone', async () => {
      const items = responses.map((r) => conversation(longPrompt, r));
      on.passes.length = 0;
      const [shared, whole] = await Promise.all([on.engine.score(items), off.engine.score(items)]);
      await settle();
      assertSameScores(shared, whole, 'response');
      if (c.shares === 'never') {
        assert.equal(sharedSum(on.passes), 0);
        assert.ok(on.passes.every((p) => p.pass === 'plain'));
        assert.match(on.engine.spec.notes.join('\n'), /shared-prompt scoring off: the graph cannot run a multi-token step on a past/);
        return;
      }
      assert.equal(sharedSum(on.passes), expectedShared(items), 'the prompt was computed once');
      assert.equal(on.passes.filter((p) => p.pass === 'prefix').length, 1);
      const suffixRows = on.passes.filter((p) => p.pass === 'suffix').map((p) => p.rows);
      assert.equal(suffixRows.reduce((a, r) => a + r, 0), items.length);
      if (c.shares === 'one-row') assert.ok(suffixRows.every((r) => r === 1), 'GroupQueryAttention: one response per pass');
      else assert.ok(suffixRows.some((r) => r > 1), 'responses share suffix passes');
      assert.equal(sharedSum(off.passes), 0, 'sharing off never shares');
    });

    test('items without a shared prefix fall back to plain scoring', async () => {
      const items = [conversation(prompt(40, 5), [1]), conversation(prompt(40, 6), [2]), conversation(prompt(5, 7), [3])];
      on.passes.length = 0;
      const [shared, whole] = await Promise.all([on.engine.score(items), off.engine.score(items)]);
      await settle();
      assertSameScores(shared, whole, 'item');
      assert.equal(sharedSum(on.passes), 0);
      assert.ok(on.passes.every((p) => p.pass === 'plain'));
    });

    test('concurrent requests, shared and plain, each score as alone', async () => {
      const reqs = [
        responses.map((r) => conversation(longPrompt, r)),
        [conversation(prompt(60, 21), prompt(9, 4))],
        [prompt(50, 22), prompt(25, 23)],
        [prompt(20, 24), prompt(80, 25), prompt(33, 26)].map((r) => conversation(prompt(150, 27), r)),
        // A shared prefix shorter than 16 tokens: scored whole.
        [conversation(prompt(10, 28), [5]), conversation(prompt(10, 28), [6, 7])],
      ];
      on.passes.length = 0;
      const [shared, whole] = await Promise.all([Promise.all(reqs.map((r) => on.engine.score(r))), Promise.all(reqs.map((r) => off.engine.score(r)))]);
      await settle();
      shared.forEach((s, i) => assertSameScores(s, whole[i]!, `request ${i} item`));
      const expected = c.shares === 'never' ? 0 : reqs.reduce((a, r) => a + expectedShared(r), 0);
      assert.equal(expectedShared(reqs[4]!), 0);
      assert.equal(sharedSum(on.passes), expected);
      if (c.shares !== 'never') assert.ok(expected > 0 && on.passes.some((p) => p.pass === 'plain'), 'both kinds ran');
    });

    test('a lone request saving under 256 tokens is scored whole; two of them queued together share one prefix pass', async () => {
      const lone = pairOf(150, 40);
      on.passes.length = 0;
      assertSameScores(await on.engine.score(lone), await off.engine.score(lone), 'lone');
      await settle();
      assert.equal(sharedSum(on.passes), 0);
      assert.ok(on.passes.every((p) => p.pass === 'plain'));
      // A long plain request keeps the worker busy while both pairs arrive: they form one group, whose
      // prefix pass pads the shorter prompt.
      const blocker = [prompt(1500, 41)];
      const pairs = [pairOf(150, 42), pairOf(170, 45)];
      on.passes.length = 0;
      const [shared, whole] = await Promise.all([
        Promise.all([blocker, ...pairs].map((r) => on.engine.score(r))),
        Promise.all([blocker, ...pairs].map((r) => off.engine.score(r))),
      ]);
      await settle();
      shared.forEach((s, i) => assertSameScores(s, whole[i]!, `request ${i} item`));
      if (c.shares === 'never') return;
      assert.equal(sharedSum(on.passes), 150 + 170, 'each pair saved its prompt once');
      assert.deepEqual(on.passes.filter((p) => p.pass === 'prefix').map((p) => p.rows), [2]);
    });

    test('an aborted shared request is dropped; the worker goes on', async () => {
      const ac = new AbortController();
      const items = responses.map((r) => conversation(longPrompt, r));
      const doomed = on.engine.score(items, ac.signal);
      ac.abort();
      await assert.rejects(doomed, /aborted/);
      const again = items.slice(1);
      assertSameScores(await on.engine.score(again), await off.engine.score(again), 'after abort');
      assert.equal(on.engine.stats().pendingItems, 0);
    });
  });
}

describe('shared-prompt scoring: limits and runtimes (Optimum-style reward model)', () => {
  test('small limits split the suffixes into several passes; a job too big for the pool is scored whole', async () => {
    const [small, off] = await Promise.all([
      probe({ modelDir: REWARD, limits: { maxBatchTokens: 256, maxBatchRows: 2 } }),
      probe({ modelDir: REWARD, sharePrefix: false }),
    ]);
    try {
      // KV pool 4 × 256 = 1024 slots: a 100-token prompt fits (100 + 2 × 170), a 400-token one does not.
      const fits = [prompt(70, 1), prompt(40, 2), prompt(60, 3), prompt(10, 4), prompt(65, 5)].map((r) => conversation(prompt(100, 9), r));
      const tooBig = [prompt(30, 6), prompt(50, 7)].map((r) => conversation(prompt(400, 10), r));
      const [a, b] = await Promise.all([small.engine.score(fits), small.engine.score(tooBig)]);
      await settle();
      assertSameScores(a, await off.engine.score(fits), 'fits');
      assertSameScores(b, await off.engine.score(tooBig), 'too big');
      assert.equal(sharedSum(small.passes), expectedShared(fits), 'only the job that fits shares');
      const suffix = small.passes.filter((p) => p.pass === 'suffix');
      assert.ok(suffix.length >= 3 && suffix.every((p) => p.rows <= 2 && p.paddedTokens <= 256), JSON.stringify(suffix));
      assert.ok(small.passes.some((p) => p.pass === 'plain' && p.tokens > 400), 'the big job ran whole');
    } finally {
      await Promise.all([small.engine.close(), off.engine.close()]);
    }
  });

  test('a failing shared pass fails its request only; the worker goes on', async () => {
    // Two attributes configured for a five-output head: reading out any row fails.
    const bad = await probe({ modelDir: join(MODELS, 'reward-attributes'), readout: { kind: 'head', attributes: ['a', 'b'] } });
    try {
      const items = responses.map((r) => conversation(longPrompt, r));
      await assert.rejects(bad.engine.score(items), /scoring failed: the reward head has 5 outputs but 2 attributes/);
      await assert.rejects(bad.engine.score([items[0]!]), /5 outputs/);
      await settle();
      assert.ok(bad.passes.some((p) => p.pass === 'prefix'), 'the shared request ran its prefix pass');
      assert.equal(bad.engine.stats().alive, true);
      assert.equal(bad.engine.stats().pendingRequests, 0);
    } finally {
      await bad.engine.close();
    }
  });

  test('the onnxruntime-node runtime (--score-runtime js) scores each response whole and says so', async () => {
    const js = await probe({ modelDir: REWARD, exec: { scoreRuntime: 'js' } });
    try {
      await js.engine.score(responses.map((r) => conversation(longPrompt, r)));
      await settle();
      assert.equal(sharedSum(js.passes), 0);
      assert.match(js.engine.spec.notes.join('\n'), /shared-prompt scoring needs the native runtime/);
    } finally {
      await js.engine.close();
    }
  });
});
