/**
 * The reward evaluation's formats (RewardBench v1/v2, HelpSteer2 attributes and preferences), through the
 * command's core (runEvaluation) in process: every figure is recomputed here with the pure scorers from
 * the per-row scores the command reports. Also: in process vs a running server, --dataset from a hub
 * cache layout (no network), and the Markdown report.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTRUCT, REPO, REWARD, MODELS } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { runEvaluation, type EvalRun } from '../scripts/eval-reward.ts';
import { promptTurns } from '../src/scoring/eval.ts';
import { evaluateAttributes, evaluatePreferences, helpSteerRows, preferenceRows } from '../src/scoring/helpsteer.ts';
import { readEvalData } from '../src/scoring/eval-data.ts';
import { scoreRewardBench, scoreRewardBench2 } from '../src/scoring/rewardbench.ts';
import { markdownReport } from '../src/scoring/eval-report.ts';

const DATA = join(REPO, 'data');
const ATTRIBUTES = join(MODELS, 'reward-attributes');
const scored = <T extends object>(rows: T[]) => rows.filter((r): r is Exclude<T, { error: string }> => !('error' in r));

describe('eval:reward formats', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'eval-formats-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('rewardbench (v1): sections and overall equal scoreRewardBench of the reported scores', async () => {
    const run = await runEvaluation({ data: join(DATA, 'reward-sample.jsonl'), rewardModelDir: REWARD });
    assert.equal(run.format, 'rewardbench');
    if (run.format !== 'rewardbench') return;
    assert.equal(run.rows, 24);
    assert.equal(run.meaningless, true);
    const rows = scored(run.results).map((r) => ({ subset: r.subset, chosenScore: r.chosen, rejectedScore: r.rejected }));
    assert.deepEqual(run.rewardbench, scoreRewardBench(rows));
    assert.deepEqual(Object.keys(run.rewardbench.sections), ['Chat', 'Chat Hard', 'Safety', 'Reasoning']);
  });

  test('rewardbench2: one request per prompt with all answers; equal to scoreRewardBench2', async () => {
    const run = await runEvaluation({ data: join(DATA, 'rewardbench2-sample.jsonl'), rewardModelDir: REWARD });
    assert.equal(run.format, 'rewardbench2');
    if (run.format !== 'rewardbench2') return;
    const lines = readFileSync(join(DATA, 'rewardbench2-sample.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const rows = scored(run.results);
    assert.equal(rows.length, lines.length);
    rows.forEach((r, i) => {
      assert.equal(r.chosenScores.length, lines[i].chosen.length);
      assert.equal(r.rejectedScores.length, lines[i].rejected.length);
    });
    assert.deepEqual(run.rewardbench2, scoreRewardBench2(rows));
    assert.ok(run.rewardbench2.subsets.Ties?.ties, 'Ties scored by its own rule');
  });

  test('helpsteer2: per-attribute correlations equal evaluateAttributes of the reported attributes', async () => {
    const file = join(DATA, 'helpsteer2-sample.jsonl');
    const run = await runEvaluation({ data: file, rewardModelDir: ATTRIBUTES });
    assert.equal(run.format, 'helpsteer2');
    if (run.format !== 'helpsteer2') return;
    const preds = run.results.map((r) => ('error' in r ? null : r.attributes));
    assert.ok(preds.every((p) => p && Object.keys(p).length === 5));
    assert.deepEqual(run.attributes, evaluateAttributes(helpSteerRows(await readEvalData(file)), preds));
  });

  test('helpsteer2 on a model without attributes fails clearly', async () => {
    await assert.rejects(runEvaluation({ data: join(DATA, 'helpsteer2-sample.jsonl'), rewardModelDir: REWARD }), /returns no attributes/);
  });

  test('helpsteer2-preference: accuracy by strength equals evaluatePreferences', async () => {
    const file = join(DATA, 'helpsteer2-preference-sample.jsonl');
    const run = await runEvaluation({ data: file, rewardModelDir: REWARD });
    assert.equal(run.format, 'helpsteer2-preference');
    if (run.format !== 'helpsteer2-preference') return;
    const pairs = run.results.map((r) => ('error' in r ? null : { response_1: r.response_1, response_2: r.response_2 }));
    assert.deepEqual(run.preferences, evaluatePreferences(preferenceRows(await readEvalData(file)), pairs));
  });

  test('HelpSteer2 <extra_id_1> turn markers become user/assistant turns', () => {
    assert.deepEqual(promptTurns('hi<extra_id_1>Assistant\nhello!<extra_id_1>User\nhow are you?'), [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello!' },
      { role: 'user', content: 'how are you?' },
    ]);
    assert.deepEqual(promptTurns('plain'), [{ role: 'user', content: 'plain' }]);
  });

  test('--dataset from a hub cache folder (no network); a missing one names the pull command', async () => {
    const sha = 'a'.repeat(40);
    const repo = join(tmp, 'cache', 'datasets--org--rb2');
    mkdirSync(join(repo, 'snapshots', sha, 'data'), { recursive: true });
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), sha);
    copyFileSync(join(DATA, 'rewardbench2-sample.jsonl'), join(repo, 'snapshots', sha, 'data', 'test.jsonl'));
    const run = await runEvaluation({ dataset: 'org/rb2', cacheDir: join(tmp, 'cache'), rewardModelDir: REWARD });
    assert.equal(run.format, 'rewardbench2');
    assert.equal(run.rows, 14);
    assert.match(run.data, /^org\/rb2:test@aaaa/);
    await assert.rejects(runEvaluation({ dataset: 'org/missing', cacheDir: join(tmp, 'cache'), rewardModelDir: REWARD }), /npm run pull -- --repo-type dataset org\/missing/);
  });

  test('the Markdown report has an SVG chart, the reference numbers and the meaningless note', async () => {
    const run: EvalRun = await runEvaluation({ data: join(DATA, 'reward-sample.jsonl'), rewardModelDir: REWARD, limit: 4 });
    const md = markdownReport(run, { title: 't', model: 'reward', scorer: 's', data: 'd', seconds: 1, meaningless: run.meaningless }, { Chat: 97.5, Overall: 94.1 });
    assert.match(md, /<svg[\s\S]*<\/svg>/);
    assert.match(md, /97\.5/);
    assert.match(md, /meaningless/);
  });

  describe('against a running server', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ chat: INSTRUCT, reward: REWARD });
    });
    after(async () => server?.close());

    test('rewardbench2 and preference: same results as in process', async () => {
      for (const f of ['rewardbench2-sample.jsonl', 'helpsteer2-preference-sample.jsonl']) {
        const http = await runEvaluation({ data: join(DATA, f), url: server.url, concurrency: 3 });
        const local = await runEvaluation({ data: join(DATA, f), rewardModelDir: REWARD });
        assert.equal(http.mode, 'http');
        const strip = (r: EvalRun) => ({ ...r, mode: '', scorer: '', seconds: 0, data: '' });
        const a = strip(http) as Record<string, unknown>;
        const b = strip(local) as Record<string, unknown>;
        // Scores agree within float tolerance across batch compositions (and shared-prompt scoring, whose
        // grouping depends on arrival); figures derived from them (accuracies, RewardBench 2's Ties margins)
        // agree to rounding.
        const rounded = (x: unknown, digits: number) => JSON.stringify(x, (_, v) => (typeof v === 'number' ? Number(v.toFixed(digits)) : v));
        assert.equal(rounded(a.results, 3), rounded(b.results, 3));
        const { results: _r1, ...fa } = a;
        const { results: _r2, ...fb } = b;
        assert.deepEqual(JSON.parse(rounded(fa, 6)), JSON.parse(rounded(fb, 6)), f);
      }
    });
  });

  describe('against a running server with an attribute-head reward model', () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer({ chat: INSTRUCT, reward: ATTRIBUTES });
    });
    after(async () => server?.close());

    test('helpsteer2: the same correlations and per-row attributes as in process', async () => {
      const data = join(DATA, 'helpsteer2-sample.jsonl');
      const http = (await runEvaluation({ data, url: server.url, concurrency: 3 })) as unknown as Record<string, unknown>;
      const local = (await runEvaluation({ data, rewardModelDir: ATTRIBUTES })) as unknown as Record<string, unknown>;
      const round = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === 'number' ? Number(x.toFixed(3)) : x));
      assert.equal(http.mode, 'http');
      assert.equal(round(http.results), round(local.results));
      const figures = (r: Record<string, unknown>) => round({ ...r, mode: '', scorer: '', seconds: 0, data: '', results: null, model: null, meaningless: null });
      assert.equal(figures(http), figures(local));
    });
  });
});

describe('eval:reward command line', () => {
  test('--report writes Markdown with an <svg>; a dataset not in the cache exits 2 naming the pull command', async () => {
    const { execFile } = await import('node:child_process');
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((res) =>
        execFile(process.execPath, ['--import', 'tsx', join(REPO, 'scripts', 'eval-reward.ts'), ...args], { cwd: REPO }, (err, stdout, stderr) =>
          res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
        ),
      );
    const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
    try {
      const ref = join(dir, 'ref.json');
      writeFileSync(ref, JSON.stringify({ Factuality: 70.1, Overall: 60 }));
      const report = join(dir, 'r.md');
      const r = await run(['--data', join(DATA, 'rewardbench2-sample.jsonl'), '--report', report, '--reference', ref]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Ties\s+4\s/);
      assert.match(r.stdout, /meaningless/);
      assert.match(r.stderr, /14\/14 rows .* rows\/s/);
      const md = readFileSync(report, 'utf8');
      assert.match(md, /<svg[\s\S]*<\/svg>/);
      assert.match(md, /70\.1/);
      const missing = await run(['--dataset', 'org/none', '--cache-dir', dir]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /npm run pull -- --repo-type dataset org\/none/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
