// A pulled model served by name: the imitation hub serves a copy of the ONNX Runtime GenAI fixture, it is
// pulled into a temporary cache, resolved from `--model org/name` by parseConfig (what main.ts uses), and
// answers chat completions — the same tokens as the fixture served from its own folder. Then main.ts
// itself, with --pull, downloads and serves it under its hub name.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { pull } from '../src/hub/pull.ts';
import { parseConfig } from '../src/server/config.ts';
import { FakeHub, filesOfFolder } from './helpers/fake-hub.ts';
import { FIXTURE, REPO as ROOT } from './helpers/paths.ts';
import { startTestServer } from './helpers/server.ts';

const NAME = 'acme/tiny-llama-genai';
let hub: FakeHub;
const temps: string[] = [];

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pull-serve-'));
  temps.push(d);
  return d;
}

before(async () => {
  hub = new FakeHub();
  hub.addRepo(NAME, filesOfFolder(FIXTURE));
  await hub.start();
});

after(async () => {
  await hub.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Name three colors.' }];
const greedy = { messages, max_tokens: 8, temperature: 0, ignore_eos: true };

/** Greedy completion text from a model folder, through a real server and the openai client. */
async function completionFrom(dir: string): Promise<{ id: string; text: string; tokens: number }> {
  const server = await startTestServer({ chat: dir });
  try {
    const id = server.models[0]!.id;
    const r = (await server.client().chat.completions.create({ model: id, ...greedy } as never)) as OpenAI.Chat.ChatCompletion;
    return { id, text: r.choices[0]!.message.content ?? '', tokens: r.usage!.completion_tokens };
  } finally {
    await server.close();
  }
}

describe('a pulled model served by name', () => {
  test('pull → --model org/name → chat completion, identical to the original folder', async () => {
    const cache = temp();
    const pulled = await pull({ repo: NAME, cacheDir: cache, hubUrl: hub.url });
    const config = parseConfig(['--model', NAME, '--cache-dir', cache, '--no-reward-model'], {});
    assert.equal(config.model.dir, pulled.snapshotDir, 'main.ts resolution finds the snapshot');
    assert.equal(config.model.servedName, NAME);
    for (const f of ['model.onnx', 'model.onnx.data', 'genai_config.json', 'tokenizer.json']) {
      assert.deepEqual(readFileSync(join(config.model.dir, f)), readFileSync(join(FIXTURE, f)), f);
    }
    const fromCache = await completionFrom(config.model.dir);
    const original = await completionFrom(FIXTURE);
    assert.equal(fromCache.tokens, 8);
    assert.equal(fromCache.text, original.text, 'same weights, same greedy tokens');
  });

  test('main.ts --pull downloads a missing model, then serves it as org/name', { timeout: 120_000 }, async () => {
    const cache = temp();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', '--model', NAME, '--pull', '--cache-dir', cache, '--no-reward-model', '--port', '0', '--log-level', 'info'],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HF_ENDPOINT: hub.url, HF_HOME: temp() }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const url = await waitForLog(() => /"url":"(http:\/\/[^"]+)"/.exec(stdout)?.[1], () => `${stdout}\n${stderr}`);
      await waitForLog(() => (/"msg":"ready: serving/.test(stdout) ? true : undefined), () => `${stdout}\n${stderr}`);
      assert.match(stdout, /is not in the cache: pulling it \(--pull\)/);
      assert.match(stderr, /done model\.onnx\.data/, 'progress went to stderr');
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string }> };
      assert.deepEqual(models.data.map((m) => m.id), [NAME]);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: NAME, ...greedy }),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { model: string; usage: { completion_tokens: number } };
      assert.equal(body.model, NAME);
      assert.equal(body.usage.completion_tokens, 8);
      assert.ok(existsSync(join(cache, `models--${NAME.replace('/', '--')}`, 'refs', 'main')), 'pulled into the given cache');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});

/** Polls `probe` until it returns a value, failing after 60 s with the process output. */
async function waitForLog<T>(probe: () => T | undefined, output: () => string): Promise<T> {
  const until = Date.now() + 60_000;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
