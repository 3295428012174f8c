/**
 * Drop-in gaps an OpenAI app hits (issue 13): model aliases, request ids, CORS, usage details, embeddings,
 * and validation messages. Routes against fake engines.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { parseConfig } from '../src/server/config.ts';
import { DEFAULT_SERVER_LIMITS, type ServedModel } from '../src/server/deps.ts';
import { FakeEngine, fakeModel } from './helpers/fake-engine.ts';
import { INSTRUCT } from './helpers/paths.ts';

describe('model aliases', () => {
  test('--served-model-name takes several names: the first is the model, the rest aliases', () => {
    const c = parseConfig(['--served-model-name', 'nemotron, gpt-4o-mini,gpt-4o'], {});
    assert.equal(c.model.servedName, 'nemotron');
    assert.deepEqual(c.model.aliases, ['gpt-4o-mini', 'gpt-4o']);
    assert.equal(parseConfig([], {}).model.aliases, undefined);
    assert.deepEqual(parseConfig(['--reward-served-model-name', 'judge,rm'], {}).rewardModel?.aliases, ['rm']);
    assert.throws(() => parseConfig(['--served-model-name', 'a,b', '--reward-served-model-name', 'rm,b'], {}), /both served as 'b'/);
    assert.throws(() => parseConfig(['--served-model-name', ' , '], {}), /--served-model-name/);
  });

  let app: FastifyInstance;
  let engine: FakeEngine;
  before(async () => {
    const chat = await fakeModel({ id: 'nemotron' });
    chat.aliases = ['gpt-4o-mini', 'gpt-4o'];
    chat.provider = 'cuda';
    engine = (chat as Extract<ServedModel, { task: 'generate' }>).engine as FakeEngine;
    const reward = await fakeModel({ id: 'judge', task: 'reward' });
    reward.aliases = ['rm'];
    app = buildApp({ models: [chat, reward], limits: DEFAULT_SERVER_LIMITS, isReady: () => true, logger: false, version: 't' });
  });
  after(async () => app.close());

  test('/v1/models lists every name; each can be retrieved', async () => {
    const list = (await app.inject({ url: '/v1/models' })).json() as { data: Array<{ id: string; root: string; task: string; provider?: string }> };
    assert.deepEqual(list.data.map((m) => m.id), ['nemotron', 'gpt-4o-mini', 'gpt-4o', 'judge', 'rm']);
    assert.equal(list.data[1]!.root, list.data[0]!.root, 'an alias names the same model folder');
    assert.equal(list.data.find((m) => m.id === 'nemotron')!.provider, 'cuda', 'where it runs');
    const one = await app.inject({ url: '/v1/models/gpt-4o' });
    assert.equal(one.statusCode, 200);
    assert.equal((one.json() as { id: string }).id, 'gpt-4o');
  });

  test('a request naming an alias runs on the model; the answer carries the model name', async () => {
    const before = engine.requests.length;
    const r = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 } });
    assert.equal(r.statusCode, 200);
    assert.equal((r.json() as { model: string }).model, 'nemotron');
    assert.equal(engine.requests.length, before + 1);
    const s = await app.inject({ method: 'POST', url: '/v1/score', payload: { model: 'rm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] } });
    assert.equal(s.statusCode, 200);
    const nv = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'rm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] } });
    assert.equal(nv.statusCode, 200, 'NVIDIA-style reward answers by alias too');
    assert.equal((await app.inject({ url: '/v1/models/gpt-5' })).statusCode, 404);
  });
});

describe('served model names in a real config', () => {
  test('the default model is served under its folder name alone', () => {
    const c = parseConfig(['--model', INSTRUCT], {});
    assert.equal(c.model.servedName, 'instruct');
    assert.equal(c.model.aliases, undefined);
  });
});

describe('HTTP details (routes, fake engine)', () => {
  let app: FastifyInstance;
  let open: FastifyInstance;
  before(async () => {
    const chat = await fakeModel();
    const reward = await fakeModel({ task: 'reward' });
    app = buildApp({ models: [chat, reward], limits: { ...DEFAULT_SERVER_LIMITS, maxTokens: 100, apiKey: 'k' }, isReady: () => true, logger: false, version: 't' });
    open = buildApp({ models: [chat], limits: { ...DEFAULT_SERVER_LIMITS, apiKey: 'k', allowedOrigins: ['http://localhost:3000'] }, isReady: () => true, logger: false, version: 't' });
  });
  after(async () => Promise.all([app.close(), open.close()]));
  const auth = { authorization: 'Bearer k' };
  const chatBody = { model: 'instruct', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };

  test('x-request-id: the client\'s own is echoed, else one is made, on answers, errors and streams alike', async () => {
    const mine = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { ...auth, 'x-request-id': 'gateway-42.a' }, payload: chatBody });
    assert.equal(mine.headers['x-request-id'], 'gateway-42.a');
    const made = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: auth, payload: chatBody });
    assert.match(String(made.headers['x-request-id']), /^req-[0-9a-f]{20}$/);
    const odd = await app.inject({ url: '/v1/models', headers: { ...auth, 'x-request-id': 'has spaces and {braces}' } });
    assert.match(String(odd.headers['x-request-id']), /^req-/, 'an unusable id is replaced');
    assert.match(String((await app.inject({ url: '/v1/models' })).headers['x-request-id']), /^req-/, 'a 401 carries one');
    assert.match(String((await app.inject({ url: '/nope', headers: auth })).headers['x-request-id']), /^req-/, 'a 404 carries one');
    const stream = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { ...auth, 'x-request-id': 'sse-1' }, payload: { ...chatBody, stream: true } });
    assert.equal(stream.headers['x-request-id'], 'sse-1');
    assert.match(stream.body, /\[DONE\]/);
  });

  test('usage has prompt_tokens_details and completion_tokens_details; system_fingerprint is a string', async () => {
    const r = (await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: auth, payload: chatBody })).json() as Record<string, any>;
    assert.deepEqual(r.usage.prompt_tokens_details, { cached_tokens: 0 });
    assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 0);
    assert.equal(typeof r.system_fingerprint, 'string');
  });

  test('/v1/embeddings says this server serves no embedding model', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/embeddings', headers: auth, payload: { model: 'text-embedding-3-small', input: 'hi' } });
    assert.equal(r.statusCode, 400);
    const e = (r.json() as { error: { message: string; code: string; type: string } }).error;
    assert.match(e.message, /serves no embedding model/);
    assert.match(e.message, /'instruct'/);
    assert.equal(e.code, 'embeddings_not_supported');
    assert.equal(e.type, 'invalid_request_error');
  });

  test('errors name the field the client sent', async () => {
    const over = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: auth, payload: { ...chatBody, max_tokens: undefined, max_completion_tokens: 500 } });
    assert.equal(over.statusCode, 400);
    const e = (over.json() as { error: { message: string; param: string } }).error;
    assert.equal(e.param, 'max_completion_tokens');
    assert.match(e.message, /'max_completion_tokens' is 500/);
    const huge = await app.inject({ method: 'POST', url: '/v1/chat/completions', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"model":"instruct","messages":[{"role":"user","content":"hi"}],"max_tokens":1e400}' });
    assert.equal(huge.statusCode, 400);
    const h = (huge.json() as { error: { message: string; param: string } }).error;
    assert.equal(h.param, 'max_tokens');
    assert.doesNotMatch(h.message, /expected a number, got number/);
    assert.match(h.message, /out of range/);
  });

  test('CORS is off by default; with --allowed-origins, preflights pass without the key and answers carry the headers', async () => {
    const none = await app.inject({ url: '/v1/models', headers: { ...auth, origin: 'http://localhost:3000' } });
    assert.equal(none.headers['access-control-allow-origin'], undefined);
    const pre = await open.inject({ method: 'OPTIONS', url: '/v1/chat/completions', headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-stainless-os' } });
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.match(String(pre.headers['access-control-allow-headers']), /x-stainless-os/);
    const real = await open.inject({ method: 'POST', url: '/v1/chat/completions', headers: { ...auth, origin: 'http://localhost:3000' }, payload: chatBody });
    assert.equal((await open.inject({ method: 'POST', url: '/v1/chat/completions', headers: { origin: 'http://localhost:3000' }, payload: chatBody })).statusCode, 401, 'only the preflight goes without the key');
    assert.equal(real.statusCode, 200);
    assert.equal(real.headers['access-control-allow-origin'], 'http://localhost:3000');
    assert.match(String(real.headers['access-control-expose-headers']), /x-request-id/);
    const other = await open.inject({ url: '/v1/models', headers: { ...auth, origin: 'https://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });

  test('--allowed-origins: * or origins; anything else is a clear error', () => {
    assert.deepEqual(parseConfig(['--allowed-origins', 'http://localhost:3000,https://app.example'], {}).limits.allowedOrigins, ['http://localhost:3000', 'https://app.example']);
    assert.deepEqual(parseConfig([], { ALLOWED_ORIGINS: '*' }).limits.allowedOrigins, ['*']);
    assert.equal(parseConfig([], {}).limits.allowedOrigins, undefined);
    assert.throws(() => parseConfig(['--allowed-origins', 'localhost'], {}), /--allowed-origins/);
  });
});
