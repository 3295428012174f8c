/**
 * Graceful shutdown of a real server process: SIGTERM during streams lets them finish (within the grace
 * period), refuses new requests, and exits 0; past the grace period the rest are aborted with a clear error.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO } from './helpers/paths.ts';

interface Child {
  proc: ChildProcess;
  url: string;
  exit: Promise<number | null>;
}

/** Starts `src/main.ts` on a free port and waits until it is ready. */
async function startServer(args: string[]): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'main.ts'), '--port', '0', '--no-reward-model', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = once(proc, 'exit').then(([code]) => code as number | null);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    void exit.then((code) => reject(new Error(`server exited (${code}) before listening: ${out}`)));
  });
  for (let i = 0; i < 600; i++) {
    if ((await fetch(`${url}/ready`).catch(() => undefined))?.status === 200) return { proc, url, exit };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server never became ready');
}

/** Opens a streamed chat completion; resolves once the first chunk arrived, with the rest of the stream. */
async function openStream(url: string, maxTokens: number): Promise<{ rest: Promise<string> }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'go' }], max_tokens: maxTokens, stream: true, ignore_eos: true }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  const decoder = new TextDecoder();
  let text = decoder.decode(first.value);
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
    }
  })();
  return { rest };
}

function frames(body: string): unknown[] {
  return body.split('\n\n').filter((f) => f.startsWith('data: ')).map((f) => f.slice(6)).map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

describe('graceful shutdown', () => {
  test('SIGTERM during 4 streams: they finish with a finish_reason, new requests are refused, exit 0', async () => {
    const s = await startServer(['--shutdown-grace', '60']);
    const streams = await Promise.all([0, 1, 2, 3].map(() => openStream(s.url, 1500)));
    s.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const ready = await fetch(`${s.url}/ready`).then((r) => r.status, () => 'refused');
    assert.ok(ready === 503 || ready === 'refused', `readiness after SIGTERM: ${ready}`);
    const late = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'late' }], max_tokens: 2 }),
    }).then((r) => r.status, () => 'refused');
    assert.ok(late === 503 || late === 'refused', `a new request after SIGTERM: ${late}`);
    for (const st of streams) {
      const f = frames(await st.rest);
      assert.equal(f.at(-1), '[DONE]');
      const finish = f.find((x) => typeof x === 'object' && (x as any).choices?.[0]?.finish_reason) as any;
      assert.equal(finish?.choices[0].finish_reason, 'length', 'the stream ran to its end');
      assert.ok(!f.some((x) => typeof x === 'object' && 'error' in (x as object)));
    }
    assert.equal(await s.exit, 0);
  });

  test('past the grace period the remaining streams end with a clear error, and the process exits 0', async () => {
    const s = await startServer(['--shutdown-grace', '0.3']);
    const st = await openStream(s.url, 4000);
    s.proc.kill('SIGTERM');
    const f = frames(await st.rest);
    assert.equal(f.at(-1), '[DONE]');
    const err = f.at(-2) as { error: { message: string; code: string } };
    assert.equal(err.error.code, 'generation_aborted');
    assert.match(err.error.message, /shutting down/);
    assert.equal(await s.exit, 0);
  });
});
