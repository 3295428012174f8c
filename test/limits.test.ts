/**
 * Overload and limits: exact 429 counts under a full engine, request timeouts, prompt-size limits,
 * disconnecting clients, and a slow reader that must not hold up the batch.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS } from '../src/server/deps.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';
import { INSTRUCT } from './helpers/paths.ts';
import { startTestServer, waitFor } from './helpers/server.ts';

const chatBody = (maxTokens: number, stream = false) =>
  JSON.stringify({ model: 'instruct', messages: [{ role: 'user', content: 'hello' }], max_tokens: maxTokens, ignore_eos: true, stream });

describe('overload and limits', () => {
  test('max running 2 + max waiting 2: 10 concurrent requests give exactly 6 quick 429s and 4 answers', async () => {
    const server = await startTestServer({ chat: INSTRUCT, engineLimits: { maxNumSeqs: 2 }, maxNumQueuedReqs: 2 });
    try {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const r = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(200) });
          return { status: r.status, retryAfter: r.headers.get('retry-after'), at: performance.now() - started, body: (await r.json()) as any };
        }),
      );
      const refused = results.filter((r) => r.status === 429);
      const ok = results.filter((r) => r.status === 200);
      assert.equal(refused.length, 6);
      assert.equal(ok.length, 4);
      for (const r of refused) {
        assert.equal(r.retryAfter, '1');
        assert.equal(r.body.error.code, 'overloaded');
      }
      // "Quick": every refusal came back before any answer completed.
      assert.ok(Math.max(...refused.map((r) => r.at)) < Math.min(...ok.map((r) => r.at)));
      for (const r of ok) assert.equal(r.body.usage.completion_tokens, 200);
    } finally {
      await server.close();
    }
  });

  test('50 clients that disconnect mid-stream leave running and waiting at zero and memory flat', async () => {
    const server = await startTestServer({ chat: INSTRUCT, engineLimits: { maxNumSeqs: 64 } });
    try {
      const engine = server.engines[0]!;
      const round = () =>
        Promise.all(
          Array.from({ length: 50 }, () => new Promise<void>((resolve, reject) => {
            const req = request(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
              res.once('data', () => {
                req.destroy(); // the client goes away after its first chunk
                resolve();
              });
            });
            req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(e)));
            req.end(chatBody(4000, true));
          })),
        );
      await round();
      await waitFor(() => engine.inFlight === 0 && engine.stats().running === 0 && engine.stats().waiting === 0, 20_000);
      global.gc?.();
      const heapAfterFirst = process.memoryUsage().heapUsed;
      await round();
      await waitFor(() => engine.inFlight === 0 && engine.stats().running === 0 && engine.stats().waiting === 0, 20_000);
      assert.equal(engine.stats().kvUsedTokens, 0);
      global.gc?.();
      const growth = process.memoryUsage().heapUsed - heapAfterFirst;
      assert.ok(growth < 32 * 1024 * 1024, `heap grew ${(growth / 1048576).toFixed(1)} MiB over 50 more disconnects`);
    } finally {
      await server.close();
    }
  });

  test('a slow-reading client does not hold up the batch: its generation completes while it reads nothing', async () => {
    const server = await startTestServer({ chat: INSTRUCT });
    try {
      const engine = server.engines[0]!;
      let slowRes: import('node:http').IncomingMessage | undefined;
      const slow = request(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        slowRes = res;
        res.pause(); // never read: the socket buffers fill up
      });
      slow.end(chatBody(1500, true));
      await waitFor(() => slowRes !== undefined);
      // Another client is served normally meanwhile…
      const quick = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody(20) });
      assert.equal(quick.status, 200);
      // …and the slow client's 1,500 tokens are all generated although it has read none of them.
      await waitFor(() => engine.inFlight === 0 && engine.stats().running === 0, 60_000);
      slow.destroy();
    } finally {
      await server.close();
    }
  });
});

describe('request timeout and prompt limits (fake engine)', () => {
  async function app(limits: Partial<typeof DEFAULT_SERVER_LIMITS>, engine: FakeEngine) {
    const model = await fakeModel({ engine });
    return buildApp({ models: [model], limits: { ...DEFAULT_SERVER_LIMITS, ...limits }, isReady: () => true, logger: false, version: 't' });
  }

  test('a request past --request-timeout ends its generation and gets a clear 408', async () => {
    const engine = new FakeEngine({ stallAfter: 1 }, await llamaTokenizer());
    const a = await app({ requestTimeoutMs: 150 }, engine);
    const r = await a.inject({ method: 'POST', url: '/v1/chat/completions', payload: JSON.parse(chatBody(50)) });
    assert.equal(r.statusCode, 408);
    assert.equal(r.json().error.code, 'request_timeout');
    assert.match(r.json().error.message, /timed out after 0\.1 s/);
    assert.equal(engine.signals.at(-1)?.aborted, true, 'the generation was stopped');
    const s = await a.inject({ method: 'POST', url: '/v1/chat/completions', payload: JSON.parse(chatBody(50, true)) });
    assert.equal(s.statusCode, 200);
    assert.match(s.body, /"code":"request_timeout"/);
    assert.ok(s.body.trimEnd().endsWith('data: [DONE]'));
  });

  test('--max-prompt-tokens refuses longer prompts naming both numbers', async () => {
    const a = await app({ maxPromptTokens: 20 }, new FakeEngine({}, await llamaTokenizer()));
    const r = await a.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error.code, 'prompt_too_long');
    assert.match(r.json().error.message, /\d+ tokens, more than this server's limit of 20 tokens/);
  });
});
