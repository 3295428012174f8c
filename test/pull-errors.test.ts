// Hub errors become messages that say what to do: a missing repo (404), a gated repo without a token
// (401), a token without access (403), a refused token, a bad revision, an unreachable hub.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { pull, type PullOptions } from '../src/hub/pull.ts';
import { repoCacheDir } from '../src/hub/cache.ts';
import { PullError } from '../src/hub/errors.ts';
import { demoRepoFiles, FakeHub } from './helpers/fake-hub.ts';

const GOOD = 'hf_granted_token';
const NO_ACCESS = 'hf_known_but_not_granted';
let hub: FakeHub;
const temps: string[] = [];

function tempCache(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-errors-'));
  temps.push(d);
  return d;
}

before(async () => {
  hub = new FakeHub();
  hub.addRepo('acme/open', { 'config.json': Buffer.from('{}') });
  hub.addRepo('acme/gated', demoRepoFiles(), { gated: true });
  hub.addRepo('acme/private', { 'config.json': Buffer.from('{}') }, { private: true });
  hub.tokens.add(GOOD).add(NO_ACCESS);
  hub.granted.add(GOOD);
  await hub.start();
});

after(async () => {
  await hub.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

async function failure(opts: Partial<PullOptions> & { repo: string }): Promise<PullError> {
  const err = await pull({ cacheDir: tempCache(), hubUrl: hub.url, retries: 0, ...opts }).then(
    () => assert.fail('the pull should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PullError, `a PullError, got ${String((err as Error)?.stack ?? err)}`);
  return err;
}

describe('a missing repo', () => {
  test('404: says the model was not found and to check the name', async () => {
    const err = await failure({ repo: 'acme/missing', token: GOOD });
    assert.equal(err.kind, 'not_found');
    assert.match(err.message, /model acme\/missing was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\): check the name/);
  });

  test('anonymous: the hub answers 401 for private and missing alike; the message names both causes and HF_TOKEN', async () => {
    for (const repo of ['acme/missing', 'acme/private']) {
      const err = await failure({ repo });
      assert.equal(err.kind, 'auth_required');
      assert.match(err.message, new RegExp(`${repo} needs authentication \\(HTTP 401\\): it is private or gated, or does not exist.*set HF_TOKEN`));
    }
  });

  test('an unknown revision', async () => {
    const err = await failure({ repo: 'acme/open', revision: 'v9' });
    assert.equal(err.kind, 'not_found');
    assert.match(err.message, /revision 'v9' of acme\/open was not found/);
  });

  test('a malformed id is refused before any request', async () => {
    const mark = hub.requests.length;
    const err = await failure({ repo: 'not-a-repo-id' });
    assert.equal(err.kind, 'bad_input');
    assert.match(err.message, /expected org\/name/);
    assert.equal(hub.requests.length, mark);
  });
});

describe('a gated repo', () => {
  test('401 without a token: tells the user to accept the conditions and set HF_TOKEN; downloads nothing', async () => {
    const cache = tempCache();
    const err = await failure({ repo: 'acme/gated', cacheDir: cache });
    assert.equal(err.kind, 'auth_required');
    assert.match(err.message, /acme\/gated is gated: accept its conditions at http:\/\/127\.0\.0\.1:\d+\/acme\/gated, then set HF_TOKEN/);
    assert.equal(hub.requestsTo('/acme/gated/resolve/').length, 0);
    assert.equal(existsSync(repoCacheDir(cache, 'acme/gated')), false, 'nothing written');
  });

  test('the file endpoint itself answers 401 GatedRepo without a token (what the pull guards against)', async () => {
    const res = await fetch(`${hub.url}/acme/gated/resolve/main/config.json`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('x-error-code'), 'GatedRepo');
  });

  test('403 with a token that was not granted access: says to request access', async () => {
    const err = await failure({ repo: 'acme/gated', token: NO_ACCESS });
    assert.equal(err.kind, 'forbidden');
    assert.match(err.message, /HF_TOKEN has no access to README\.md in acme\/gated \(HTTP 403\): for a gated model, request access at/);
  });

  test('a refused token: 401 says the token is invalid or expired', async () => {
    const err = await failure({ repo: 'acme/open', token: 'hf_unknown' });
    assert.equal(err.kind, 'auth_required');
    assert.match(err.message, /HF_TOKEN was refused .*invalid or expired/);
  });

  test('a token that is not a hub token is refused before any request', async () => {
    const err = await failure({ repo: 'acme/open', token: 'sk-something' });
    assert.equal(err.kind, 'bad_input');
    assert.match(err.message, /starts with "hf_"/);
  });

  test('with a granted token the pull succeeds and every request carries it', async () => {
    const mark = hub.requests.length;
    const r = await pull({ repo: 'acme/gated', cacheDir: tempCache(), hubUrl: hub.url, token: GOOD });
    assert.deepEqual(readFileSync(join(r.snapshotDir, 'onnx', 'model.onnx')), demoRepoFiles()['onnx/model.onnx']);
    const seen = hub.requests.slice(mark);
    assert.ok(seen.length > 5);
    assert.ok(seen.every((q) => q.authorization === `Bearer ${GOOD}`), 'Authorization on every request');
  });
});

describe('an unreachable hub', () => {
  test('a refused connection says which address could not be reached', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const err = await failure({ repo: 'acme/open', hubUrl: `http://127.0.0.1:${port}` });
    assert.equal(err.kind, 'network');
    assert.match(err.message, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });
});
