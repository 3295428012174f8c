// Datasets: `pull --repo-type dataset` reaches the hub's dataset paths (/api/datasets/…, /datasets/{id}/resolve/…)
// and lands in datasets--org--name/; a second pull is a no-op; resume and errors work as for models;
// resolveCachedDataset() finds a split's data files in the cache without any network access.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pull } from '../src/hub/pull.ts';
import { cachedSnapshot, repoCacheDir } from '../src/hub/cache.ts';
import { PullError } from '../src/hub/errors.ts';
import { runPullCli } from '../src/hub/cli.ts';
import { CachedDatasetError, resolveCachedDataset, splitOfFile } from '../src/hub/dataset.ts';
import { demoRepoFiles, FakeHub, gitBlobSha1, pseudoRandomBytes, sha256 } from './helpers/fake-hub.ts';

const DS = 'allenai/reward-bench';
const PARQUET = 'data/filtered-00000-of-00001.parquet';
const RAW = 'data/raw-00000-of-00001.parquet';
const jsonl = (n: number) =>
  Buffer.from(
    Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `q${i}`, chosen: `good ${i}`, rejected: `bad ${i}`, subset: 'alpacaeval-easy', id: i })).join('\n') + '\n',
  );
const dsFiles: Record<string, Buffer> = {
  'README.md': Buffer.from('---\nconfigs:\n- config_name: default\n---\n# reward-bench imitation\n'),
  '.gitattributes': Buffer.from('*.parquet filter=lfs diff=lfs merge=lfs -text\n'),
  [PARQUET]: pseudoRandomBytes(400_000, 7), // LFS (CDN redirect), big enough to cut in the middle
  [RAW]: pseudoRandomBytes(50_000, 8),
};
const SINGLE = 'acme/single-file';
const singleFiles: Record<string, Buffer> = { 'README.md': Buffer.from('# one file\n'), 'filtered.jsonl': jsonl(20) };

let hub: FakeHub;
const temps: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-dataset-'));
  temps.push(d);
  return d;
}

before(async () => {
  hub = new FakeHub();
  hub.addRepo(DS, dsFiles, { repoType: 'dataset' });
  hub.addRepo(SINGLE, singleFiles, { repoType: 'dataset' });
  hub.addRepo('acme/gated-ds', singleFiles, { repoType: 'dataset', gated: true });
  hub.addRepo('acme/tiny', demoRepoFiles());
  hub.tokens.add('hf_known');
  await hub.start();
});

after(async () => {
  await hub.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<PullError> {
  const err = await p.then(
    () => assert.fail('the pull should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PullError, `a PullError, got ${String((err as Error)?.stack ?? err)}`);
  return err;
}

describe('pulling a dataset', () => {
  test('uses the dataset API paths and lands in datasets--org--name with refs, snapshots and blobs', async () => {
    const cache = tempDir();
    const from = hub.requests.length;
    const r = await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
    const repoDir = join(cache, 'datasets--allenai--reward-bench');
    assert.equal(repoCacheDir(cache, DS, 'dataset'), repoDir);
    assert.equal(r.repoType, 'dataset');
    assert.match(r.commit, /^[0-9a-f]{40}$/);
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), r.commit);
    assert.equal(r.snapshotDir, join(repoDir, 'snapshots', r.commit));
    assert.equal(existsSync(join(cache, 'models--allenai--reward-bench')), false, 'nothing under models--');
    for (const [path, content] of Object.entries(dsFiles)) {
      const link = join(r.snapshotDir, ...path.split('/'));
      assert.ok(lstatSync(link).isSymbolicLink(), `${path} is a symlink`);
      assert.deepEqual(readFileSync(link), content, `${path} has the hub's bytes`);
      const blob = path.endsWith('.parquet') ? sha256(content) : gitBlobSha1(content);
      assert.ok(existsSync(join(repoDir, 'blobs', blob)), `${path} stored as blobs/${blob}`);
    }
    const paths = hub.requests.slice(from).map((q) => q.url.split('?')[0]!);
    assert.ok(paths.includes(`/api/datasets/${DS}/revision/main`), paths.join('\n'));
    assert.ok(paths.includes(`/api/datasets/${DS}/tree/${r.commit}`), paths.join('\n'));
    assert.ok(paths.includes(`/datasets/${DS}/resolve/${r.commit}/${PARQUET}`), paths.join('\n'));
    assert.ok(paths.includes(`/datasets/${DS}/resolve/${r.commit}/README.md`), paths.join('\n'));
    assert.ok(!paths.some((p) => p.startsWith('/api/models/') || p.startsWith(`/${DS}/`)), 'no model paths');
    assert.equal(cachedSnapshot(cache, DS, 'main', 'dataset'), r.snapshotDir);
    assert.equal(cachedSnapshot(cache, DS), undefined, 'not a model');
  });

  test('pulling again is a no-op: no file requests, every file cached', async () => {
    const cache = tempDir();
    const first = await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
    const from = hub.requests.length;
    const again = await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
    const fileRequests = hub.requests.slice(from).filter((q) => q.url.includes('/resolve/') || q.url.includes('/cdn/'));
    assert.deepEqual(fileRequests, []);
    assert.ok(again.files.every((f) => f.status === 'cached'));
    assert.equal(again.downloadedBytes, 0);
    assert.equal(again.snapshotDir, first.snapshotDir);
  });

  test('an interrupted download resumes with a Range request and verifies the whole file', async () => {
    const cache = tempDir();
    const blob = join(repoCacheDir(cache, DS, 'dataset'), 'blobs', sha256(dsFiles[PARQUET]!));
    hub.dropConnection(`datasets/${DS}`, PARQUET, 150_000);
    const err = await failure(pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url, retries: 0 }));
    assert.equal(err.kind, 'network', err.message);
    assert.ok(statSync(`${blob}.incomplete`).size > 0);
    assert.equal(existsSync(join(repoCacheDir(cache, DS, 'dataset'), 'refs', 'main')), false, 'no ref for an incomplete snapshot');
    const r = await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url, retries: 0 });
    const f = r.files.find((x) => x.path === PARQUET)!;
    assert.equal(f.status, 'resumed');
    assert.equal(f.rangeRequests, 1);
    assert.deepEqual(readFileSync(blob), dsFiles[PARQUET]);
  });

  test('a corrupt file fails the hash check and is not kept', async () => {
    const cache = tempDir();
    hub.corrupt(`datasets/${SINGLE}`, 'filtered.jsonl');
    try {
      const err = await failure(pull({ repo: SINGLE, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url, retries: 0 }));
      assert.equal(err.kind, 'integrity');
      assert.match(err.message, /filtered\.jsonl failed verification/);
    } finally {
      hub.uncorrupt(`datasets/${SINGLE}`, 'filtered.jsonl');
    }
  });

  test('--include takes only matching files (no root metadata added for a dataset)', async () => {
    const cache = tempDir();
    const r = await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url, include: ['data/filtered-*'] });
    assert.deepEqual(r.files.map((f) => f.path), [PARQUET]);
  });
});

describe('dataset errors: as clear as for models', () => {
  test('404 with a token: "dataset org/name was not found … check the name"', async () => {
    const err = await failure(pull({ repo: 'acme/missing', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url, token: 'hf_known' }));
    assert.equal(err.kind, 'not_found');
    assert.match(err.message, /^dataset acme\/missing was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the name/);
    const model = await failure(pull({ repo: 'acme/missing', cacheDir: tempDir(), hubUrl: hub.url, token: 'hf_known' }));
    assert.equal(model.message.replace(/^model /, 'dataset '), err.message, 'the same wording as for a model');
  });

  test('anonymous 401: private, gated or missing, with HF_TOKEN named', async () => {
    const err = await failure(pull({ repo: 'acme/missing', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url }));
    assert.equal(err.kind, 'auth_required');
    assert.match(err.message, /acme\/missing needs authentication \(HTTP 401\).*HF_TOKEN/);
  });

  test('a gated dataset: without a token, the dataset page to accept; with a token not granted, 403', async () => {
    const anon = await failure(pull({ repo: 'acme/gated-ds', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url }));
    assert.equal(anon.kind, 'auth_required');
    assert.match(anon.message, /acme\/gated-ds is gated: accept its conditions at http:\/\/127\.0\.0\.1:\d+\/datasets\/acme\/gated-ds/);
    const denied = await failure(pull({ repo: 'acme/gated-ds', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url, token: 'hf_known' }));
    assert.equal(denied.kind, 'forbidden');
    assert.match(denied.message, /HTTP 403\): for a gated dataset, request access at http:\/\/127\.0\.0\.1:\d+\/datasets\/acme\/gated-ds/);
  });

  test('a dataset is not found at the model paths, nor a model at the dataset paths', async () => {
    const asModel = await failure(pull({ repo: DS, cacheDir: tempDir(), hubUrl: hub.url, token: 'hf_known' }));
    assert.equal(asModel.kind, 'not_found');
    const asDataset = await failure(pull({ repo: 'acme/tiny', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url, token: 'hf_known' }));
    assert.equal(asDataset.kind, 'not_found');
  });

  test('a bad id or repo type is bad input', async () => {
    const err = await failure(pull({ repo: 'not-an-id', repoType: 'dataset', cacheDir: tempDir(), hubUrl: hub.url }));
    assert.equal(err.kind, 'bad_input');
    assert.match(err.message, /'not-an-id' is not a dataset id: expected org\/name, e\.g\. allenai\/reward-bench/);
    const type = await failure(pull({ repo: DS, repoType: 'space' as never, cacheDir: tempDir(), hubUrl: hub.url }));
    assert.equal(type.kind, 'bad_input');
  });
});

describe('a model pull is unchanged', () => {
  test('lands in models--org--name at the model paths', async () => {
    const cache = tempDir();
    const from = hub.requests.length;
    const r = await pull({ repo: 'acme/tiny', cacheDir: cache, hubUrl: hub.url });
    assert.equal(r.repoType, 'model');
    assert.equal(r.snapshotDir, join(cache, 'models--acme--tiny', 'snapshots', r.commit));
    assert.equal(existsSync(join(cache, 'datasets--acme--tiny')), false);
    const paths = hub.requests.slice(from).map((q) => q.url.split('?')[0]!);
    assert.ok(paths.includes('/api/models/acme/tiny/revision/main'));
    assert.ok(!paths.some((p) => p.includes('/datasets/')));
  });
});

describe('the pull command with --repo-type', () => {
  function io() {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: { write: (t: string) => (out.stdout += t) }, stderr: { write: (t: string) => (out.stderr += t), isTTY: false } } };
  }

  test('--repo-type dataset prints the datasets-- snapshot folder', async () => {
    const cache = tempDir();
    const { out, io: cliIo } = io();
    const code = await runPullCli(['--repo-type', 'dataset', SINGLE, '--cache-dir', cache, '--quiet'], { HF_ENDPOINT: hub.url, HF_HOME: tempDir() }, cliIo);
    assert.equal(code, 0, out.stderr);
    assert.match(out.stdout.trim(), new RegExp(`^${cache}/datasets--acme--single-file/snapshots/[0-9a-f]{40}$`));
    assert.match(out.stderr, /pulled dataset acme\/single-file@main/);
  });

  test('an unknown --repo-type is a usage error (exit 2)', async () => {
    const { out, io: cliIo } = io();
    const code = await runPullCli(['--repo-type', 'space', SINGLE], { HF_ENDPOINT: hub.url, HF_HOME: tempDir() }, cliIo);
    assert.equal(code, 2);
    assert.match(out.stderr, /--repo-type must be model or dataset, got 'space'/);
  });

  test('a missing dataset exits 1 with the 404 message', async () => {
    const { out, io: cliIo } = io();
    const code = await runPullCli(['--repo-type', 'dataset', 'acme/missing', '--cache-dir', tempDir(), '--quiet'], { HF_ENDPOINT: hub.url, HF_HOME: tempDir(), HF_TOKEN: 'hf_known' }, cliIo);
    assert.equal(code, 1);
    assert.match(out.stderr, /error: dataset acme\/missing was not found/);
  });
});

describe('resolveCachedDataset (no network)', () => {
  let cache: string;
  before(async () => {
    cache = tempDir();
    await pull({ repo: DS, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
    await pull({ repo: SINGLE, repoType: 'dataset', cacheDir: cache, hubUrl: hub.url });
  });

  /** Runs `fn` with fetch replaced by one that fails the test, and counts hub requests. */
  function offline<T>(fn: () => T): T {
    const real = globalThis.fetch;
    const from = hub.requests.length;
    globalThis.fetch = (() => assert.fail('resolveCachedDataset must not fetch')) as typeof fetch;
    try {
      return fn();
    } finally {
      globalThis.fetch = real;
      assert.equal(hub.requests.length, from, 'no request reached the hub');
    }
  }

  test('finds a split by id and split name: data/{split}-*.parquet', () => {
    const r = offline(() => resolveCachedDataset(DS, { cacheDir: cache, split: 'filtered' }));
    const snap = cachedSnapshot(cache, DS, 'main', 'dataset')!;
    assert.equal(r.dir, snap);
    assert.equal(r.split, 'filtered');
    assert.deepEqual(r.files, [join(snap, 'data', 'filtered-00000-of-00001.parquet')]);
    assert.deepEqual(readFileSync(r.files[0]!), dsFiles[PARQUET]);
    assert.deepEqual(offline(() => resolveCachedDataset(DS, { cacheDir: cache, split: 'raw' })).files, [join(snap, 'data', 'raw-00000-of-00001.parquet')]);
  });

  test('the only split when none is named: filtered.jsonl', () => {
    const r = offline(() => resolveCachedDataset(SINGLE, { cacheDir: cache }));
    assert.equal(r.split, 'filtered');
    assert.deepEqual(r.files, [join(r.dir, 'filtered.jsonl')]);
    assert.deepEqual(offline(() => resolveCachedDataset(SINGLE, { cacheDir: cache, split: 'filtered' })).files, r.files);
  });

  test('several splits and none named: an error naming them', () => {
    assert.throws(
      () => offline(() => resolveCachedDataset(DS, { cacheDir: cache })),
      (e: unknown) => e instanceof CachedDatasetError && e.kind === 'ambiguous_split' && /several splits \(filtered, raw\)/.test(e.message),
    );
  });

  test('an unknown split: an error listing the splits there are', () => {
    assert.throws(
      () => offline(() => resolveCachedDataset(DS, { cacheDir: cache, split: 'test' })),
      (e: unknown) => e instanceof CachedDatasetError && e.kind === 'split_not_found' && /no split 'test'.*filtered, raw/.test(e.message),
    );
  });

  test('not in the cache: names npm run pull -- --repo-type dataset ID', () => {
    const empty = tempDir();
    assert.throws(
      () => offline(() => resolveCachedDataset('allenai/reward-bench', { cacheDir: empty })),
      (e: unknown) =>
        e instanceof CachedDatasetError &&
        e.kind === 'not_cached' &&
        e.message.includes('dataset allenai/reward-bench is not in the Hugging Face cache') &&
        e.message.includes(`npm run pull -- --repo-type dataset allenai/reward-bench --cache-dir ${empty}`),
    );
    // A model of that name in the cache is not the dataset.
    assert.throws(() => resolveCachedDataset('acme/tiny', { cacheDir: cache }), /npm run pull -- --repo-type dataset acme\/tiny/);
    // Another revision than the one pulled.
    assert.throws(
      () => resolveCachedDataset(DS, { cacheDir: cache, revision: 'v2' }),
      /at revision v2 is not in the Hugging Face cache.*npm run pull -- --repo-type dataset allenai\/reward-bench --revision v2/,
    );
  });

  test('a commit hash revision and the cache root from HF_HUB_CACHE', () => {
    const commit = cachedSnapshot(cache, DS, 'main', 'dataset')!.split('/').pop()!;
    const r = resolveCachedDataset(DS, { revision: commit, split: 'raw', env: { HF_HUB_CACHE: cache } });
    assert.equal(r.commit, commit);
    assert.equal(r.files.length, 1);
  });

  test('common layouts: {split}.jsonl, {split}/*.parquet, sharded parquet; one format per split', () => {
    const root = tempDir();
    const commit = 'a'.repeat(40);
    const snap = join(root, 'datasets--acme--layouts', 'snapshots', commit);
    const files = [
      'README.md', 'dataset_infos.json',
      'test.jsonl', 'data/test-00000-of-00001.parquet',
      'train/0000.parquet', 'train/0001.parquet',
      'validation.csv',
    ];
    for (const f of files) {
      mkdirSync(join(snap, ...f.split('/').slice(0, -1)), { recursive: true });
      writeFileSync(join(snap, ...f.split('/')), 'x');
    }
    mkdirSync(join(root, 'datasets--acme--layouts', 'refs'), { recursive: true });
    writeFileSync(join(root, 'datasets--acme--layouts', 'refs', 'main'), commit);
    const get = (split: string) => resolveCachedDataset('acme/layouts', { cacheDir: root, split }).files.map((p) => p.slice(snap.length + 1));
    assert.deepEqual(get('train'), ['train/0000.parquet', 'train/0001.parquet']);
    assert.deepEqual(get('test'), ['data/test-00000-of-00001.parquet'], 'parquet preferred over the same split in jsonl');
    assert.deepEqual(get('validation'), ['validation.csv']);
    assert.throws(() => resolveCachedDataset('acme/layouts', { cacheDir: root }), /several splits \(test, train, validation\)/);
  });

  test('splitOfFile', () => {
    assert.equal(splitOfFile('data/train-00000-of-00002.parquet'), 'train');
    assert.equal(splitOfFile('filtered.jsonl'), 'filtered');
    assert.equal(splitOfFile('test/0000.parquet'), 'test');
    assert.equal(splitOfFile('default/validation/0003.parquet'), 'validation');
    assert.equal(splitOfFile('data/test_prefs-00001-of-00002.parquet'), 'test_prefs');
    assert.equal(splitOfFile('eval.jsonl.gz'), 'eval');
  });
});
