/**
 * The reward evaluation reads a dataset by name from the hub cache after `npm run pull --repo-type dataset`
 * fetched it from a loopback imitation of the Hub; RewardBench v1 sections come out for real subset names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pull } from '../src/hub/pull.ts';
import { runEvaluation } from '../scripts/eval-reward.ts';
import { scoreRewardBench } from '../src/scoring/rewardbench.ts';
import { FakeHub } from './helpers/fake-hub.ts';
import { REPO } from './helpers/paths.ts';

const SAMPLE = join(REPO, 'data', 'rewardbench-sample.jsonl');

describe('eval:reward reads a pulled dataset by name', () => {
  let hub: FakeHub;
  let cache: string;
  before(async () => {
    hub = new FakeHub();
    hub.addRepo('allenai/reward-bench', { 'README.md': Buffer.from('# imitation\n'), 'filtered.jsonl': readFileSync(SAMPLE) }, { repoType: 'dataset' });
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'eval-pull-'));
  });
  after(async () => {
    await hub.close();
    rmSync(cache, { recursive: true, force: true });
  });

  test('pull lands it in the hub cache; the evaluation finds it offline and gives the same figures as the file', async () => {
    await pull({ repo: 'allenai/reward-bench', repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
    const served = hub.requests.length;
    const byName = await runEvaluation({ dataset: 'allenai/reward-bench', split: 'filtered', cacheDir: cache, progress: null });
    assert.equal(hub.requests.length, served, 'the evaluation made no request to the hub');
    const byFile = await runEvaluation({ data: SAMPLE, progress: null });
    const figures = (r: Record<string, unknown>) => JSON.stringify({ overall: r.overall, subsets: r.subsets, rewardbench: r.rewardbench });
    assert.equal(byName.rows, 15);
    assert.equal(figures(byName as never), figures(byFile as never));
    assert.equal(byName.meaningless, true, 'the default reward model has random weights: the report says so');
  });

  test('real RewardBench subset names fill the four sections, as scoreRewardBench computes them from the scores', async () => {
    const run = (await runEvaluation({ data: SAMPLE, progress: null, format: 'rewardbench' })) as unknown as {
      rows: number;
      results: Array<{ subset: string; chosen: number; rejected: number }>;
      rewardbench: { sections: Record<string, { score: number; subsetsPresent: string[] }>; overall: number };
    };
    assert.equal(run.rows, 15);
    const expected = scoreRewardBench(run.results.map((r) => ({ subset: r.subset, chosenScore: r.chosen, rejectedScore: r.rejected })));
    assert.deepEqual(Object.keys(run.rewardbench.sections).sort(), ['Chat', 'Chat Hard', 'Reasoning', 'Safety']);
    for (const [name, section] of Object.entries(run.rewardbench.sections)) {
      assert.ok(section.subsetsPresent.length > 0, `${name} has subsets in the sample`);
      assert.equal(section.score, expected.sections[name as keyof typeof expected.sections]!.score, name);
    }
    assert.equal(run.rewardbench.overall, expected.overall);
  });
});
