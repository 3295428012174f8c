/**
 * Fields that were accepted when they should be refused, and the per-request caps: each is a 400 in the
 * OpenAI error shape naming its field (fake engine, app.inject).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS } from '../src/server/deps.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

const user = { role: 'user', content: 'Hi' };
const call = (over: Record<string, unknown> = {}) => ({ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' }, ...over });
const tool = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } });

describe('strict validation and caps (fake engine)', () => {
  let app: FastifyInstance;
  before(async () => {
    const engine = new FakeEngine({}, await llamaTokenizer());
    const model = await fakeModel({ engine, contextLength: 4096 });
    const reward = await fakeModel({ id: 'reward', task: 'reward' });
    app = buildApp({
      models: [model, reward],
      limits: { ...DEFAULT_SERVER_LIMITS, maxMessages: 8, maxTools: 4, maxScoreItems: 5 },
      isReady: () => true,
      logger: false,
      version: 't',
    });
  });

  const post = (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
  const chat = (body: object) => post('/v1/chat/completions', { model: 'instruct', max_tokens: 2, ...body });

  const refused: Array<[string, string, object]> = [
    ['a number as a message name', 'messages[0].name', { messages: [{ ...user, name: 42 }] }],
    ['a tool message without tool_call_id', 'messages[2].tool_call_id', { messages: [user, { role: 'assistant', content: null, tool_calls: [call()] }, { role: 'tool', content: '1' }] }],
    ['a number as tool_call_id', 'messages[2].tool_call_id', { messages: [user, { role: 'assistant', content: null, tool_calls: [call()] }, { role: 'tool', content: '1', tool_call_id: 7 }] }],
    ['a number as a tool call id', 'messages[1].tool_calls[0].id', { messages: [user, { role: 'assistant', content: null, tool_calls: [call({ id: 5 })] }] }],
    ['a tool call of another type', 'messages[1].tool_calls[0].type', { messages: [user, { role: 'assistant', content: null, tool_calls: [call({ type: 'code' })] }] }],
    ['a tool call that is not an object', 'messages[1].tool_calls[0]', { messages: [user, { role: 'assistant', content: null, tool_calls: ['x'] }] }],
    ['arguments as an object, not a JSON string', 'messages[1].tool_calls[0].function.arguments', { messages: [user, { role: 'assistant', content: null, tool_calls: [call({ function: { name: 'f', arguments: { a: 1 } } })] }] }],
    ['chat_template_kwargs as a string', 'chat_template_kwargs', { messages: [user], chat_template_kwargs: 'x' }],
    ['an empty content array', 'messages[0].content', { messages: [{ role: 'user', content: [] }] }],
    ['more messages than --max-messages', 'messages', { messages: Array.from({ length: 9 }, () => user) }],
    ['more tools than --max-tools', 'tools', { messages: [user], tools: ['a', 'b', 'c', 'd', 'e'].map(tool) }],
    ['301 logit_bias entries (OpenAI allows 300)', 'logit_bias', { messages: [user], logit_bias: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [String(i + 100), 1])) }],
    ['17 stop strings', 'stop', { messages: [user], stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }],
    ['17 stop token ids', 'stop_token_ids', { messages: [user], stop_token_ids: Array.from({ length: 17 }, (_, i) => i + 100) }],
  ];
  for (const [what, param, body] of refused) {
    test(`chat: ${what} is a 400 naming '${param}'`, async () => {
      const r = await chat(body);
      assert.equal(r.statusCode, 400, r.body);
      const e = r.json().error;
      assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, param);
    });
  }

  test('the well-formed forms of the same fields are accepted', async () => {
    const r = await chat({
      messages: [
        { ...user, name: 'ann' },
        { role: 'assistant', content: null, tool_calls: [call()] },
        { role: 'tool', content: '1', tool_call_id: 'call_1' },
      ],
      chat_template_kwargs: {},
      logit_bias: Object.fromEntries(Array.from({ length: 300 }, (_, i) => [String(i + 100), 1])),
      stop: Array.from({ length: 16 }, (_, i) => `s${i}`),
    });
    assert.equal(r.statusCode, 200, r.body);
  });

  test('/tokenize checks tools as chat does (the template never sees a malformed one)', async () => {
    const bad = await post('/tokenize', { model: 'instruct', messages: [user], tools: [{ type: 'function', function: { name: 3 } }] });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.match(bad.json().error.param, /^tools\[0\]/);
    const many = await post('/tokenize', { model: 'instruct', messages: [user], tools: ['a', 'b', 'c', 'd', 'e'].map(tool) });
    assert.equal(many.json().error.param, 'tools');
    const good = await post('/tokenize', { model: 'instruct', messages: [user], tools: [tool('a')] });
    assert.equal(good.statusCode, 200, good.body);
  });

  test('/v1/score and /v1/rerank cap responses and documents at --max-score-items', async () => {
    const six = Array.from({ length: 6 }, (_, i) => `reply ${i}`);
    const score = await post('/v1/score', { model: 'reward', messages: [user], responses: six });
    assert.equal(score.statusCode, 400, score.body);
    assert.equal(score.json().error.param, 'responses');
    const pairs = await post('/v1/score', { model: 'reward', text_1: 'q', text_2: six });
    assert.equal(pairs.json().error.param, 'text_2');
    const rerank = await post('/v1/rerank', { model: 'reward', query: 'q', documents: six });
    assert.equal(rerank.statusCode, 400, rerank.body);
    assert.equal(rerank.json().error.param, 'documents');
    const ok = await post('/v1/rerank', { model: 'reward', query: 'q', documents: six.slice(0, 5) });
    assert.equal(ok.statusCode, 200, ok.body);
  });
});
