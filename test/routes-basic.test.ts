// Routes other than generation: models, probes, tokenize/detokenize, auth, and the error shape of
// fastify's own failures (unknown route, bad JSON, body too large), via app.inject against fake engines.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, keyMatches } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type AppDeps, type ServedModel } from '../src/server/deps.ts';
import { findModel } from '../src/server/registry.ts';
import type { TextTokenizer } from '../src/tokenizer/index.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

const BOS = 128000;
const VERSION = '9.9.9-test';
const API_KEY = 'sk-test-key';
const MAX_BODY = 16 * 1024;

/** Asserts OpenAI's error shape (exactly message/type/param/code) and that nothing internal leaks. */
function assertError(
  res: LightMyRequestResponse,
  status: number,
  want: { type?: string; code?: string | null; param?: string | null; message?: RegExp },
): { message: string; type: string; param: string | null; code: string | null } {
  assert.equal(res.statusCode, status, `status of ${res.body}`);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = res.json() as { error: { message: string; type: string; param: string | null; code: string | null } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  if (want.type !== undefined) assert.equal(body.error.type, want.type);
  if (want.code !== undefined) assert.equal(body.error.code, want.code);
  if (want.param !== undefined) assert.equal(body.error.param, want.param);
  if (want.message) assert.match(body.error.message, want.message);
  // No stack frames, file paths or stack fields anywhere in the body.
  assert.doesNotMatch(res.body, /\bat .+:\d+:\d+|\.ts:\d+|"stack"/);
  return body.error;
}

let tokenizer: TextTokenizer;
let chat: ServedModel;
let reward: ServedModel;
/** What isReady() answers; true except inside the /ready test. */
let ready = true;
let app: FastifyInstance;
let authed: FastifyInstance;

function deps(over: Partial<AppDeps> = {}): AppDeps {
  return {
    models: [chat, reward],
    limits: { ...DEFAULT_SERVER_LIMITS, maxBodyBytes: MAX_BODY },
    isReady: () => ready,
    logger: false,
    version: VERSION,
    ...over,
  };
}

before(async () => {
  tokenizer = await llamaTokenizer();
  chat = await fakeModel({ id: 'instruct', contextLength: 8192, root: '/srv/models/instruct', created: 1_700_000_001 });
  reward = await fakeModel({ id: 'reward', task: 'reward', contextLength: 4096, root: '/srv/models/reward', created: 1_700_000_002 });
  app = buildApp(deps());
  // A route that fails the way a bug would, to check that 500s reveal nothing.
  app.get('/test-only/boom', async () => {
    throw new Error('secret internal detail at /srv/app/src/thing.ts:12:34');
  });
  await app.ready();
  authed = buildApp(deps({ limits: { ...DEFAULT_SERVER_LIMITS, maxBodyBytes: MAX_BODY, apiKey: API_KEY } }));
  await authed.ready();
});

after(async () => {
  await app?.close();
  await authed?.close();
});

describe('/v1/models', () => {
  test('lists both models with their task, root and context length', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/models' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      object: 'list',
      data: [
        { id: 'instruct', object: 'model', created: 1_700_000_001, owned_by: 'nemotron-onnx-server', root: '/srv/models/instruct', max_model_len: 8192, task: 'generate' },
        { id: 'reward', object: 'model', created: 1_700_000_002, owned_by: 'nemotron-onnx-server', root: '/srv/models/reward', max_model_len: 4096, task: 'reward' },
      ],
    });
  });

  test('GET /v1/models/:id returns one entry', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/reward' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().id, 'reward');
    assert.equal(res.json().task, 'reward');
    assert.equal(res.json().max_model_len, 4096);
  });

  test('an unknown id is a 404 model_not_found naming the model', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/gpt-4o' });
    assertError(res, 404, { type: 'invalid_request_error', code: 'model_not_found', param: 'model', message: /gpt-4o/ });
  });

  test('ids holding a slash are found escaped or not', async () => {
    const slashed = buildApp(deps({ models: [await fakeModel({ id: 'nvidia/Llama-3.1-Nemotron' }), await fakeModel({ id: '100%25' })] }));
    try {
      for (const url of ['/v1/models/nvidia/Llama-3.1-Nemotron', '/v1/models/nvidia%2FLlama-3.1-Nemotron']) {
        const res = await slashed.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 200, url);
        assert.equal(res.json().id, 'nvidia/Llama-3.1-Nemotron');
      }
      // Decoded exactly once: "%2525" is the id "%25", not "%".
      assert.equal((await slashed.inject({ method: 'GET', url: '/v1/models/100%2525' })).json().id, '100%25');
      assertError(await slashed.inject({ method: 'GET', url: '/v1/models/nvidia' }), 404, { code: 'model_not_found' });
    } finally {
      await slashed.close();
    }
  });
});

describe('probes', () => {
  test('/health is 200 without a key even when a key is required', async () => {
    for (const url of ['/health', '/health?probe=1']) {
      const res = await authed.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.deepEqual(res.json(), { status: 'ok' });
    }
  });

  test('/ready is 503 not_ready until isReady() turns true, then 200', async () => {
    ready = false;
    assertError(await app.inject({ method: 'GET', url: '/ready' }), 503, { type: 'server_error', code: 'not_ready' });
    ready = true;
    const res = await app.inject({ method: 'GET', url: '/ready' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ready' });
    ready = false;
    assert.equal((await app.inject({ method: 'GET', url: '/ready' })).statusCode, 503);
    ready = true;
  });

  test('/version reports the version it was given', async () => {
    const res = await app.inject({ method: 'GET', url: '/version' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { version: VERSION });
  });
});

describe('/tokenize and /detokenize', () => {
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });

  test('a prompt gets bos plus its tokens; detokenize gives the text back', async () => {
    const res = await post('/tokenize', { prompt: 'Hello world' });
    assert.equal(res.statusCode, 200);
    const body = res.json() as { tokens: number[]; count: number; max_model_len: number };
    assert.equal(body.tokens[0], BOS);
    assert.deepEqual(body.tokens, tokenizer.encode('Hello world'));
    assert.ok(body.tokens.length >= 3);
    assert.equal(body.count, body.tokens.length);
    assert.equal(body.max_model_len, 8192);

    const back = await post('/detokenize', { tokens: body.tokens });
    assert.equal(back.statusCode, 200);
    assert.deepEqual(back.json(), { prompt: '<|begin_of_text|>Hello world' });
  });

  test('add_special_tokens: false leaves out bos', async () => {
    const body = (await post('/tokenize', { prompt: 'Hello world', add_special_tokens: false })).json();
    assert.notEqual(body.tokens[0], BOS);
    assert.equal((await post('/detokenize', { tokens: body.tokens })).json().prompt, 'Hello world');
  });

  test('messages are rendered with the chat template (generation prompt by default)', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi there' },
    ];
    const res = await post('/tokenize', { messages });
    assert.equal(res.statusCode, 200);
    const { tokens, count } = res.json() as { tokens: number[]; count: number };
    assert.deepEqual(tokens, tokenizer.encodeChat(messages, { addGenerationPrompt: true }));
    assert.equal(count, tokens.length);
    assert.equal(tokens.filter((t) => t === BOS).length, 1, 'exactly one bos');
    const text = tokenizer.decode(tokens, { skipSpecialTokens: false });
    assert.match(text, /^<\|begin_of_text\|><\|start_header_id\|>system<\|end_header_id\|>/);
    assert.match(text, /<\|start_header_id\|>user<\|end_header_id\|>\n\nHi there<\|eot_id\|>/);
    assert.ok(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n'), text);

    const noGen = (await post('/tokenize', { messages, add_generation_prompt: false })).json() as { tokens: number[] };
    const noGenText = tokenizer.decode(noGen.tokens, { skipSpecialTokens: false });
    assert.ok(noGenText.endsWith('Hi there<|eot_id|>'), noGenText);
    assert.ok(noGen.tokens.length < tokens.length);
  });

  test('model picks the tokenizer and context; omitted means the chat model', async () => {
    assert.equal((await post('/tokenize', { model: 'reward', prompt: 'x' })).json().max_model_len, 4096);
    assert.equal((await post('/tokenize', { model: 'instruct', prompt: 'x' })).json().max_model_len, 8192);
    assert.equal((await post('/tokenize', { prompt: 'x' })).json().max_model_len, 8192);
    assertError(await post('/tokenize', { model: 'nope', prompt: 'x' }), 404, { code: 'model_not_found', param: 'model' });
    assertError(await post('/detokenize', { model: 'nope', tokens: [1] }), 404, { code: 'model_not_found' });
  });

  test('return_token_strs gives each token string', async () => {
    const body = (await post('/tokenize', { prompt: 'Hello', return_token_strs: true })).json();
    assert.deepEqual(body.token_strs, ['<|begin_of_text|>', 'Hello']);
  });

  const badTokenize: Array<[string, unknown, string | null]> = [
    ['neither prompt nor messages', {}, 'prompt'],
    ['prompt not a string', { prompt: 42 }, 'prompt'],
    ['both prompt and messages', { prompt: 'a', messages: [{ role: 'user', content: 'b' }] }, 'messages'],
    ['messages not an array', { messages: 'hello' }, 'messages'],
    ['empty messages', { messages: [] }, 'messages'],
    ['message without a role', { messages: [{ content: 'hi' }] }, 'messages[0].role'],
    ['content of a wrong type', { messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 7 }] }, 'messages[1].content'],
    ['add_generation_prompt not a boolean', { messages: [{ role: 'user', content: 'a' }], add_generation_prompt: 'yes' }, 'add_generation_prompt'],
    ['model not a string', { model: 3, prompt: 'a' }, 'model'],
    ['a body that is not an object', [1, 2], null],
  ];
  for (const [what, payload, param] of badTokenize) {
    test(`/tokenize 400: ${what}`, async () => {
      assertError(await post('/tokenize', payload), 400, { type: 'invalid_request_error', param });
    });
  }

  const badDetokenize: Array<[string, unknown, string]> = [
    ['tokens missing', {}, 'tokens'],
    ['tokens not an array', { tokens: '1 2 3' }, 'tokens'],
    ['a token that is not a number', { tokens: [1, 'a'] }, 'tokens[1]'],
    ['a negative token id', { tokens: [-1] }, 'tokens[0]'],
    ['a fractional token id', { tokens: [5, 1.5] }, 'tokens[1]'],
    ['an id past the vocabulary', { tokens: [128256] }, 'tokens[0]'],
  ];
  for (const [what, payload, param] of badDetokenize) {
    test(`/detokenize 400: ${what}`, async () => {
      const err = assertError(await post('/detokenize', payload), 400, { type: 'invalid_request_error', param });
      assert.ok(err.message.includes(param), err.message);
    });
  }
});

describe('auth', () => {
  test('keyMatches compares exactly', () => {
    assert.equal(keyMatches(API_KEY, API_KEY), true);
    assert.equal(keyMatches('sk-test-kez', API_KEY), false);
    assert.equal(keyMatches(`${API_KEY}x`, API_KEY), false);
    assert.equal(keyMatches('', API_KEY), false);
  });

  test('no key → 401 invalid_api_key', async () => {
    assertError(await authed.inject({ method: 'GET', url: '/v1/models' }), 401, {
      type: 'invalid_request_error',
      code: 'invalid_api_key',
      message: /Missing API key/,
    });
  });

  test('a wrong key, or not a Bearer one → 401', async () => {
    const wrong = await authed.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer sk-wrong' } });
    assertError(wrong, 401, { code: 'invalid_api_key', message: /Incorrect API key/ });
    const basic = await authed.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Basic ${API_KEY}` } });
    assertError(basic, 401, { code: 'invalid_api_key' });
    const post = await authed.inject({ method: 'POST', url: '/tokenize', payload: { prompt: 'a' } });
    assertError(post, 401, { code: 'invalid_api_key' });
  });

  test('the right key → 200', async () => {
    const res = await authed.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().data.length, 2);
  });

  test('without a configured key nothing is asked', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode, 200);
  });
});

describe('error shape of framework failures', () => {
  test('an unknown route is a 404 in the error shape', async () => {
    const err = assertError(await app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404, {
      type: 'invalid_request_error',
      code: 'not_found',
    });
    assert.match(err.message, /\/v1\/nothing-here/);
  });

  test('invalid JSON is a 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/tokenize',
      headers: { 'content-type': 'application/json' },
      payload: '{"prompt": "unterminated',
    });
    assertError(res, 400, { type: 'invalid_request_error', code: 'invalid_json' });
  });

  test('a body over maxBodyBytes is a 413', async () => {
    const res = await app.inject({ method: 'POST', url: '/tokenize', payload: { prompt: 'x'.repeat(MAX_BODY + 10) } });
    assertError(res, 413, { code: 'request_too_large' });
    // Just under the limit is accepted.
    const ok = await app.inject({ method: 'POST', url: '/tokenize', payload: { prompt: 'x'.repeat(MAX_BODY - 100) } });
    assert.equal(ok.statusCode, 200);
  });

  test('an unexpected error is a 500 that reveals nothing internal', async () => {
    const res = await app.inject({ method: 'GET', url: '/test-only/boom' });
    const err = assertError(res, 500, { type: 'server_error', code: 'internal_error' });
    assert.doesNotMatch(res.body, /secret|thing\.ts/);
    assert.doesNotMatch(err.message, /secret/);
  });
});

describe('findModel', () => {
  const both = () => ({ models: [chat, reward], isReady: () => true });

  test('by name, and by task when the name is omitted and one model fits', () => {
    assert.equal(findModel(both(), 'reward'), reward);
    assert.equal(findModel(both(), undefined, 'generate'), chat);
    assert.equal(findModel(both(), null, 'reward'), reward);
    assert.equal(findModel({ models: [chat], isReady: () => true }, undefined), chat);
  });

  test('an omitted name with several candidates is a 400 on model', () => {
    assert.throws(() => findModel(both(), undefined), (e: any) => e.status === 400 && e.param === 'model' && /instruct/.test(e.message));
  });

  test('a model of the wrong task is a 400 on model saying what it is for', () => {
    assert.throws(
      () => findModel(both(), 'reward', 'generate'),
      (e: any) => e.status === 400 && e.type === 'invalid_request_error' && e.param === 'model' && /reward model/.test(e.message),
    );
    assert.throws(
      () => findModel(both(), 'instruct', 'reward'),
      (e: any) => e.status === 400 && e.param === 'model' && /generation model/.test(e.message),
    );
  });

  test('an unknown name is a 404, or a 503 while models are still loading', () => {
    assert.throws(() => findModel(both(), 'nope', 'generate'), (e: any) => e.status === 404 && e.code === 'model_not_found');
    const loading = { models: [] as ServedModel[], isReady: () => false };
    assert.throws(() => findModel(loading, 'instruct'), (e: any) => e.status === 503 && e.code === 'not_ready');
    assert.throws(() => findModel(loading, undefined, 'generate'), (e: any) => e.status === 503 && e.code === 'not_ready');
  });
});

describe('FakeEngine', () => {
  const request = (over: Record<string, unknown> = {}) => ({
    promptTokenIds: [BOS, 9906],
    n: 1,
    maxTokens: 16,
    sampling: { temperature: 0, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0, logitBias: {}, logprobs: null },
    stop: [],
    stopTokenIds: [],
    ignoreEos: false,
    includeStopStrInOutput: false,
    skipSpecialTokens: true,
    ...over,
  });

  test('yields the scripted deltas then an end event with token counts', async () => {
    const engine = new FakeEngine({}, tokenizer);
    const events = [];
    for await (const e of engine.generate(request())) events.push(e);
    assert.deepEqual(
      events.map((e) => (e.type === 'token' ? e.text : e.type)),
      ['Hello', ' world', 'end'],
    );
    const end = events.at(-1)!;
    assert.ok(end.type === 'end');
    assert.equal(end.finishReason, 'length');
    assert.equal(end.promptTokens, 2);
    assert.equal(end.completionTokens, 2);
    assert.equal(engine.counters.completed, 1);
    assert.equal(engine.stats().running, 0);
  });

  test('refuses with EngineError, aborts on the signal, counts an early return, fails mid-stream', async () => {
    const engine = new FakeEngine({ refuse: 'overloaded' });
    assert.throws(() => engine.generate(request()), (e: any) => e.name === 'EngineError' && e.code === 'overloaded');

    const stalled = new FakeEngine({ stallAfter: 1 });
    const ac = new AbortController();
    const seen = [];
    for await (const e of stalled.generate(request(), ac.signal)) {
      seen.push(e);
      if (e.type === 'token') ac.abort();
    }
    assert.deepEqual(seen.map((e) => (e.type === 'end' ? e.finishReason : e.type)), ['token', 'abort']);
    assert.equal(stalled.counters.aborted, 1);

    const early = new FakeEngine();
    for await (const e of early.generate(request())) if (e.type === 'token') break;
    assert.equal(early.counters.returnedEarly, 1);
    assert.equal(early.counters.active, 0);

    const failing = new FakeEngine({ failAfter: 1 });
    const types = [];
    for await (const e of failing.generate(request({ n: 2 }))) types.push(e.type === 'end' ? `end:${e.finishReason}` : e.type);
    assert.deepEqual(types, ['token', 'token', 'error', 'end:error', 'end:error']);
  });
});
