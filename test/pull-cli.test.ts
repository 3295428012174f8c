// The pull command as users run it (scripts/pull.ts, `npm start -- pull`), main.ts refusing an org/name
// model missing from the cache, and the progress bar's text.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProgressBar, formatDuration } from '../src/hub/progress.ts';
import { tokenFromEnv } from '../src/hub/cli.ts';
import { demoRepoFiles, FakeHub } from './helpers/fake-hub.ts';
import { REPO as ROOT } from './helpers/paths.ts';

let hub: FakeHub;
const temps: string[] = [];

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-cli-'));
  temps.push(d);
  return d;
}

before(async () => {
  hub = new FakeHub();
  hub.addRepo('acme/tiny', demoRepoFiles());
  hub.addRepo('acme/gated', demoRepoFiles(), { gated: true });
  await hub.start();
});

after(async () => {
  await hub.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry point with tsx; HF_HOME points at an empty folder so no real token is read. */
function run(script: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HF_HOME: temp(), HF_ENDPOINT: hub.url, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run pull', () => {
  test('downloads into --cache-dir, prints the snapshot folder, and shows progress on stderr', async () => {
    const cache = temp();
    const r = await run('scripts/pull.ts', ['acme/tiny', '--cache-dir', cache]);
    assert.equal(r.code, 0, r.stderr);
    const dir = r.stdout.trim();
    assert.match(dir, new RegExp(`^${cache}/models--acme--tiny/snapshots/[0-9a-f]{40}$`));
    assert.deepEqual(readFileSync(join(dir, 'onnx', 'model.onnx_data')), demoRepoFiles()['onnx/model.onnx_data']);
    assert.match(r.stderr, /pulling acme\/tiny from http:\/\/127\.0\.0\.1:\d+ into /);
    assert.match(r.stderr, /7 file\(s\), 2\.\d\d MB/);
    // Not a terminal: plain lines, one per finished file, with bytes, speed and ETA.
    assert.match(r.stderr, /done onnx\/model\.onnx_data {2}\d+% {2}[\d.]+ [kM]B \/ 2\.\d\d MB {2}[\d.]+ [kMG]?B\/s {2}ETA /);
    assert.doesNotMatch(r.stderr, /\r/);
    assert.match(r.stderr, /7 files, 7 downloaded, 0 resumed, 0 already cached/);
  });

  test('HF_HUB_CACHE chooses the cache when --cache-dir is absent', async () => {
    const cache = temp();
    const r = await run('scripts/pull.ts', ['acme/tiny', '--include', 'README.md', '--quiet'], { HF_HUB_CACHE: cache });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(join(cache, 'models--acme--tiny', 'snapshots')));
    assert.doesNotMatch(r.stderr, /done /, '--quiet shows no progress');
  });

  test('a gated repo without HF_TOKEN exits 1 with the instructions', async () => {
    const r = await run('scripts/pull.ts', ['acme/gated', '--cache-dir', temp()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: acme\/gated is gated: .*set HF_TOKEN/);
    assert.equal(r.stdout, '');
  });

  test('bad usage exits 2; --help exits 0', async () => {
    const none = await run('scripts/pull.ts', []);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give exactly one model id/);
    const help = await run('scripts/pull.ts', ['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: npm run pull -- <org\/name>/);
  });

  test('npm start -- pull … is the same command', async () => {
    const cache = temp();
    const r = await run('src/main.ts', ['pull', 'acme/tiny', '--include', 'README.md', '--cache-dir', cache]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /models--acme--tiny\/snapshots\/[0-9a-f]{40}$/);
  });
});

describe('serving an org/name model that is not in the cache', () => {
  test('exits 2 and says to run npm run pull (nothing is downloaded without --pull)', async () => {
    const cache = temp();
    const mark = hub.requests.length;
    const r = await run('src/main.ts', ['--model', 'acme/tiny', '--cache-dir', cache, '--no-reward-model', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--model acme\/tiny: no local folder of that name, and the model is not in the Hugging Face cache/);
    assert.match(r.stderr, new RegExp(`npm run pull -- acme/tiny --cache-dir ${cache}`));
    assert.equal(hub.requests.length, mark, 'the hub was not contacted');
  });
});

describe('progress bar', () => {
  test('on a terminal: one line redrawn with bar, bytes, speed and ETA', () => {
    let now = 0;
    let text = '';
    const bar = new ProgressBar({ write: (t: string) => (text += t), isTTY: true, columns: 200 }, { now: () => now });
    bar.start(1000, 0, 1);
    bar.file('onnx/model.onnx', 1000, 0);
    now = 1000;
    bar.advance(500);
    assert.match(text, /\r\[#{10}-{10}\] 50% {2}500 B \/ 1\.00 kB {2}500 B\/s {2}ETA 1s {2}onnx\/model\.onnx/);
    bar.finish();
    assert.ok(text.endsWith('\n'));
  });

  test('durations read as seconds, minutes, hours', () => {
    assert.deepEqual([formatDuration(42), formatDuration(185), formatDuration(7620), formatDuration(Infinity)], ['42s', '3m05s', '2h07m', '--']);
  });

  test('the token comes from HF_TOKEN, else the token file of huggingface-cli login', () => {
    const home = temp();
    assert.equal(tokenFromEnv({ HF_TOKEN: 'hf_a', HF_HOME: home }), 'hf_a');
    assert.equal(tokenFromEnv({ HF_HOME: home }), undefined);
    writeFileSync(join(home, 'token'), 'hf_from_file\n'); // as `huggingface-cli login` writes it
    assert.equal(tokenFromEnv({ HF_HOME: home }), 'hf_from_file');
  });
});
