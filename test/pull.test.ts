// pull() against the local imitation hub: a complete pull lands in the Hugging Face cache layout with every
// file verified; a second pull downloads nothing; --include; paged listings; corrupt bytes; a full disk.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pull, globToRegExp, selectedByInclude } from '../src/hub/pull.ts';
import { cachedSnapshot, hubCacheRoot, repoCacheDir } from '../src/hub/cache.ts';
import { PullError } from '../src/hub/errors.ts';
import { demoRepoFiles, FakeHub, gitBlobSha1, sha256 } from './helpers/fake-hub.ts';

const REPO = 'acme/tiny';
const files = demoRepoFiles();
let hub: FakeHub;
const temps: string[] = [];

function tempCache(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-cache-'));
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

async function expectPullError(p: Promise<unknown>, kind: string, pattern: RegExp): Promise<PullError> {
  const err = await p.then(
    () => assert.fail('the pull should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PullError, `a PullError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.match(err.message, pattern);
  return err;
}

describe('a complete pull', () => {
  test('lands in the hub cache layout: refs/main → snapshots/<commit>/<path> → blobs/<sha>', async () => {
    const cache = tempCache();
    const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url });
    const repoDir = join(cache, 'models--acme--tiny');
    assert.equal(repoCacheDir(cache, REPO), repoDir);
    assert.match(r.commit, /^[0-9a-f]{40}$/);
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), r.commit);
    assert.equal(r.snapshotDir, join(repoDir, 'snapshots', r.commit));
    assert.equal(r.files.length, Object.keys(files).length);
    for (const [path, content] of Object.entries(files)) {
      const link = join(r.snapshotDir, ...path.split('/'));
      assert.ok(lstatSync(link).isSymbolicLink(), `${path} is a symlink`);
      assert.ok(readlinkSync(link).startsWith('../'), `${path} links relatively`);
      assert.deepEqual(readFileSync(link), content, `${path} has the hub's bytes`);
      // Blob names as Python's huggingface_hub names them: sha256 for LFS files, git blob sha1 otherwise.
      const lfs = path.startsWith('onnx/');
      const blob = lfs ? sha256(content) : gitBlobSha1(content);
      assert.deepEqual(readFileSync(join(repoDir, 'blobs', blob)), content, `${path} stored as blobs/${blob}`);
      assert.equal(r.files.find((f) => f.path === path)?.status, 'downloaded');
    }
    assert.deepEqual(readdirSync(join(repoDir, 'blobs')).filter((n) => n.endsWith('.incomplete')), [], 'no partial files left');
    assert.equal(r.downloadedBytes, Object.values(files).reduce((n, b) => n + b.length, 0));
    assert.equal(cachedSnapshot(cache, REPO), r.snapshotDir, 'the server finds it by name');
  });

  test('a second pull of the same commit downloads nothing', async () => {
    const cache = tempCache();
    await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url });
    const before = hub.requestsTo('/resolve/').length + hub.requestsTo('/cdn/').length;
    const again = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url });
    assert.equal(hub.requestsTo('/resolve/').length + hub.requestsTo('/cdn/').length, before, 'no file requests');
    assert.ok(again.files.every((f) => f.status === 'cached'));
    assert.equal(again.downloadedBytes, 0);
  });

  test('a revision given as a commit hash needs no ref', async () => {
    const cache = tempCache();
    const { commit } = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, include: ['README.md'] });
    const r = await pull({ repo: REPO, revision: commit, cacheDir: tempCache(), hubUrl: hub.url, include: ['README.md'] });
    assert.equal(r.commit, commit);
    assert.equal(existsSync(join(r.snapshotDir, '..', '..', 'refs')), false);
    assert.equal(cachedSnapshot(join(r.snapshotDir, '..', '..', '..'), REPO, commit), r.snapshotDir);
  });

  test('paged tree listings (Link: rel="next") are followed', async () => {
    hub.treePageSize = 2;
    try {
      const cache = tempCache();
      const treeBefore = hub.requestsTo('/tree/').length;
      const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url });
      assert.equal(r.files.length, Object.keys(files).length);
      assert.ok(hub.requestsTo('/tree/').length - treeBefore >= 4, 'several pages were asked for');
      assert.ok(hub.requestsTo('cursor=').length > 0);
    } finally {
      hub.treePageSize = 0;
    }
  });
});

describe('--include', () => {
  test('selects matching files, plus the root metadata a model needs', async () => {
    const cache = tempCache();
    const r = await pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, include: ['onnx/model_q4*'] });
    assert.deepEqual(r.files.map((f) => f.path).sort(), ['config.json', 'onnx/model_q4.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    assert.equal(existsSync(join(r.snapshotDir, 'onnx', 'model.onnx')), false);
    assert.equal(existsSync(join(r.snapshotDir, 'README.md')), false);
  });

  test('patterns follow fnmatch: * crosses folders, ? is one character, [..] a class', () => {
    assert.ok(globToRegExp('onnx/model_q4*').test('onnx/model_q4.onnx_data'));
    assert.ok(!globToRegExp('onnx/model_q4*').test('onnx/model.onnx'));
    assert.ok(globToRegExp('*.onnx').test('onnx/model.onnx'));
    assert.ok(globToRegExp('model.onnx?data').test('model.onnx.data'));
    assert.ok(globToRegExp('onnx/').test('onnx/model.onnx'), 'a folder pattern takes its files');
    assert.ok(globToRegExp('model_[qf]*').test('model_q4.onnx') && !globToRegExp('model_[!q]*').test('model_q4.onnx'));
    assert.ok(selectedByInclude('README.md', undefined), 'no patterns: everything');
    assert.ok(!selectedByInclude('README.md', ['onnx/*']));
    assert.ok(!selectedByInclude('sub/config.json', ['onnx/*']), 'only root metadata comes along');
  });

  test('a pattern that matches nothing is an error, not an empty model', async () => {
    await expectPullError(pull({ repo: REPO, cacheDir: tempCache(), hubUrl: hub.url, include: ['nothing*'] }), 'not_found', /matches --include nothing\*/);
  });
});

describe('integrity', () => {
  test('an LFS file whose bytes do not match its sha256 is rejected and deleted', async () => {
    const h = new FakeHub();
    h.addRepo(REPO, files);
    h.corrupt(REPO, 'onnx/model.onnx');
    await h.start();
    try {
      const cache = tempCache();
      await expectPullError(pull({ repo: REPO, cacheDir: cache, hubUrl: h.url }), 'integrity', /onnx\/model\.onnx failed verification.*sha256/);
      const blobs = join(repoCacheDir(cache, REPO), 'blobs');
      assert.equal(existsSync(join(blobs, sha256(files['onnx/model.onnx']!))), false);
      assert.deepEqual(readdirSync(blobs).filter((n) => n.includes(sha256(files['onnx/model.onnx']!))), [], 'no partial file either');
      assert.equal(existsSync(join(repoCacheDir(cache, REPO), 'refs', 'main')), false, 'no ref to an incomplete snapshot');
      assert.equal(cachedSnapshot(cache, REPO), undefined);
    } finally {
      await h.close();
    }
  });

  test('a regular file is checked against its git blob sha1', async () => {
    const h = new FakeHub();
    h.addRepo(REPO, files);
    h.corrupt(REPO, 'config.json');
    await h.start();
    try {
      await expectPullError(pull({ repo: REPO, cacheDir: tempCache(), hubUrl: h.url }), 'integrity', /config\.json failed verification.*git-sha1/);
    } finally {
      await h.close();
    }
  });
});

describe('a full disk', () => {
  test('too little free space stops the pull before any download', async () => {
    const cache = tempCache();
    const before = hub.requestsTo('/resolve/').length;
    await expectPullError(
      pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, freeBytes: async () => 100_000 }),
      'disk_full',
      /not enough disk space .*MB more needed, 100 kB free.*--cache-dir/,
    );
    assert.equal(hub.requestsTo('/resolve/').length, before);
  });

  test('ENOSPC while writing becomes a disk-full error (writing into /dev/full)', { skip: !existsSync('/dev/full') }, async () => {
    const cache = tempCache();
    const blobs = join(repoCacheDir(cache, REPO), 'blobs');
    mkdirSync(blobs, { recursive: true });
    symlinkSync('/dev/full', join(blobs, `${sha256(files['onnx/model.onnx_data']!)}.incomplete`));
    await expectPullError(pull({ repo: REPO, cacheDir: cache, hubUrl: hub.url, retries: 0 }), 'disk_full', /not enough disk space/);
  });
});

describe('cache root', () => {
  test('--cache-dir, then HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache/huggingface/hub', () => {
    const env = { HF_HUB_CACHE: '/a/hub', HF_HOME: '/b', XDG_CACHE_HOME: '/c' };
    assert.equal(hubCacheRoot(env, '/flag'), '/flag');
    assert.equal(hubCacheRoot(env), '/a/hub');
    assert.equal(hubCacheRoot({ HF_HOME: '/b', XDG_CACHE_HOME: '/c' }), '/b/hub');
    assert.equal(hubCacheRoot({ XDG_CACHE_HOME: '/c' }), '/c/huggingface/hub');
    assert.equal(hubCacheRoot({ HF_HUB_CACHE: '' }), join(homedir(), '.cache', 'huggingface', 'hub'));
    assert.equal(hubCacheRoot({}, 'rel', '/work'), '/work/rel');
    assert.equal(hubCacheRoot({ HF_HOME: '~/hf' }), join(homedir(), 'hf', 'hub'));
  });
});
