// --model / --reward-model org/name: served from the hub cache when it is there (refs/<rev> → snapshots/<commit>),
// a clear "run npm run pull" otherwise; an existing folder always wins; --revision, --cache-dir, --pull.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from '../src/server/config.ts';
import { hubModelsNotCached } from '../src/hub/serve.ts';

const temps: string[] = [];
function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-config-'));
  temps.push(d);
  return d;
}
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);

/** A cache as Python's huggingface_hub (or npm run pull) leaves it: refs and snapshot folders. */
function fakeCache(refs: Record<string, string>, repo = 'nvidia/Chat'): string {
  const cache = temp();
  const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
  for (const [ref, commit] of Object.entries(refs)) {
    mkdirSync(join(repoDir, 'refs'), { recursive: true });
    writeFileSync(join(repoDir, 'refs', ref), `${commit}\n`);
    mkdirSync(join(repoDir, 'snapshots', commit), { recursive: true });
  }
  return cache;
}

describe('--model org/name', () => {
  test('resolves refs/main to its snapshot folder and serves it as org/name', () => {
    const cache = fakeCache({ main: C1 });
    const c = parseConfig(['--model', 'nvidia/Chat', '--cache-dir', cache, '--no-reward-model'], {});
    assert.equal(c.model.dir, join(cache, 'models--nvidia--Chat', 'snapshots', C1));
    assert.equal(c.model.servedName, 'nvidia/Chat');
    assert.deepEqual(c.model.hub, { repo: 'nvidia/Chat', revision: 'main', cacheDir: cache, snapshotDir: c.model.dir });
    assert.deepEqual(hubModelsNotCached(c), []);
    assert.equal(c.pull, undefined);
  });

  test('--revision picks refs/<rev>, or a commit hash directly', () => {
    const cache = fakeCache({ main: C1, v2: C2 });
    const base = ['--model', 'nvidia/Chat', '--cache-dir', cache, '--no-reward-model'];
    assert.equal(parseConfig([...base, '--revision', 'v2'], {}).model.dir, join(cache, 'models--nvidia--Chat', 'snapshots', C2));
    assert.equal(parseConfig([...base, '--revision', C1], {}).model.dir, join(cache, 'models--nvidia--Chat', 'snapshots', C1));
    assert.equal(parseConfig(base, { MODEL_REVISION: 'v2' }).model.dir, join(cache, 'models--nvidia--Chat', 'snapshots', C2));
  });

  test('the cache comes from HF_HUB_CACHE / HF_HOME when --cache-dir is absent', () => {
    const cache = fakeCache({ main: C1 });
    assert.equal(parseConfig(['--model', 'nvidia/Chat', '--no-reward-model'], { HF_HUB_CACHE: cache }).model.hub?.snapshotDir, join(cache, 'models--nvidia--Chat', 'snapshots', C1));
    const home = temp();
    const c = parseConfig(['--model', 'nvidia/Chat', '--no-reward-model'], { HF_HOME: home });
    assert.equal(c.model.hub?.cacheDir, join(home, 'hub'));
  });

  test('missing from the cache: the message says how to pull it, and --pull is recorded', () => {
    const cache = temp();
    const c = parseConfig(['--model', 'nvidia/Chat', '--revision', 'v3', '--cache-dir', cache, '--no-reward-model'], {});
    assert.equal(c.model.hub?.snapshotDir, undefined);
    const [msg] = hubModelsNotCached(c);
    assert.match(msg!, /^--model nvidia\/Chat: no local folder of that name, and the model is not in the Hugging Face cache/);
    assert.ok(msg!.includes(`npm run pull -- nvidia/Chat --revision v3 --cache-dir ${cache}`), msg);
    assert.match(msg!, /or start the server with --pull/);
    assert.equal(parseConfig(['--model', 'nvidia/Chat', '--cache-dir', cache, '--pull', '--no-reward-model'], {}).pull, true);
    assert.equal(parseConfig(['--model', 'nvidia/Chat', '--cache-dir', cache, '--no-reward-model'], { PULL: '1' }).pull, true);
  });

  test('a ref whose snapshot folder is gone counts as missing', () => {
    const cache = fakeCache({ main: C1 });
    rmSync(join(cache, 'models--nvidia--Chat', 'snapshots', C1), { recursive: true });
    const c = parseConfig(['--model', 'nvidia/Chat', '--cache-dir', cache, '--no-reward-model'], {});
    assert.equal(hubModelsNotCached(c).length, 1);
  });

  test('an existing folder named like org/name is a folder, and takes no --revision', () => {
    const cwd = temp();
    mkdirSync(join(cwd, 'nvidia', 'Chat'), { recursive: true });
    const c = parseConfig(['--model', 'nvidia/Chat', '--no-reward-model'], {}, cwd);
    assert.equal(c.model.dir, join(cwd, 'nvidia', 'Chat'));
    assert.equal(c.model.hub, undefined);
    assert.equal(c.model.servedName, 'Chat');
    assert.throws(() => parseConfig(['--model', 'nvidia/Chat', '--revision', 'v1'], {}, cwd), (e: unknown) => e instanceof ConfigError && /--revision applies to a Hugging Face model id/.test((e as Error).message));
    assert.throws(() => parseConfig(['--revision', 'v1'], {}), ConfigError, 'no --model at all');
  });

  test('--reward-model org/name resolves the same way, with --reward-revision', () => {
    const cache = fakeCache({ main: C1, v2: C2 }, 'nvidia/Reward');
    const c = parseConfig(['--reward-model', 'nvidia/Reward', '--reward-revision', 'v2', '--cache-dir', cache], {});
    assert.equal(c.rewardModel?.dir, join(cache, 'models--nvidia--Reward', 'snapshots', C2));
    assert.equal(c.rewardModel?.servedName, 'nvidia/Reward');
    const missing = parseConfig(['--model', 'nvidia/Chat', '--reward-model', 'nvidia/Reward', '--cache-dir', temp()], {});
    assert.deepEqual(hubModelsNotCached(missing).map((m) => m.split(':')[0]), ['--model nvidia/Chat', '--reward-model nvidia/Reward']);
  });
});
