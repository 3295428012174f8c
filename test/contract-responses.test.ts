/**
 * Contract tests of the Responses API: a real server with real models, driven by the official `openai`
 * client's `responses.create` / `responses.stream`, on the default model and the ONNX Runtime GenAI
 * fixture. Random-weight models: the text is noise, so the tests check shapes, counts, the event order,
 * and that constrained outputs (forced tool calls, json_schema) parse and validate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';
import { LLAMA31_TOOLS_TEMPLATE_FILE } from '../src/modelgen/llama31-chat-template.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

const ajv = new Ajv({ strict: false });

// The fixture's own Llama 2 template renders only alternating user/assistant turns (a tool round trip
// is a clean 400 with it); it is served here with the shipped Llama 3.1 tools template, as
// --chat-template would serve it.
const MODELS = [
  { name: 'default instruct model', dir: INSTRUCT, id: 'instruct', chatTemplate: undefined },
  { name: 'ONNX Runtime GenAI fixture (--chat-template templates/llama3.1-json-tools.jinja)', dir: FIXTURE, id: 'ortgenai-tiny-llama-fp16', chatTemplate: LLAMA31_TOOLS_TEMPLATE_FILE },
];

const weatherParams = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 16 }, unit: { enum: ['c', 'f'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const tools: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather for a city', parameters: weatherParams, strict: true },
];
const pointSchema = {
  type: 'object',
  properties: { x: { type: 'integer', minimum: -100, maximum: 100 }, label: { type: 'string', maxLength: 12 } },
  required: ['x', 'label'],
  additionalProperties: false,
};

for (const m of MODELS) {
  describe(`Responses API with the OpenAI client against ${m.name}`, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ chat: m.dir, limits: { responsesStoreSize: 8, maxTokens: 500 }, ...(m.chatTemplate ? { chatTemplate: m.chatTemplate } : {}) });
      client = server.client();
    });
    after(async () => server.close());

    /** Prompt tokens of a chat conversation, as /tokenize counts them. */
    const promptTokens = async (messages: Array<{ role: string; content: string }>) =>
      (await server.tokenize({ model: m.id, messages, add_generation_prompt: true })).length;

    test('text: shape, exact usage, incomplete at max_output_tokens', async () => {
      const r = await client.responses.create({
        model: m.id, instructions: 'You are terse.', input: 'Name three colors.', max_output_tokens: 6, temperature: 0,
        ignore_eos: true, metadata: { run: 'contract' },
      } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      assert.match(r.id, /^resp_/);
      assert.equal(r.object, 'response');
      assert.equal(r.model, m.id);
      assert.equal(r.status, 'incomplete');
      assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
      assert.equal(r.error, null);
      assert.deepEqual(r.metadata, { run: 'contract' });
      assert.equal(r.output.length, 1);
      const msg = r.output[0]!;
      assert.ok(msg.type === 'message' && msg.content[0]!.type === 'output_text');
      assert.equal(typeof r.output_text, 'string');
      assert.equal(r.output_text, (msg.content[0] as OpenAI.Responses.ResponseOutputText).text);
      assert.equal(r.usage!.output_tokens, 6);
      assert.equal(r.usage!.input_tokens, await promptTokens([{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Name three colors.' }]));
      assert.equal(r.usage!.total_tokens, r.usage!.input_tokens + 6);
      assert.equal(r.usage!.output_tokens_details.reasoning_tokens, 0);
      assert.equal(typeof r.usage!.input_tokens_details.cached_tokens, 'number');
    });

    test('stream: the spec event order; deltas concatenate to the final text; the SDK accumulates it', async () => {
      const params = { model: m.id, input: 'Say something.', max_output_tokens: 8, temperature: 0, ignore_eos: true };
      const whole = await client.responses.create(params as OpenAI.Responses.ResponseCreateParamsNonStreaming);
      const stream = await client.responses.create({ ...params, stream: true } as OpenAI.Responses.ResponseCreateParamsStreaming);
      const events: OpenAI.Responses.ResponseStreamEvent[] = [];
      for await (const e of stream) events.push(e);
      const types = events.map((e) => e.type);
      assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.incomplete']);
      assert.ok(types.slice(4, -4).every((t) => t === 'response.output_text.delta'));
      assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
      const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
      assert.equal(deltas, whole.output_text, 'same greedy text streamed and not');
      const last = events.at(-1) as OpenAI.Responses.ResponseIncompleteEvent;
      assert.equal(last.response.usage!.output_tokens, 8);
      // The SDK's own accumulator replays every event (it throws on a malformed sequence).
      const final = await client.responses.stream(params as never).finalResponse();
      assert.equal(final.output_text, whole.output_text);
    });

    test('function tool round trip: a forced call parses and validates; function_call_output is answered', async () => {
      const validate = ajv.compile(weatherParams);
      const first = await client.responses.create({
        model: m.id, input: 'Weather in Oslo?', tools, tool_choice: { type: 'function', name: 'get_weather' }, max_output_tokens: 80,
      });
      assert.equal(first.status, 'completed');
      const call = first.output.find((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
      assert.ok(call, JSON.stringify(first.output));
      assert.equal(call.name, 'get_weather');
      assert.match(call.call_id, /^call_/);
      const args = JSON.parse(call.arguments);
      assert.ok(validate(args), `${call.arguments}: ${ajv.errorsText(validate.errors)}`);
      const answer = await client.responses.create({
        model: m.id, tools, max_output_tokens: 8, store: false,
        input: [
          { role: 'user', content: 'Weather in Oslo?' },
          { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: 'function_call_output', call_id: call.call_id, output: '{"temp": 3, "unit": "c"}' },
        ],
      });
      assert.ok(answer.status === 'completed' || answer.status === 'incomplete');
      assert.ok(answer.output.length >= 1);
      assert.ok(answer.usage!.input_tokens > first.usage!.input_tokens, 'the call and its output are in the prompt');
    });

    test('text.format json_schema: the output parses and validates, streamed and not', async () => {
      const validate = ajv.compile(pointSchema);
      const format = { type: 'json_schema' as const, name: 'point', schema: pointSchema, strict: true };
      for (let seed = 0; seed < 2; seed++) {
        const params = { model: m.id, input: 'A point as JSON.', text: { format }, max_output_tokens: 120, seed };
        const r = await client.responses.create(params as OpenAI.Responses.ResponseCreateParamsNonStreaming);
        const value = JSON.parse(r.output_text);
        assert.ok(validate(value), `${r.output_text}: ${ajv.errorsText(validate.errors)}`);
        assert.deepEqual(r.text?.format, format);
        const streamed = await client.responses.stream(params as never).finalResponse();
        assert.equal(streamed.output_text, r.output_text, 'same seed: same JSON streamed');
      }
    });

    test('store + previous_response_id: the second request continues the first', async () => {
      const first = await client.responses.create({ model: m.id, input: 'My name is Ada.', max_output_tokens: 5, temperature: 0 });
      const second = await client.responses.create({ model: m.id, input: 'What is my name?', previous_response_id: first.id, max_output_tokens: 5 });
      assert.equal(second.previous_response_id, first.id);
      const expected = await promptTokens([
        { role: 'user', content: 'My name is Ada.' },
        { role: 'assistant', content: first.output_text },
        { role: 'user', content: 'What is my name?' },
      ]);
      assert.equal(second.usage!.input_tokens, expected);
      assert.ok(second.usage!.input_tokens > first.usage!.input_tokens + 4);
      const got = await client.responses.retrieve(first.id);
      assert.equal(got.id, first.id);
      assert.equal(got.output_text, first.output_text);
      const items: OpenAI.Responses.ResponseItem[] = [];
      for await (const item of client.responses.inputItems.list(second.id)) items.push(item);
      assert.equal(items.length, 1);
      assert.ok(items[0]!.type === 'message' && items[0]!.role === 'user');
      await client.responses.delete(first.id);
      await assert.rejects(client.responses.retrieve(first.id), (e: unknown) => e instanceof OpenAI.NotFoundError);
      await assert.rejects(
        client.responses.create({ model: m.id, input: 'x', previous_response_id: first.id }),
        (e: unknown) => e instanceof OpenAI.NotFoundError && e.param === 'previous_response_id',
      );
    });

    test('errors are OpenAI-shaped and name the Responses field', async () => {
      await assert.rejects(
        client.responses.create({ model: m.id, input: 'x', max_output_tokens: 600 }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'max_output_tokens' && e.type === 'invalid_request_error',
      );
      await assert.rejects(
        client.responses.create({ model: m.id, input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x', detail: 'auto' }] }] }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'input[0].content[0].type',
      );
    });
  });
}
