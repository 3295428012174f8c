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
    engine = (chat as Extract<ServedModel, { task: 'generate' }>).engine as FakeEngine;
    const reward = await fakeModel({ id: 'judge', task: 'reward' });
    reward.aliases = ['rm'];
    app = buildApp({ models: [chat, reward], limits: DEFAULT_SERVER_LIMITS, isReady: () => true, logger: false, version: 't' });
  });
  after(async () => app.close());

  test('/v1/models lists every name; each can be retrieved', async () => {
    const list = (await app.inject({ url: '/v1/models' })).json() as { data: Array<{ id: string; root: string; task: string }> };
    assert.deepEqual(list.data.map((m) => m.id), ['nemotron', 'gpt-4o-mini', 'gpt-4o', 'judge', 'rm']);
    assert.equal(list.data[1]!.root, list.data[0]!.root, 'an alias names the same model folder');
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
