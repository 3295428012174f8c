/**
 * Chat and text completion routes against a fake engine (app.inject): request mapping, response shapes,
 * SSE framing, errors after the headers, and a table of malformed requests.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type ServedModel } from '../src/server/deps.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

/** Parses an SSE body into its data payloads ('[DONE]' kept as a string). */
function sse(body: string): unknown[] {
  return body
    .split('\n\n')
    .filter((f) => f.startsWith('data: '))
    .map((f) => f.slice(6))
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
}

const user = [{ role: 'user', content: 'Hi' }];

describe('chat and completions routes (fake engine)', () => {
  let app: FastifyInstance;
  let engine: FakeEngine;
  let model: ServedModel;
  before(async () => {
    engine = new FakeEngine({}, await llamaTokenizer());
    model = await fakeModel({ engine, contextLength: 256 });
    const reward = await fakeModel({ id: 'reward', task: 'reward' });
    app = buildApp({ models: [model, reward], limits: { ...DEFAULT_SERVER_LIMITS, maxN: 8, maxTokens: 100 }, isReady: () => true, logger: false, version: 't' });
  });

  const chat = (body: unknown) => app.inject({ method: 'POST', url: '/v1/chat/completions', payload: body as object });

  test('wire fields map onto the engine request, defaults filled, unknown fields ignored', async () => {
    const r = await chat({
      model: 'instruct',
      messages: [{ role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] }, ...user],
      temperature: 0.3, top_p: 0.8, top_k: 5, min_p: 0.1, repetition_penalty: 1.2, presence_penalty: 0.5,
      frequency_penalty: -0.5, logit_bias: { '42': -100 }, seed: 9, stop: 'END', stop_token_ids: [7],
      ignore_eos: true, skip_special_tokens: false, include_stop_str_in_output: true, max_completion_tokens: 12,
      user: 'u1', some_future_openai_field: { nested: true }, metadata: { a: 'b' },
    });
    assert.equal(r.statusCode, 200, r.body);
    const g = engine.lastRequest;
    assert.deepEqual(g.sampling, {
      temperature: 0.3, topP: 0.8, topK: 5, minP: 0.1, repetitionPenalty: 1.2, presencePenalty: 0.5,
      frequencyPenalty: -0.5, logitBias: { 42: -100 }, seed: 9, logprobs: null,
    });
    assert.deepEqual(g.stop, ['END']);
    assert.deepEqual(g.stopTokenIds, [7]);
    assert.equal(g.ignoreEos, true);
    assert.equal(g.skipSpecialTokens, false);
    assert.equal(g.includeStopStrInOutput, true);
    assert.equal(g.maxTokens, 12);
    // The developer message is rendered as the system prompt of the Llama 3.1 template.
    const rendered = model.tokenizer.decode(g.promptTokenIds, { skipSpecialTokens: false });
    assert.match(rendered, /system<\|end_header_id\|>\n\n[\s\S]*Be brief\.<\|eot_id\|>/);
    assert.ok(rendered.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n'));
  });

  test('max_tokens defaults to what is left of the context, capped by the server limit', async () => {
    await chat({ model: 'instruct', messages: user });
    const g = engine.lastRequest;
    assert.equal(g.maxTokens, Math.min(100, 256 - g.promptTokenIds.length));
  });

  test('an error after the SSE headers is one error frame, then [DONE]', async () => {
    engine.script.failAfter = 1;
    try {
      const r = await chat({ model: 'instruct', messages: user, stream: true });
      assert.equal(r.statusCode, 200);
      assert.match(String(r.headers['content-type']), /text\/event-stream/);
      const frames = sse(r.body);
      assert.equal(frames.at(-1), '[DONE]');
      const err = frames.at(-2) as { error: { message: string; type: string } };
      assert.equal(err.error.type, 'server_error');
      assert.ok(!/at .*\.ts:\d+/.test(r.body), 'no stack trace');
      assert.equal(frames.filter((f) => typeof f === 'object' && f && 'error' in f).length, 1);
    } finally {
      engine.script.failAfter = undefined;
    }
  });

  test('an overloaded engine is a 429 with Retry-After before any SSE header', async () => {
    engine.script.refuse = 'overloaded';
    try {
      const r = await chat({ model: 'instruct', messages: user, stream: true });
      assert.equal(r.statusCode, 429);
      assert.equal(r.headers['retry-after'], '1');
      assert.equal(r.json().error.code, 'overloaded');
    } finally {
      engine.script.refuse = undefined;
    }
  });

  test('text completions: several prompts, echo, legacy logprobs, streamed and not', async () => {
    const r = await app.inject({
      method: 'POST', url: '/v1/completions',
      payload: { model: 'instruct', prompt: ['a', 'b'], n: 2, echo: true, max_tokens: 3 },
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.equal(body.object, 'text_completion');
    assert.deepEqual(body.choices.map((c: { index: number }) => c.index), [0, 1, 2, 3]);
    assert.ok(body.choices[0].text.endsWith('Hello world'));
    assert.ok(body.choices[0].text.includes('a'));
    assert.ok(body.choices[2].text.includes('b'));
    assert.equal(engine.lastRequest.maxTokens, 3);
    const s = await app.inject({
      method: 'POST', url: '/v1/completions',
      payload: { model: 'instruct', prompt: [1, 2, 3], stream: true, stream_options: { include_usage: true }, logprobs: 2 },
    });
    const frames = sse(s.body);
    assert.equal(frames.at(-1), '[DONE]');
    const usage = frames.at(-2) as { usage: { prompt_tokens: number; completion_tokens: number }; choices: unknown[] };
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.prompt_tokens, 3);
    assert.deepEqual(engine.lastRequest.promptTokenIds, [1, 2, 3]);
    assert.equal(engine.lastRequest.sampling.logprobs, 2);
  });

  test('tools are rendered into the prompt; tool_choice and response_format become engine constraints', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
    const auto = await chat({ model: 'instruct', messages: user, tools });
    assert.equal(auto.statusCode, 200, auto.body);
    assert.equal(engine.lastRequest.constraint, undefined, 'auto: the model chooses freely');
    assert.match(model.tokenizer.decode(engine.lastRequest.promptTokenIds, { skipSpecialTokens: false }), /"name": "get_weather"/);
    const required = await chat({ model: 'instruct', messages: user, tools, tool_choice: 'required' });
    assert.equal(required.statusCode, 200);
    assert.equal((engine.lastRequest.constraint as { type?: string } | undefined)?.type, 'json_schema');
    const none = await chat({ model: 'instruct', messages: user, tools, tool_choice: 'none' });
    assert.equal(none.statusCode, 200);
    assert.doesNotMatch(model.tokenizer.decode(engine.lastRequest.promptTokenIds, { skipSpecialTokens: false }), /get_weather/);
    const rf = await chat({ model: 'instruct', messages: user, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } } });
    assert.equal(rf.statusCode, 200);
    assert.deepEqual(engine.lastRequest.constraint, { type: 'json_schema', schema: { type: 'object' } });
    const obj = await chat({ model: 'instruct', messages: user, response_format: { type: 'json_object' } });
    assert.equal(obj.statusCode, 200);
    assert.deepEqual(engine.lastRequest.constraint, { type: 'json_object' });
    assert.equal((await chat({ model: 'instruct', messages: user, response_format: { type: 'text' } })).statusCode, 200);
  });

  test('a tool call in the model output becomes tool_calls with finish_reason "tool_calls", streamed and not', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    engine.script.deltas = ['{"name": "get_', 'weather", "parameters": {"city": ', '"Paris"}}'];
    engine.script.finishReason = 'stop';
    try {
      const r = await chat({ model: 'instruct', messages: user, tools });
      const c = r.json().choices[0];
      assert.equal(c.finish_reason, 'tool_calls');
      assert.equal(c.message.content, null);
      assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(c.message.tool_calls[0].function.arguments), { city: 'Paris' });
      assert.match(c.message.tool_calls[0].id, /^call_/);
      const s = await chat({ model: 'instruct', messages: user, tools, stream: true });
      const frames = sse(s.body).slice(0, -1) as Array<{ choices: Array<{ delta: any; finish_reason: string | null }> }>;
      let args = '';
      let name = '';
      for (const f of frames) for (const tc of f.choices[0]?.delta.tool_calls ?? []) {
        name += tc.function.name ?? '';
        args += tc.function.arguments ?? '';
      }
      assert.equal(name, 'get_weather');
      assert.equal(args, c.message.tool_calls[0].function.arguments);
      assert.equal(frames.at(-1)!.choices[0]!.finish_reason, 'tool_calls');
    } finally {
      engine.script.deltas = ['Hello', ' world'];
      engine.script.finishReason = 'length';
    }
  });

  // [description, body, expected status, expected param (null = not checked)]
  const malformed: Array<[string, unknown, number, string | null]> = [
    ['messages missing', { model: 'instruct' }, 400, 'messages'],
    ['messages empty', { model: 'instruct', messages: [] }, 400, 'messages'],
    ['messages not an array', { model: 'instruct', messages: 'hi' }, 400, 'messages'],
    ['message not an object', { model: 'instruct', messages: [42] }, 400, 'messages[0]'],
    ['unknown role', { model: 'instruct', messages: [{ role: 'wizard', content: 'x' }] }, 400, 'messages[0].role'],
    ['content of the wrong type', { model: 'instruct', messages: [{ role: 'user', content: 5 }] }, 400, 'messages[0].content'],
    ['image content part', { model: 'instruct', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, 400, 'messages[0].content[0].type'],
    ['user content missing', { model: 'instruct', messages: [{ role: 'user' }] }, 400, 'messages[0].content'],
    ['temperature a string', { model: 'instruct', messages: user, temperature: 'hot' }, 400, 'temperature'],
    ['temperature out of range', { model: 'instruct', messages: user, temperature: 2.5 }, 400, 'temperature'],
    ['top_p zero', { model: 'instruct', messages: user, top_p: 0 }, 400, 'top_p'],
    ['n zero', { model: 'instruct', messages: user, n: 0 }, 400, 'n'],
    ['huge n', { model: 'instruct', messages: user, n: 1000000 }, 400, 'n'],
    ['n not an integer', { model: 'instruct', messages: user, n: 1.5 }, 400, 'n'],
    ['max_tokens zero', { model: 'instruct', messages: user, max_tokens: 0 }, 400, 'max_tokens'],
    ['max_tokens over the server limit', { model: 'instruct', messages: user, max_tokens: 101 }, 400, 'max_tokens'],
    ['prompt + max_tokens over the context', { model: 'instruct', messages: [{ role: 'user', content: 'word '.repeat(300) }], max_tokens: 5 }, 400, 'messages'],
    ['presence_penalty out of range', { model: 'instruct', messages: user, presence_penalty: 3 }, 400, 'presence_penalty'],
    ['logit_bias bad key', { model: 'instruct', messages: user, logit_bias: { abc: 1 } }, 400, 'logit_bias'],
    ['logit_bias bad value', { model: 'instruct', messages: user, logit_bias: { '5': 500 } }, 400, 'logit_bias.5'],
    ['top_logprobs without logprobs', { model: 'instruct', messages: user, top_logprobs: 2 }, 400, 'top_logprobs'],
    ['top_logprobs over 20', { model: 'instruct', messages: user, logprobs: true, top_logprobs: 21 }, 400, 'top_logprobs'],
    ['stop of the wrong type', { model: 'instruct', messages: user, stop: [1, 2] }, 400, 'stop'],
    ['stream not a boolean', { model: 'instruct', messages: user, stream: 'yes' }, 400, 'stream'],
    ['stream_options without stream', { model: 'instruct', messages: user, stream_options: { include_usage: true } }, 400, 'stream_options'],
    ['seed not an integer', { model: 'instruct', messages: user, seed: 1.5 }, 400, 'seed'],
    ['stop_token_ids out of the vocabulary', { model: 'instruct', messages: user, stop_token_ids: [999999] }, 400, 'stop_token_ids[0]'],
    ['model of the wrong type', { model: 42, messages: user }, 400, 'model'],
    ['unknown model', { model: 'gpt-9', messages: user }, 404, 'model'],
    ['reward model asked to score a conversation that ends with a user turn', { model: 'reward', messages: user }, 400, 'messages'],
    // The template's own refusal (raise_exception): tools but no user message to put them in.
    ['template error (tools without a user message)', {
      model: 'instruct',
      messages: [{ role: 'system', content: 'be brief' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
    }, 400, 'messages'],
    ['tool with a bad name', { model: 'instruct', messages: user, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 400, 'tools[0].function.name'],
    ['tools not an array', { model: 'instruct', messages: user, tools: { a: 1 } }, 400, 'tools'],
    ['tool_choice naming an undeclared function', { model: 'instruct', messages: user, tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: { type: 'function', function: { name: 'g' } } }, 400, 'tool_choice.function.name'],
    ['tool_choice required without tools', { model: 'instruct', messages: user, tool_choice: 'required' }, 400, 'tool_choice'],
    ['unknown response_format type', { model: 'instruct', messages: user, response_format: { type: 'yaml' } }, 400, 'response_format.type'],
    ['body not an object', [1, 2, 3], 400, null],
  ];

  for (const [what, body, status, param] of malformed) {
    test(`malformed: ${what} → ${status}${param ? ` naming ${param}` : ''}`, async () => {
      const r = await chat(body);
      assert.equal(r.statusCode, status, r.body);
      const e = r.json().error;
      assert.equal(typeof e.message, 'string');
      assert.ok(e.message.length > 0);
      assert.ok('type' in e && 'param' in e && 'code' in e, 'OpenAI error shape');
      if (param !== null) assert.equal(e.param, param);
    });
  }

  test('malformed: invalid JSON and a wrong content type are 400s in the error shape', async () => {
    const bad = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: '{"model": "instruct", "messages": [', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.type, 'invalid_request_error');
    const text = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.ok(text.statusCode === 400 || text.statusCode === 415, String(text.statusCode));
    assert.equal(typeof text.json().error.message, 'string');
  });

  test('after every malformed request the server still answers', async () => {
    const r = await chat({ model: 'instruct', messages: user });
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().choices[0].message.content, 'Hello world');
  });
});
