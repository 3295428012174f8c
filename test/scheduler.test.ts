import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, type KvAdmission, type KvVerdict, type SchedRequest, type SchedulerLimits, type StepPlan } from '../src/runtime/scheduler.ts';

const limits = (over: Partial<SchedulerLimits> = {}): SchedulerLimits => ({
  maxNumSeqs: 8,
  maxBatchedTokens: 64,
  minChunk: 8,
  ...over,
});

/** A KV oracle that admits everything. */
const roomy: KvAdmission = { check: () => 'fits' };

/** A KV oracle over plain numbers: a group costs Σ n × (prompt + maxTokens) on top of what runs. */
function budgetOracle(budget: number, running: () => number): KvAdmission & { asked: number[][] } {
  const asked: number[][] = [];
  return {
    asked,
    check(group: readonly SchedRequest[]): KvVerdict {
      asked.push(group.map((r) => r.id));
      const cost = group.reduce((a, r) => a + r.n * (r.promptLen + r.maxTokens), 0);
      if (cost > budget) return 'never';
      return running() + cost <= budget ? 'fits' : 'wait';
    },
  };
}

/** Drives the scheduler like the step loop does, with a fake model: returns the plans it made. */
function runUntilRunning(s: Scheduler, maxSteps = 100): StepPlan[] {
  const plans: StepPlan[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const plan = s.plan();
    plans.push(plan);
    s.prefillDone(plan);
    if (!plan.prefill) break;
  }
  return plans;
}

describe('Scheduler', () => {
  test('short prompts that fit one chunk are prefilled together in one group', () => {
    const s = new Scheduler(limits(), roomy);
    s.enqueue({ id: 1, promptLen: 10, n: 1, maxTokens: 5 });
    s.enqueue({ id: 2, promptLen: 20, n: 1, maxTokens: 5 });
    const plan = s.plan();
    assert.deepEqual(plan.prefill?.group.ids, [1, 2]);
    assert.equal(plan.prefill?.from, 0);
    assert.equal(plan.prefill?.to, 20);
    assert.equal(plan.prefill?.last, true);
    assert.equal(plan.decode, false);
    assert.deepEqual(s.prefillDone(plan), [1, 2]);
    assert.equal(s.runningSeqs, 2);
    assert.equal(s.plan().decode, true);
  });

  test('a long prompt is prefilled alone in chunks bounded by the step budget minus decode rows', () => {
    const s = new Scheduler(limits({ maxBatchedTokens: 64, minChunk: 8 }), roomy);
    s.enqueue({ id: 1, promptLen: 4, n: 3, maxTokens: 100 });
    s.prefillDone(s.plan());
    assert.equal(s.runningSeqs, 3);
    s.enqueue({ id: 2, promptLen: 200, n: 1, maxTokens: 10 });
    const plans = runUntilRunning(s);
    const chunks = plans.filter((p) => p.prefill).map((p) => [p.prefill!.from, p.prefill!.to]);
    // 64 tokens per step minus 3 decode rows = 61 tokens per chunk.
    assert.deepEqual(chunks, [
      [0, 61],
      [61, 122],
      [122, 183],
      [183, 200],
    ]);
    assert.ok(plans.every((p) => p.decode), 'running rows decode on every step while the long prompt prefills');
    assert.equal(s.runningSeqs, 4);
  });

  test('minChunk keeps prefill moving when decode rows use the whole budget', () => {
    const s = new Scheduler(limits({ maxBatchedTokens: 4, minChunk: 8, maxNumSeqs: 16 }), roomy);
    s.enqueue({ id: 1, promptLen: 2, n: 6, maxTokens: 100 });
    s.prefillDone(s.plan());
    s.enqueue({ id: 2, promptLen: 20, n: 1, maxTokens: 1 });
    const p = s.plan();
    assert.equal(p.prefill!.to - p.prefill!.from, 8);
  });

  test('FIFO admission bounded by max sequences: the head blocks later requests', () => {
    const s = new Scheduler(limits({ maxNumSeqs: 4 }), roomy);
    s.enqueue({ id: 1, promptLen: 5, n: 3, maxTokens: 5 });
    s.enqueue({ id: 2, promptLen: 5, n: 2, maxTokens: 5 });
    s.enqueue({ id: 3, promptLen: 5, n: 1, maxTokens: 5 });
    const p = s.plan();
    assert.deepEqual(p.prefill?.group.ids, [1], 'request 2 (n=2) does not fit beside 3 running; 3 may not overtake it');
    s.prefillDone(p);
    assert.equal(s.waitingCount, 2);
    for (let i = 0; i < 3; i++) s.rowFinished(1);
    const next = s.plan();
    assert.deepEqual(next.prefill?.group.ids, [2, 3]);
  });

  test('KV admission: the head waits while the store cannot hold it, and does not let others overtake', () => {
    let used = 0;
    const kv = budgetOracle(100, () => used);
    const s = new Scheduler(limits(), kv);
    s.enqueue({ id: 1, promptLen: 10, n: 2, maxTokens: 30 }); // 80
    s.enqueue({ id: 2, promptLen: 10, n: 1, maxTokens: 30 }); // 40: does not fit beside 1
    s.enqueue({ id: 3, promptLen: 5, n: 1, maxTokens: 5 }); // 10: would fit, but may not overtake 2
    const first = s.plan();
    assert.deepEqual(first.prefill?.group.ids, [1]);
    assert.deepEqual(kv.asked.slice(-1)[0], [1, 2], 'the oracle was asked about extending the group');
    s.prefillDone(first);
    used = 80;
    assert.equal(s.plan().prefill, undefined, 'request 2 waits');
    assert.equal(s.waitingCount, 2);
    s.rowFinished(1);
    assert.equal(s.rowFinished(1), true);
    used = 0;
    assert.deepEqual(s.plan().prefill?.group.ids, [2, 3]);
  });

  test('KV admission: a head that could never fit is refused and the queue moves on', () => {
    const s = new Scheduler(limits(), budgetOracle(100, () => 0));
    s.enqueue({ id: 1, promptLen: 50, n: 1, maxTokens: 4000 });
    s.enqueue({ id: 2, promptLen: 10, n: 1, maxTokens: 10 });
    const plan = s.plan();
    assert.deepEqual(plan.refused, [1]);
    assert.deepEqual(plan.prefill?.group.ids, [2]);
    assert.equal(s.cancel(1), 'unknown', 'a refused request is gone');
  });

  test('a model that cannot continue a prefill on a past gets each prompt in one chunk', () => {
    const s = new Scheduler(limits({ maxBatchedTokens: 64, chunkedPrefill: false }), roomy);
    s.enqueue({ id: 1, promptLen: 200, n: 1, maxTokens: 5 });
    const p = s.plan();
    assert.deepEqual([p.prefill?.from, p.prefill?.to, p.prefill?.last], [0, 200, true]);
  });

  test('cancel works in every state and frees the reservation', () => {
    const s = new Scheduler(limits({ maxNumSeqs: 2 }), roomy);
    s.enqueue({ id: 1, promptLen: 5, n: 1, maxTokens: 5 });
    s.enqueue({ id: 2, promptLen: 500, n: 1, maxTokens: 5 });
    s.enqueue({ id: 3, promptLen: 5, n: 1, maxTokens: 5 });
    const p = s.plan();
    s.prefillDone(p);
    assert.equal(s.cancel(3), 'waiting');
    const chunk = s.plan();
    assert.deepEqual(chunk.prefill?.group.ids, [2]);
    assert.equal(s.cancel(2), 'prefilling');
    assert.equal(s.cancel(1), 'running');
    assert.equal(s.cancel(1), 'unknown');
    assert.equal(s.idle, true);
    assert.equal(s.plan().prefill, undefined);
  });
});
