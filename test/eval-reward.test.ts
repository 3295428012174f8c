/**
 * The reward evaluation command (scripts/eval-reward.ts), run as a child process against a real server on
 * an ephemeral port and in process. The models have random weights, so accuracy itself means nothing:
 * every expected number is recomputed here from the server's own /v1/score answers, and the two modes
 * must agree row by row.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTRUCT, REPO, REWARD } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import type { EvalCounts } from '../src/scoring/eval.ts';

const SCRIPT = join(REPO, 'scripts', 'eval-reward.ts');
const SAMPLE = join(REPO, 'data', 'reward-sample.jsonl');
/** Scores from different batch compositions agree within this (the acceptance tolerance). */
const TOL = 1e-4;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command asynchronously (the test server lives in this process, so never spawnSync). */
function runEval(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: REPO, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

type Counts = EvalCounts;
interface RowOut {
  line: number;
  id?: string;
  subset: string;
  chosen?: number;
  rejected?: number;
  decision?: 'correct' | 'wrong' | 'tie';
  error?: string;
}
interface Summary {
  mode: string;
  model: string;
  overall: Counts;
  subsets: Record<string, Counts>;
  results: RowOut[];
}

async function evalJson(args: string[]): Promise<Summary> {
  const r = await runEval([...args, '--json']);
  assert.equal(r.code, 0, `eval-reward failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Summary;
}

/** The sample rows, read here without the command's parser. */
const sampleRows = () =>
  readFileSync(SAMPLE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { id: string; subset: string; prompt: string; chosen: string; rejected: string });

/** Expected counts from scores: chosen strictly above rejected is correct; ties apart. */
function expectedCounts(scores: Array<[number, number]>): Omit<Counts, 'errors'> {
  const correct = scores.filter(([c, r]) => c > r).length;
  const ties = scores.filter(([c, r]) => c === r).length;
  return { rows: scores.length, scored: scores.length, correct, wrong: scores.length - correct - ties, ties, accuracy: correct / scores.length };
}

function assertCounts(actual: Counts, expected: Omit<Counts, 'errors'>, what: string) {
  const { errors, ...rest } = actual;
  assert.equal(errors, 0, `${what}: errors`);
  assert.deepEqual(rest, expected, what);
}

describe('eval:reward (reward evaluation command)', () => {
  let server: TestServer;
  /** [chosen, rejected] per sample row, from /v1/score called here one row at a time. */
  let direct: Array<[number, number]>;
  let http: Summary;
  let tmp: string;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'eval-reward-'));
    server = await startTestServer({ chat: INSTRUCT, reward: REWARD, rewardMaxTokens: 300 });
    direct = [];
    for (const row of sampleRows()) {
      const r = await fetch(`${server.url}/v1/score`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'reward', messages: [{ role: 'user', content: row.prompt }], responses: [row.chosen, row.rejected] }),
      });
      assert.equal(r.status, 200);
      const data = ((await r.json()) as { data: Array<{ index: number; score: number }> }).data;
      direct.push([data.find((d) => d.index === 0)!.score, data.find((d) => d.index === 1)!.score]);
    }
    http = await evalJson(['--data', SAMPLE, '--url', server.url, '--concurrency', '4']);
  });
  after(async () => {
    await server?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('against a server: overall and per-subset accuracy equal those recomputed from /v1/score', () => {
    const rows = sampleRows();
    assert.equal(http.mode, 'http');
    assert.equal(http.model, 'reward');
    assert.equal(http.results.length, rows.length);
    http.results.forEach((r, i) => {
      assert.equal(r.id, rows[i]!.id);
      assert.equal(r.subset, rows[i]!.subset);
      assert.ok(Math.abs(r.chosen! - direct[i]![0]) < TOL && Math.abs(r.rejected! - direct[i]![1]) < TOL, `row ${r.id}`);
    });
    // Decisions compared on the command's scores, margins on ours: a margin under the tolerance could flip.
    const margins = direct.map(([c, r]) => Math.abs(c - r));
    assert.ok(margins.every((m) => m > TOL), 'a sample row has a near tie; pick other text');
    assertCounts(http.overall, expectedCounts(direct), 'overall');
    const subsets = [...new Set(rows.map((r) => r.subset))];
    assert.deepEqual(Object.keys(http.subsets), subsets);
    assert.ok(subsets.length >= 3);
    for (const s of subsets) {
      const idx = rows.flatMap((r, i) => (r.subset === s ? [i] : []));
      assertCounts(http.subsets[s]!, expectedCounts(idx.map((i) => direct[i]!)), `subset ${s}`);
    }
  });

  test('in process: the same per-row decisions and scores as through the server', async () => {
    const local = await evalJson(['--data', SAMPLE, '--reward-model-dir', REWARD]);
    assert.equal(local.mode, 'in-process');
    assert.equal(local.model, 'reward');
    assert.deepEqual(local.results.map((r) => r.decision), http.results.map((r) => r.decision));
    local.results.forEach((r, i) => {
      assert.ok(Math.abs(r.chosen! - direct[i]![0]) < TOL && Math.abs(r.rejected! - direct[i]![1]) < TOL, `row ${r.id}`);
    });
    assert.deepEqual(local.overall, http.overall);
    assert.deepEqual(local.subsets, http.subsets);
  });

  test('the table output, --limit and --model', async () => {
    const r = await runEval(['--data', SAMPLE, '--url', server.url, '--limit', '5', '--model', 'reward']);
    assert.equal(r.code, 0, r.stderr);
    const expected = expectedCounts(direct.slice(0, 5));
    assert.match(r.stdout, new RegExp(`chosen scored above rejected in ${expected.correct} of 5 rows`));
    assert.match(r.stdout, /^overall\s+5\s/m);
    assert.match(r.stdout, /^chat-easy\s+5\s/m);
    assert.match(r.stderr, /5\/5 rows/, 'progress on stderr');
  });

  test('a row the server refuses (too long) is counted as not scored; the others go on', async () => {
    const file = join(tmp, 'long.jsonl');
    const rows = sampleRows().slice(0, 3);
    rows[1] = { ...rows[1]!, chosen: 'many words '.repeat(400) };
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = await evalJson(['--data', file, '--url', server.url]);
    assert.equal(out.overall.rows, 3);
    assert.equal(out.overall.errors, 1);
    assert.equal(out.overall.scored, 2);
    assert.match(out.results[1]!.error!, /tokens, more than the reward model 'reward' accepts \(300 tokens\)/);
    assert.equal(out.results[0]!.decision, http.results[0]!.decision);
    assert.equal(out.results[2]!.decision, http.results[2]!.decision);
  });

  test('errors: missing file, malformed lines name file:line, unknown model, unreachable URL', async () => {
    const missing = await runEval(['--data', join(tmp, 'nope.jsonl'), '--url', server.url]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.jsonl: data file not found/);

    const bad = join(tmp, 'bad.jsonl');
    const good = JSON.stringify({ prompt: 'p', chosen: 'c', rejected: 'r' });
    writeFileSync(bad, `${good}\n{"prompt": "p", "chosen": \n`);
    const badJson = await runEval(['--data', bad, '--url', server.url]);
    assert.equal(badJson.code, 2);
    assert.ok(badJson.stderr.includes(`${bad}:2: not valid JSON`), badJson.stderr);

    writeFileSync(bad, `${good}\n\n${JSON.stringify({ prompt: 'p', chosen: 'c' })}\n`);
    const noField = await runEval(['--data', bad]);
    assert.equal(noField.code, 2);
    assert.ok(noField.stderr.includes(`${bad}:3: missing required field 'rejected'`), noField.stderr);

    const unknown = await runEval(['--data', SAMPLE, '--url', server.url, '--model', 'no-such-model']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /does not serve a model 'no-such-model'.*'reward'/);

    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = await runEval(['--data', SAMPLE, '--url', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`cannot reach the server at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });
});
