// Resume: the imitation hub drops the connection in the middle of a file; the partial file is kept as
// blobs/<sha>.incomplete and the next pull asks for the rest with a Range request, then verifies the whole.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pull } from '../src/hub/pull.ts';
import { cachedSnapshot, repoCacheDir } from '../src/hub/cache.ts';
import { PullError } from '../src/hub/errors.ts';
import type { PullProgress } from '../src/hub/progress.ts';
import { demoRepoFiles, FakeHub, sha256 } from './helpers/fake-hub.ts';

const REPO = 'acme/tiny';
const BIG = 'onnx/model.onnx_data';
const files = demoRepoFiles();
const bigSha = sha256(files[BIG]!);
let hub: FakeHub;
const temps: string[] = [];

function tempCache(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-resume-'));
  temps.push(d);
  return d;
}

before(async () => {
  hub = new FakeHub();
  hub.addRepo(REPO, files);
  await hub.start();
});

after(async () => {
  await hub.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

/** Byte offsets of the Range requests made for the big file since `from` (probes of byte 0 excluded). */
function resumeOffsets(from: number): number[] {
  return hub.requests
    .slice(from)
    .filter((r) => r.url.includes(bigSha) && r.range && r.range !== 'bytes=0-0')
    .map((r) => Number(/^bytes=(\d+)-$/.exec(r.range!)?.[1]));
}

describe('an interrupted pull', () => {
  test('keeps the partial file, and the next run resumes it with a Range request', async () => {
    const cache = tempCache();
    const partial = join(repoCacheDir(cache, REPO), 'blobs', `${bigSha}.incomplete`);
    hub.dropConnection(REPO, BIG, 1_200_000);
    const err = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 0 }).then(
      () => assert.fail('the first run should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PullError && err.kind === 'network', String(err));
    assert.match(err.message, /connection lost while downloading onnx\/model\.onnx_data .*run the same pull again to resume/);
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept <= 1_200_000, `kept ${kept} bytes`);
    assert.equal(cachedSnapshot(cache, REPO), undefined, 'an interrupted pull leaves no ref');

    const mark = hub.requests.length;
    const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 0 });
    assert.deepEqual(resumeOffsets(mark), [kept], 'one request for the rest, from the kept length');
    const big = r.files.find((f) => f.path === BIG)!;
    assert.equal(big.status, 'resumed');
    assert.equal(big.rangeRequests, 1);
    assert.equal(existsSync(partial), false);
    assert.deepEqual(readFileSync(join(r.snapshotDir, 'onnx', 'model.onnx_data')), files[BIG]);
    assert.equal(big.receivedBytes, files[BIG]!.length - kept, 'only the missing bytes were fetched');
    assert.equal(cachedSnapshot(cache, REPO), r.snapshotDir);
  });

  test('within one run, dropped connections are resumed up to --retries times', async () => {
    const cache = tempCache();
    hub.dropConnection(REPO, BIG, 1_500_000, 2);
    const notes: string[] = [];
    const progress: PullProgress = { start() {}, file() {}, advance() {}, rewind() {}, fileDone() {}, finish() {}, note: (t) => notes.push(t) };
    const mark = hub.requests.length;
    const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 3, retryDelayMs: 0, progress });
    const offsets = resumeOffsets(mark);
    assert.ok(offsets.length >= 1 && offsets.every((o) => o > 0), `resumed at ${offsets.join(', ')}`);
    assert.equal(notes.filter((n) => /connection lost .*resuming \(retry \d of 3\)/.test(n)).length, 2);
    assert.deepEqual(readFileSync(join(r.snapshotDir, 'onnx', 'model.onnx_data')), files[BIG]);
  });

  test('a partial file with a bad prefix fails verification and is downloaded again from zero', async () => {
    const cache = tempCache();
    const blobs = join(repoCacheDir(cache, REPO), 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${bigSha}.incomplete`), Buffer.alloc(5000, 7));
    const mark = hub.requests.length;
    const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 0 });
    assert.deepEqual(resumeOffsets(mark), [5000], 'it first trusted the 5000 bytes');
    const full = hub.requests.slice(mark).filter((q) => q.url.includes(bigSha) && q.range === undefined);
    assert.equal(full.length, 1, 'then fetched the whole file once');
    assert.deepEqual(readFileSync(join(r.snapshotDir, 'onnx', 'model.onnx_data')), files[BIG]);
  });

  test('a server that ignores the Range header restarts the file instead of appending twice', async () => {
    const cache = tempCache();
    const blobs = join(repoCacheDir(cache, REPO), 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${bigSha}.incomplete`), files[BIG]!.subarray(0, 300_000));
    hub.ignoreResumeRanges = true;
    try {
      const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 0 });
      assert.deepEqual(readFileSync(join(r.snapshotDir, 'onnx', 'model.onnx_data')), files[BIG]);
      const big = r.files.find((f) => f.path === BIG)!;
      assert.equal(big.receivedBytes, files[BIG]!.length, 'the whole file came again');
      assert.equal(big.rangeRequests, 1);
    } finally {
      hub.ignoreResumeRanges = false;
    }
  });
});
