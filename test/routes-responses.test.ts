/**
 * The Responses API and the one SSE path against fake engines (app.inject): request conversion, the
 * stream's event order, the bounded store, errors naming the Responses field, and the error rule after
 * the headers for every streaming endpoint (chat, best_of, reward answers, responses).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { EngineError } from '../src/runtime/types.ts';
import { invalidRequest } from '../src/server/errors.ts';
import { streamSse } from '../src/server/sse.ts';
import type OpenAI from 'openai';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type ServedModel, type ServerLimits } from '../src/server/deps.ts';
import { ResponseAssembler, responseUsage, type ResponseObject } from '../src/server/responses/build.ts';
import { ResponseStore } from '../src/server/responses/store.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

/** The SDK's stream events as they travel: `response.output_text` is added by the client. */
type WireStreamEvent = OpenAI.Responses.ResponseStreamEvent extends infer E
  ? E extends { response: OpenAI.Responses.Response } ? Omit<E, 'response'> & { response: Omit<OpenAI.Responses.Response, 'output_text'> } : E
  : never;

/** SSE frames: `{event, data}` ('[DONE]' kept as a string). */
function frames(body: string): Array<{ event?: string; data: any }> {
  return body
    .split('\n\n')
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const event = /^event: (.*)$/m.exec(f)?.[1];
      const data = /^data: (.*)$/m.exec(f)![1]!;
      return { event, data: data === '[DONE]' ? data : JSON.parse(data) };
    });
}

describe('Responses API routes (fake engine)', () => {
  let engine: FakeEngine;
  let model: ServedModel;
  let reward: ServedModel;
  const appWith = (limits: Partial<ServerLimits> = {}): FastifyInstance =>
    buildApp({ models: [model, reward], limits: { ...DEFAULT_SERVER_LIMITS, maxTokens: 100, ...limits }, isReady: () => true, logger: false, version: 't' });
  let app: FastifyInstance;
  before(async () => {
    engine = new FakeEngine({}, await llamaTokenizer());
    model = await fakeModel({ engine, contextLength: 512 });
    reward = await fakeModel({ id: 'reward', task: 'reward' });
    app = appWith();
  });
  const post = (a: FastifyInstance, payload: object) => a.inject({ method: 'POST', url: '/v1/responses', payload });
  const reset = () => Object.assign(engine.script, { deltas: ['Hello', ' world'], finishReason: 'stop', failAfter: undefined });

  test('input items, instructions and fields map onto the chat request', async () => {
    reset();
    const r = await post(app, {
      model: 'instruct', instructions: 'Be brief.', max_output_tokens: 9, temperature: 0.5, top_p: 0.9,
      input: [
        { role: 'user', content: 'Weather?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '{"temp":3}' },
        { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Answer in words.' }] },
      ],
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      metadata: { k: 'v' }, reasoning: { effort: 'low' }, include: [], truncation: 'disabled', service_tier: 'auto', store: false,
    });
    assert.equal(r.statusCode, 200, r.body);
    const g = engine.lastRequest;
    assert.equal(g.maxTokens, 9);
    assert.equal(g.sampling.temperature, 0.5);
    assert.equal(g.sampling.topP, 0.9);
    const prompt = model.tokenizer.decode(g.promptTokenIds, { skipSpecialTokens: false });
    assert.match(prompt, /Be brief\./);
    assert.match(prompt, /get_weather/);
    assert.match(prompt, /"temp":3|temp/);
    assert.match(prompt, /Answer in words\./);
    const body = r.json() as ResponseObject;
    assert.match(body.id, /^resp_/);
    assert.equal(body.object, 'response');
    assert.equal(body.status, 'completed');
    assert.deepEqual(body.metadata, { k: 'v' });
    assert.equal(body.instructions, 'Be brief.');
    assert.equal(body.max_output_tokens, 9);
    assert.deepEqual(body.tools, [{ type: 'function', name: 'get_weather', description: null, parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: null }]);
    assert.equal(body.tool_choice, 'auto');
    assert.equal(body.output[0]!.type, 'message');
  });

  test('text answer: one message item, usage, status; max_output_tokens → incomplete', async () => {
    reset();
    const r = await post(app, { model: 'instruct', input: 'Hi' });
    const body = r.json() as ResponseObject;
    assert.equal(body.output.length, 1);
    const msg = body.output[0]!;
    assert.ok(msg.type === 'message');
    assert.match(msg.id, /^msg_/);
    assert.deepEqual(msg.content, [{ type: 'output_text', text: 'Hello world', annotations: [], logprobs: [] }]);
    assert.equal(msg.status, 'completed');
    assert.equal(body.usage!.output_tokens, 2);
    assert.equal(body.usage!.total_tokens, body.usage!.input_tokens + 2);
    assert.deepEqual(body.usage!.output_tokens_details, { reasoning_tokens: 0 });
    assert.deepEqual(body.usage!.input_tokens_details, { cached_tokens: 0, cache_write_tokens: 0 });
    assert.equal(body.incomplete_details, null);
    engine.script.finishReason = 'length';
    const cut = (await post(app, { model: 'instruct', input: 'Hi', max_output_tokens: 2 })).json() as ResponseObject;
    assert.equal(cut.status, 'incomplete');
    assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(cut.output[0]!.status, 'incomplete');
  });

  test('stream: the spec event order, sequence numbers, deltas concatenate to the final text, no [DONE]', async () => {
    reset();
    const r = await post(app, { model: 'instruct', input: 'Hi', stream: true });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /text\/event-stream/);
    const fs = frames(r.body);
    assert.ok(fs.every((f) => f.event === f.data.type), 'every frame names its event');
    assert.deepEqual(fs.map((f) => f.data.sequence_number), fs.map((_, i) => i));
    assert.deepEqual(fs.map((f) => f.event), [
      'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
      'response.output_text.delta', 'response.output_text.delta', 'response.output_text.done',
      'response.content_part.done', 'response.output_item.done', 'response.completed',
    ]);
    const deltas = fs.filter((f) => f.event === 'response.output_text.delta').map((f) => f.data.delta).join('');
    const done = fs.at(-1)!.data.response as ResponseObject;
    assert.equal(deltas, 'Hello world');
    assert.equal((done.output[0] as { content: Array<{ text: string }> }).content[0]!.text, deltas);
    assert.equal(fs[0]!.data.response.status, 'in_progress');
  });

  test('function calls: parsed into function_call items, streamed as argument deltas', async () => {
    reset();
    engine.script.deltas = ['{"name": "get_weather", ', '"parameters": {"city": ', '"Oslo"}}'];
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const body = (await post(app, { model: 'instruct', input: 'Weather?', tools, tool_choice: { type: 'function', name: 'get_weather' } })).json() as ResponseObject;
    assert.equal(body.output.length, 1);
    const call = body.output[0]!;
    assert.ok(call.type === 'function_call');
    assert.match(call.id, /^fc_/);
    assert.match(call.call_id, /^call_/);
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Oslo' });
    assert.deepEqual(body.tool_choice, { type: 'function', name: 'get_weather' });
    assert.ok(engine.lastRequest.constraint, 'a named tool_choice forces the call');
    engine.script.deltas = ['[{"name": "get_weather", "parameters": {"city": "Oslo"}}, ', '{"name": "get_weather", "parameters": {"city": "Rome"}}]'];
    const two = (await post(app, { model: 'instruct', input: 'Weather?', tools })).json() as ResponseObject;
    assert.deepEqual(two.output.map((o) => o.type), ['function_call', 'function_call']);
    const one = (await post(app, { model: 'instruct', input: 'Weather?', tools, parallel_tool_calls: false })).json() as ResponseObject;
    assert.deepEqual(one.output.map((o) => o.type), ['function_call'], 'parallel_tool_calls false: at most one call');
    assert.equal(one.parallel_tool_calls, false);
    const oneStreamed = frames((await post(app, { model: 'instruct', input: 'Weather?', tools, parallel_tool_calls: false, stream: true })).body);
    assert.equal(oneStreamed.filter((f) => f.event === 'response.output_item.added').length, 1);
    engine.script.deltas = ['{"name": "get_weather", ', '"parameters": {"city": ', '"Oslo"}}'];
    const fs = frames((await post(app, { model: 'instruct', input: 'Weather?', tools, stream: true })).body);
    const types = fs.map((f) => f.event);
    assert.deepEqual(types.slice(0, 3), ['response.created', 'response.in_progress', 'response.output_item.added']);
    assert.ok(types.includes('response.function_call_arguments.delta'));
    const argDone = fs.find((f) => f.event === 'response.function_call_arguments.done')!.data;
    assert.equal(argDone.name, 'get_weather');
    assert.equal(fs.filter((f) => f.event === 'response.function_call_arguments.delta').map((f) => f.data.delta).join(''), argDone.arguments);
    assert.equal(types.at(-1), 'response.completed');
  });

  test('text.format json_schema becomes the constraint; errors name Responses fields', async () => {
    reset();
    const schema = { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] };
    const ok = await post(app, { model: 'instruct', input: 'x', text: { format: { type: 'json_schema', name: 'thing', schema, strict: true } } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(engine.lastRequest.constraint, { type: 'json_schema', schema });
    const cases: Array<[object, string]> = [
      [{ model: 'instruct' }, 'input'],
      [{ model: 'instruct', input: 5 }, 'input'],
      [{ model: 'instruct', input: [] }, 'input'],
      [{ model: 'instruct', input: [{ role: 'user', content: 'a' }, { role: 'wizard', content: 'b' }] }, 'input[1].role'],
      [{ model: 'instruct', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 'input[0].content[0].type'],
      [{ model: 'instruct', input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id'],
      [{ model: 'instruct', input: [{ type: 'file_search_call', id: 'x' }] }, 'input[0].type'],
      [{ model: 'instruct', input: 'x', max_output_tokens: 0 }, 'max_output_tokens'],
      [{ model: 'instruct', input: 'x', max_output_tokens: 200 }, 'max_output_tokens'],
      [{ model: 'instruct', input: 'x'.repeat(70_000), max_output_tokens: 50 }, 'input'],
      [{ model: 'instruct', input: 'x', temperature: 3 }, 'temperature'],
      [{ model: 'instruct', input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type'],
      [{ model: 'instruct', input: 'x', tools: [{ type: 'function', name: 'bad name' }] }, 'tools[0].name'],
      [{ model: 'instruct', input: 'x', tools: [{ type: 'function', name: 'f' }], tool_choice: { type: 'function', name: 'g' } }, 'tool_choice.name'],
      [{ model: 'instruct', input: 'x', text: { format: { type: 'json_schema', schema } } }, 'text.format.name'],
      [{ model: 'instruct', input: 'x', text: { format: { type: 'xml' } } }, 'text.format.type'],
      [{ model: 'instruct', input: 'x', text: { format: { type: 'json_schema', name: 'n', schema: { type: 'string', pattern: '(' } } } }, 'text.format.schema'],
      [{ model: 'reward', input: 'x' }, 'model'],
      [{ model: 'instruct', input: 'x', metadata: 'm' }, 'metadata'],
      [{ model: 'instruct', input: 'x', conversation: 'conv_1' }, 'conversation'],
      [{ model: 'instruct', prompt: { id: 'pmpt_1' } }, 'prompt'],
    ];
    for (const [payload, param] of cases) {
      const r = await post(app, payload);
      assert.equal(r.statusCode, 400, `${JSON.stringify(payload)}: ${r.body}`);
      const err = r.json().error;
      assert.equal(err.param, param, `${JSON.stringify(payload)}: ${r.body}`);
      assert.equal(err.type, 'invalid_request_error');
      assert.ok(!/messages|response_format|max_completion_tokens/.test(err.message), `chat field names leak: ${err.message}`);
    }
  });

  test('store: previous_response_id continues the conversation; GET and DELETE', async () => {
    reset();
    const first = (await post(app, { model: 'instruct', input: 'My name is Ada.', instructions: 'first only' })).json() as ResponseObject;
    assert.equal(first.store, true);
    const firstPrompt = engine.lastRequest.promptTokenIds;
    const second = await post(app, { model: 'instruct', input: 'What is my name?', previous_response_id: first.id });
    assert.equal(second.statusCode, 200, second.body);
    const prompt = model.tokenizer.decode(engine.lastRequest.promptTokenIds, { skipSpecialTokens: false });
    assert.match(prompt, /My name is Ada\.[\s\S]*Hello world[\s\S]*What is my name\?/);
    assert.ok(!prompt.includes('first only'), 'instructions are not carried over');
    assert.ok(engine.lastRequest.promptTokenIds.length > firstPrompt.length);
    assert.equal((second.json() as ResponseObject).previous_response_id, first.id);
    // item_reference names a stored output item.
    const ref = await post(app, { model: 'instruct', store: false, input: [{ role: 'user', content: 'Earlier:' }, { type: 'item_reference', id: first.output[0]!.id }, { role: 'user', content: 'Next.' }] });
    assert.equal(ref.statusCode, 200, ref.body);
    assert.match(model.tokenizer.decode(engine.lastRequest.promptTokenIds, { skipSpecialTokens: false }), /Earlier:[\s\S]*assistant[\s\S]*Hello world[\s\S]*Next\./);
    const badRef = await post(app, { model: 'instruct', input: [{ type: 'item_reference', id: 'msg_nope' }] });
    assert.equal(badRef.statusCode, 404);
    assert.equal(badRef.json().error.param, 'input[0].id');
    const got = await app.inject({ method: 'GET', url: `/v1/responses/${first.id}` });
    assert.equal(got.statusCode, 200);
    assert.deepEqual(got.json(), first);
    // input_items: this request's own input, newest first by default, paged.
    const multi = (await post(app, { model: 'instruct', input: [
      { role: 'user', content: 'a' },
      { type: 'function_call', call_id: 'call_9', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'call_9', output: 'ok' },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'b' }] },
    ] })).json() as ResponseObject;
    const items = (await app.inject({ method: 'GET', url: `/v1/responses/${multi.id}/input_items?order=asc` })).json();
    assert.deepEqual(items.data.map((i: { type: string }) => i.type), ['message', 'function_call', 'function_call_output', 'message']);
    assert.deepEqual(items.data[0].content, [{ type: 'input_text', text: 'a' }]);
    assert.deepEqual(items.data[3].content, [{ type: 'output_text', text: 'b', annotations: [] }]);
    assert.equal(items.data[2].output, 'ok');
    assert.ok(items.data.every((i: { id: string }) => typeof i.id === 'string' && i.id.length > 4));
    assert.equal(items.has_more, false);
    const page = (await app.inject({ method: 'GET', url: `/v1/responses/${multi.id}/input_items?limit=2` })).json();
    assert.deepEqual(page.data.map((i: { id: string }) => i.id), [items.data[3].id, items.data[2].id]);
    assert.equal(page.has_more, true);
    const next = (await app.inject({ method: 'GET', url: `/v1/responses/${multi.id}/input_items?limit=2&after=${page.last_id}` })).json();
    assert.deepEqual(next.data.map((i: { id: string }) => i.id), [items.data[1].id, items.data[0].id]);
    assert.equal((await app.inject({ method: 'GET', url: `/v1/responses/${multi.id}/input_items?limit=0` })).json().error.param, 'limit');
    const del = await app.inject({ method: 'DELETE', url: `/v1/responses/${first.id}` });
    assert.deepEqual(del.json(), { id: first.id, object: 'response', deleted: true });
    const gone = await app.inject({ method: 'GET', url: `/v1/responses/${first.id}` });
    assert.equal(gone.statusCode, 404);
    const missing = await post(app, { model: 'instruct', input: 'x', previous_response_id: first.id });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.param, 'previous_response_id');
    assert.equal(missing.json().error.code, 'previous_response_not_found');
    const unstored = (await post(app, { model: 'instruct', input: 'x', store: false })).json() as ResponseObject;
    assert.equal((await app.inject({ method: 'GET', url: `/v1/responses/${unstored.id}` })).statusCode, 404);
  });

  test('store disabled: store absent works, store true and previous_response_id are 400s', async () => {
    reset();
    const off = appWith({ responsesStoreSize: 0 });
    const r = await post(off, { model: 'instruct', input: 'x' });
    assert.equal(r.statusCode, 200);
    assert.equal((r.json() as ResponseObject).store, false);
    for (const [payload, param] of [[{ store: true }, 'store'], [{ previous_response_id: 'resp_x' }, 'previous_response_id']] as const) {
      const e = await post(off, { model: 'instruct', input: 'x', ...payload });
      assert.equal(e.statusCode, 400);
      assert.equal(e.json().error.param, param);
      assert.match(e.json().error.message, /--responses-store-size 0/);
    }
  });

  test('a store of size 2: the third stored response evicts the first, whose id then 404s', async () => {
    reset();
    const small = appWith({ responsesStoreSize: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(((await post(small, { model: 'instruct', input: `turn ${i}` })).json() as ResponseObject).id);
    const first = await post(small, { model: 'instruct', input: 'x', previous_response_id: ids[0] });
    assert.equal(first.statusCode, 404);
    assert.equal(first.json().error.param, 'previous_response_id');
    assert.equal((await small.inject({ method: 'GET', url: `/v1/responses/${ids[0]}` })).statusCode, 404);
    for (const id of ids.slice(1)) assert.equal((await small.inject({ method: 'GET', url: `/v1/responses/${id}` })).statusCode, 200);
  });

  test('the store is bounded (LRU) and expires entries', () => {
    let now = 0;
    const store = new ResponseStore(2, 1000, () => now);
    const put = (id: string) => store.put({ response: { id } as ResponseObject, conversation: [], inputItems: [] });
    put('a');
    put('b');
    assert.ok(store.get('a'));
    put('c'); // evicts b, the least recently used
    assert.equal(store.get('b'), undefined);
    assert.ok(store.get('a') && store.get('c'));
    assert.equal(store.size, 2);
    now = 1000;
    assert.equal(store.get('a'), undefined, 'expired');
    put('d');
    assert.equal(store.size, 1, 'expired entries are swept on put');
    const off = new ResponseStore(0, 1000);
    off.put({ response: { id: 'x' } as ResponseObject, conversation: [], inputItems: [] });
    assert.equal(off.size, 0);
  });

  test('an engine error after the headers: error event then response.failed (responses), error frame then [DONE] (chat)', async () => {
    reset();
    engine.script.failAfter = 1;
    const fs = frames((await post(app, { model: 'instruct', input: 'Hi', stream: true })).body);
    const types = fs.map((f) => f.event);
    assert.deepEqual(types.slice(-2), ['error', 'response.failed']);
    assert.equal(fs.at(-1)!.data.response.status, 'failed');
    assert.equal(fs.at(-1)!.data.response.error.code, 'server_error');
    assert.ok(!fs.some((f) => f.data === '[DONE]'));
    const chat = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'instruct', messages: [{ role: 'user', content: 'Hi' }], stream: true } });
    const cf = frames(chat.body).map((f) => f.data);
    assert.ok(cf.at(-2).error, 'one error frame');
    assert.equal(cf.at(-1), '[DONE]');
    assert.equal(cf.filter((d) => d?.error).length, 1);
    reset();
  });

  test('streamSse: a producer that fails after the headers gets one error frame, then the end', async () => {
    const a = Fastify({ logger: false });
    a.get('/plain', (req, reply) => streamSse(req, reply, async (sink) => {
      await sink.send({ n: 1 });
      throw new EngineError('boom (fake)', 'worker_crashed');
    }));
    a.get('/named', (req, reply) => streamSse(req, reply, async (sink) => {
      await sink.send({ type: 'x' }, 'x');
      throw invalidRequest('bad', 'field');
    }, { done: false, errorFrames: (err) => [{ data: { type: 'error', message: err.message }, event: 'error' }] }));
    const plain = frames((await a.inject({ method: 'GET', url: '/plain' })).body).map((f) => f.data);
    assert.deepEqual(plain, [{ n: 1 }, { error: { message: 'boom (fake)', type: 'server_error', param: null, code: 'worker_crashed' } }, '[DONE]']);
    const named = frames((await a.inject({ method: 'GET', url: '/named' })).body);
    assert.deepEqual(named, [{ event: 'x', data: { type: 'x' } }, { event: 'error', data: { type: 'error', message: 'bad' } }]);
    await a.close();
  });

  test('best_of and reward answers stream through the same path and end with [DONE]', async () => {
    reset();
    const best = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'instruct', messages: [{ role: 'user', content: 'Hi' }], n: 1, best_of: 2, stream: true } });
    const bf = frames(best.body).map((f) => f.data);
    assert.equal(bf.at(-1), '[DONE]');
    assert.equal(bf[0].choices[0].delta.role, 'assistant');
    const rw = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'reward', messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yo' }], stream: true } });
    const rf = frames(rw.body).map((f) => f.data);
    assert.equal(rf.at(-1), '[DONE]');
    assert.match(rf[1].choices[0].delta.content, /^reward:/);
  });

  test('builders satisfy the openai package types', () => {
    const a = new ResponseAssembler('resp_1', 1, {
      model: 'm', instructions: null, max_output_tokens: null, metadata: null, parallel_tool_calls: true, previous_response_id: null,
      temperature: 1, top_p: 1, text: { format: { type: 'text' } }, tool_choice: 'auto', tools: [], store: false,
    }, ['f']);
    const events = [...a.start(), ...a.push('{"name": "f", "parameters": {}}'), ...a.finish('stop', responseUsage(3, 4, 1))];
    // Compile-time: every event is one of the SDK's stream events (the contract test replays them through its accumulator).
    const typed: WireStreamEvent[] = events;
    assert.equal(typed.at(-1)!.type, 'response.completed');
    // Compile-time: the response object is an SDK Response but for the client-side output_text.
    const response: Omit<OpenAI.Responses.Response, 'output_text'> = a.snapshot();
    assert.equal(response.output[0]!.type, 'function_call');
  });
});
