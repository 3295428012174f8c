/**
 * Tool calling and structured outputs end to end: a real server with the random-weight default model,
 * driven by the openai client. The constraint alone must make the output valid.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { INSTRUCT } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const ajv = new Ajv({ strict: false });

const personSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 20 },
    age: { type: 'integer', minimum: 0, maximum: 130 },
    height_m: { type: 'number' },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
    address: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 16 }, zip: { type: 'integer' } },
      required: ['city', 'zip'],
      additionalProperties: false,
    },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'role', 'address', 'tags', 'height_m', 'active'],
  additionalProperties: false,
};

const tools: OpenAI.Chat.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 24 }, unit: { enum: ['c', 'f'] } }, required: ['city', 'unit'] },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add',
      parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false },
    },
  },
];
const paramsOf = (name: string) => (tools.find((t) => t.type === 'function' && t.function.name === name) as OpenAI.Chat.ChatCompletionFunctionTool).function.parameters!;
const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Describe a person as JSON.' }];

describe('structured outputs and tool calls (default model, openai client)', () => {
  let server: TestServer;
  let client: OpenAI;
  before(async () => {
    server = await startTestServer({ chat: INSTRUCT });
    client = server.client();
  });
  after(async () => server.close());

  test('json_schema: every output parses and validates, for many seeds, streamed and not', async () => {
    const validate = ajv.compile(personSchema);
    for (let seed = 0; seed < 6; seed++) {
      const params = {
        model: 'instruct', messages, seed, temperature: 1, max_tokens: 300,
        response_format: { type: 'json_schema' as const, json_schema: { name: 'person', schema: personSchema } },
      };
      const r = await client.chat.completions.create(params);
      const text = r.choices[0]!.message.content!;
      const value = JSON.parse(text);
      assert.ok(validate(value), `seed ${seed}: ${text} — ${ajv.errorsText(validate.errors)}`);
      assert.equal(r.choices[0]!.finish_reason, 'stop');
      const stream = await client.chat.completions.create({ ...params, stream: true });
      let streamed = '';
      for await (const ch of stream) streamed += ch.choices[0]?.delta.content ?? '';
      assert.equal(streamed, text, 'same seed: the stream assembles to the same JSON');
    }
  });

  test('json_object gives a JSON object', async () => {
    for (let seed = 0; seed < 4; seed++) {
      const r = await client.chat.completions.create({ model: 'instruct', messages, seed, max_tokens: 200, response_format: { type: 'json_object' } });
      const v = JSON.parse(r.choices[0]!.message.content!);
      assert.equal(typeof v, 'object');
      assert.ok(v !== null && !Array.isArray(v));
    }
  });

  test('tool_choice "required" and a named function: a parseable call to a declared function with valid arguments', async () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 8; seed++) {
      const r = await client.chat.completions.create({ model: 'instruct', messages, tools, tool_choice: 'required', seed, temperature: 1, max_tokens: 200 });
      const call = r.choices[0]!.message.tool_calls![0]!;
      assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
      assert.equal(call.type, 'function');
      assert.ok(call.type === 'function');
      seen.add(call.function.name);
      const validate = ajv.compile(paramsOf(call.function.name));
      assert.ok(validate(JSON.parse(call.function.arguments)), `${call.function.arguments}: ${ajv.errorsText(validate.errors)}`);
    }
    assert.ok([...seen].every((n) => n === 'get_weather' || n === 'add'));
    const named = await client.chat.completions.create({
      model: 'instruct', messages, tools, tool_choice: { type: 'function', function: { name: 'add' } }, seed: 1, max_tokens: 200,
    });
    const call = named.choices[0]!.message.tool_calls![0]!;
    assert.ok(call.type === 'function' && call.function.name === 'add');
    assert.ok(ajv.compile(paramsOf('add'))(JSON.parse(call.function.arguments)));
  });

  test('tool-call streaming assembles to the same result as non-streaming', async () => {
    const params = { model: 'instruct', messages, tools, tool_choice: 'required' as const, seed: 7, temperature: 1, max_tokens: 200 };
    const whole = (await client.chat.completions.create(params)).choices[0]!;
    const stream = await client.chat.completions.create({ ...params, stream: true });
    const calls: Array<{ id?: string; name: string; args: string }> = [];
    let finish: string | null = null;
    for await (const ch of stream) {
      const c = ch.choices[0];
      if (!c) continue;
      finish = c.finish_reason ?? finish;
      for (const tc of c.delta.tool_calls ?? []) {
        calls[tc.index] ??= { name: '', args: '' };
        if (tc.id) calls[tc.index]!.id = tc.id;
        calls[tc.index]!.name += tc.function?.name ?? '';
        calls[tc.index]!.args += tc.function?.arguments ?? '';
      }
    }
    const expected = whole.message.tool_calls!.map((c) => (c.type === 'function' ? { name: c.function.name, args: c.function.arguments } : null));
    assert.deepEqual(calls.map((c) => ({ name: c.name, args: c.args })), expected);
    assert.match(calls[0]!.id!, /^call_/);
    assert.equal(finish, 'tool_calls');
  });

  test('tool results are rendered back: an assistant tool call and a tool message continue the conversation', async () => {
    const r = await client.chat.completions.create({
      model: 'instruct',
      tools,
      max_tokens: 5,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
      ],
    });
    assert.ok(r.usage!.prompt_tokens > 0);
    const tok = await fetch(`${server.url}/tokenize`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'instruct', tools, messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'add', arguments: '{"a": 1, "b": 2}' } }] }, { role: 'tool', tool_call_id: 'c', content: '3' }] }),
    });
    assert.equal(tok.status, 200);
  });

  test('an unenforceable schema is a 400 naming its place', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'instruct', messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^(a)\\1$' } } } }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && (e.error as { param?: string }).param === 'response_format.json_schema.schema',
    );
  });
});
