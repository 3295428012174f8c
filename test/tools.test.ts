/**
 * Tool calling helpers of the HTTP edge: tool / tool_choice / response_format validation, forced calls
 * under random logits (real Llama 3.1 vocabulary), and the tool-call parser, streamed and not.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../src/server/errors.ts';
import {
  type FunctionTool,
  parseToolCalls,
  responseFormatConstraint,
  ToolCallStreamParser,
  type ToolStreamEvent,
  toolCallConstraint,
  toolCallDelta,
  validateToolChoice,
  validateTools,
} from '../src/server/tools/index.ts';
import { createConstraint, getTokenVocabulary, type TokenVocabulary } from '../src/runtime/grammar/index.ts';
import { IncrementalDetokenizer, type TextTokenizer } from '../src/tokenizer/index.ts';
import { createPrng } from '../src/runtime/prng.ts';
import { EOS_IDS, llamaTokenizer, runConstrained, schemaErrors } from './helpers/constrained.ts';

const TOOLS: FunctionTool[] = validateTools([
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 20 }, unit: { enum: ['c', 'f'] } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add-numbers',
      parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'number', minimum: 0 } }, required: ['a', 'b'] },
    },
  },
  { type: 'function', function: { name: 'ping' } },
  {
    type: 'function',
    function: {
      name: 'plot',
      parameters: {
        type: 'object',
        $defs: { pt: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } },
        properties: { points: { type: 'array', items: { $ref: '#/$defs/pt' }, minItems: 1, maxItems: 3 } },
        required: ['points'],
      },
    },
  },
]);

function parametersOf(name: string): object {
  const tool = TOOLS.find((t) => t.function.name === name);
  assert.ok(tool, `declared function ${name}`);
  return tool.function.parameters ?? { type: 'object', properties: {}, additionalProperties: false };
}

/** Asserts that fn throws a 400 ApiError naming `param`. */
function rejects400(fn: () => unknown, param: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, param, err.message);
    return true;
  });
}

describe('tools: validation names the bad field', () => {
  const fn = (over: object): unknown => ({ type: 'function', function: { name: 'f', ...over } });
  test('bad definitions', () => {
    rejects400(() => validateTools({}), 'tools');
    rejects400(() => validateTools([{ type: 'retrieval' }]), 'tools[0].type');
    rejects400(() => validateTools([fn({}), { type: 'function' }]), 'tools[1].function');
    rejects400(() => validateTools([fn({ name: 'has space' })]), 'tools[0].function.name');
    rejects400(() => validateTools([fn({ name: 'x'.repeat(65) })]), 'tools[0].function.name');
    rejects400(() => validateTools([fn({ name: 42 })]), 'tools[0].function.name');
    rejects400(() => validateTools([fn({}), fn({})]), 'tools[1].function.name');
    rejects400(() => validateTools([fn({ parameters: [] })]), 'tools[0].function.parameters');
    rejects400(() => validateTools([fn({ parameters: { type: 'string' } })]), 'tools[0].function.parameters.type');
    rejects400(() => validateTools([fn({ description: 3 })]), 'tools[0].function.description');
  });

  test('good definitions and tool_choice', () => {
    assert.deepEqual(validateTools(undefined), []);
    assert.equal(TOOLS.length, 4);
    assert.deepEqual(validateToolChoice(undefined, TOOLS), { type: 'auto' });
    assert.deepEqual(validateToolChoice(undefined, []), { type: 'none' });
    assert.deepEqual(validateToolChoice('required', TOOLS), { type: 'required' });
    assert.deepEqual(validateToolChoice({ type: 'function', function: { name: 'ping' } }, TOOLS), { type: 'function', name: 'ping' });
    rejects400(() => validateToolChoice('required', []), 'tool_choice');
    rejects400(() => validateToolChoice({ type: 'function', function: { name: 'nope' } }, TOOLS), 'tool_choice.function.name');
    rejects400(() => validateToolChoice('sometimes', TOOLS), 'tool_choice');
  });

  test('a parameters schema that cannot be enforced is a 400 for required / named choices only', () => {
    const tools = validateTools([fn({}), { type: 'function', function: { name: 'g', parameters: { type: 'object', properties: { s: { type: 'string', pattern: 'a(?=b)' } } } } }]);
    assert.equal(toolCallConstraint(tools, { type: 'auto' }), undefined);
    rejects400(() => toolCallConstraint(tools, { type: 'required' }), 'tools[1].function.parameters');
    assert.ok(toolCallConstraint(tools, { type: 'function', name: 'f' }));
  });

  test('response_format', () => {
    assert.equal(responseFormatConstraint(undefined), undefined);
    assert.equal(responseFormatConstraint({ type: 'text' }), undefined);
    assert.deepEqual(responseFormatConstraint({ type: 'json_object' }), { type: 'json_object' });
    const schema = { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] };
    assert.deepEqual(responseFormatConstraint({ type: 'json_schema', json_schema: { name: 'x', schema, strict: true } }), {
      type: 'json_schema',
      schema,
    });
    rejects400(() => responseFormatConstraint({ type: 'xml' }), 'response_format.type');
    rejects400(() => responseFormatConstraint({ type: 'json_schema' }), 'response_format.json_schema');
    rejects400(() => responseFormatConstraint({ type: 'json_schema', json_schema: { name: 'a b', schema } }), 'response_format.json_schema.name');
    rejects400(
      () => responseFormatConstraint({ type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '(x)\\1' } } }),
      'response_format.json_schema.schema',
    );
  });
});

describe('forced tool calls under random logits (Llama 3.1 vocabulary)', () => {
  let tok: TextTokenizer;
  let vocab: TokenVocabulary;
  before(async () => {
    tok = await llamaTokenizer();
    vocab = getTokenVocabulary(tok);
  });

  test('tool_choice "required": a parseable call to a declared function with valid arguments, every seed', () => {
    const spec = toolCallConstraint(TOOLS, { type: 'required' })!;
    const names = new Set<string>();
    for (let seed = 1; seed <= 24; seed++) {
      const run = runConstrained(createConstraint(spec, vocab, EOS_IDS), tok, { seed, maxTokens: 200 });
      assert.ok(run.finished, run.text);
      const { toolCalls, content } = parseToolCalls(run.text, { functionNames: TOOLS.map((t) => t.function.name) });
      assert.equal(content, null, run.text);
      assert.equal(toolCalls.length, 1, run.text);
      const call = toolCalls[0]!;
      assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
      names.add(call.function.name);
      assert.equal(schemaErrors(parametersOf(call.function.name), JSON.parse(call.function.arguments)), null, run.text);
    }
    assert.ok(names.size >= 3, `several functions chosen: ${[...names].join(', ')}`);
  });

  test('a named function is always the one called; a function without parameters gets {}', () => {
    for (const name of ['plot', 'ping', 'add-numbers']) {
      const spec = toolCallConstraint(TOOLS, { type: 'function', name })!;
      for (let seed = 1; seed <= 8; seed++) {
        const run = runConstrained(createConstraint(spec, vocab, EOS_IDS), tok, { seed, maxTokens: 120 });
        const [call] = parseToolCalls(run.text).toolCalls;
        assert.equal(call?.function.name, name, run.text);
        assert.equal(schemaErrors(parametersOf(name), JSON.parse(call!.function.arguments)), null, run.text);
        if (name === 'ping') assert.equal(call!.function.arguments, '{}');
      }
    }
  });

  test('streaming the generated tokens through the parser assembles to the non-streamed result', () => {
    const spec = toolCallConstraint(TOOLS, { type: 'required' })!;
    for (let seed = 1; seed <= 10; seed++) {
      const run = runConstrained(createConstraint(spec, vocab, EOS_IDS), tok, { seed, maxTokens: 200 });
      // Text deltas as the engine makes them: the incremental detokenizer never splits a character.
      const detok = new IncrementalDetokenizer(tok, { skipSpecialTokens: true });
      const deltas = [...run.ids.map((id) => detok.push(id)), detok.flush()];
      assert.equal(deltas.join(''), run.text);
      const streamed = streamAll(deltas);
      assert.deepEqual(streamed, parseToolCalls(run.text, { newId: counterIds() }));
    }
  });
});

/** Deterministic ids for comparing streamed and non-streamed results. */
function counterIds(): () => string {
  let n = 0;
  return () => `call_${n++}`;
}

/** Streams `deltas` through a parser and rebuilds the result from the events alone (as a client would). */
function streamAll(deltas: string[]): { content: string | null; toolCalls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> } {
  const parser = new ToolCallStreamParser({ newId: counterIds() });
  const events: ToolStreamEvent[] = [];
  for (const d of deltas) events.push(...parser.push(d));
  events.push(...parser.finish());
  let content = '';
  const calls: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }> = [];
  for (const e of events) {
    const delta = toolCallDelta(e);
    if (e.type === 'content') {
      assert.equal(delta, null);
      content += e.text;
    } else if (delta?.id !== undefined) {
      assert.equal(delta.index, calls.length, 'calls start in index order');
      assert.equal(delta.function.arguments, '');
      calls.push({ id: delta.id, type: 'function', function: { name: delta.function.name!, arguments: '' } });
    } else {
      assert.ok(delta && calls[delta.index], 'arguments come after their call started');
      calls[delta.index]!.function.arguments += delta.function.arguments;
    }
  }
  assert.deepEqual(parser.result(), { content: calls.length > 0 && content.trim() === '' ? null : content, toolCalls: calls });
  return { content: calls.length > 0 && content.trim() === '' ? null : content, toolCalls: calls };
}

describe('tool-call parser', () => {
  const cases: Array<[string, string, { content: string | null; calls: Array<[string, string]> }]> = [
    ['plain text', 'Hello there, {not a call}', { content: 'Hello there, {not a call}', calls: [] }],
    ['Llama 3.1 shape', '{"name": "get_weather", "parameters": {"city": "Paris"}}', { content: null, calls: [['get_weather', '{"city": "Paris"}']] }],
    ['python_tag and leading space', ' <|python_tag|>{"name":"ping","parameters":{}}', { content: null, calls: [['ping', '{}']] }],
    ['"arguments" key', '{"name":"ping","arguments":{"a":[1,{"b":"}"}]}}', { content: null, calls: [['ping', '{"a":[1,{"b":"}"}]}']] }],
    ['parameters before name', '{"parameters": {"x": 1}, "name": "f"}', { content: null, calls: [['f', '{"x": 1}']] }],
    ['no parameters', '{"name":"ping"}', { content: null, calls: [['ping', '{}']] }],
    ['parameters as a JSON string', '{"name":"f","parameters":"{\\"x\\":2}"}', { content: null, calls: [['f', '{"x":2}']] }],
    ['array of calls', '[{"name":"a","parameters":{"i":1}}, {"name":"b","parameters":{}}]', { content: null, calls: [['a', '{"i":1}'], ['b', '{}']] }],
    ['calls separated by ;', '{"name":"a","parameters":{}}; {"name":"b","parameters":{"k":null}}', { content: null, calls: [['a', '{}'], ['b', '{"k":null}']] }],
    ['JSON that is not a call', '{"city": "Paris", "temp": 3}', { content: '{"city": "Paris", "temp": 3}', calls: [] }],
    ['a name that is not a string', '{"name": 3, "parameters": {}}', { content: '{"name": 3, "parameters": {}}', calls: [] }],
    ['truncated call keeps what arrived', '{"name":"f","parameters":{"q":"ab', { content: null, calls: [['f', '{"q":"ab']] }],
    ['text after a call', '{"name":"f","parameters":{}} and more', { content: ' and more', calls: [['f', '{}']] }],
    ['blank output', '  \n', { content: '  \n', calls: [] }],
  ];
  for (const [name, text, want] of cases) {
    test(`${name}: parsed, and every chunking of the stream assembles to it`, () => {
      const result = parseToolCalls(text, { newId: counterIds() });
      assert.equal(result.content, want.content);
      assert.deepEqual(
        result.toolCalls.map((c) => [c.function.name, c.function.arguments]),
        want.calls,
      );
      result.toolCalls.forEach((c) => assert.equal(c.type, 'function'));
      const prng = createPrng(text.length);
      for (let trial = 0; trial < 20; trial++) {
        const deltas: string[] = [];
        for (let i = 0; i < text.length; ) {
          const n = trial === 0 ? 1 : 1 + Math.floor(prng.next() * 6);
          deltas.push(text.slice(i, i + n));
          i += n;
        }
        assert.deepEqual(streamAll(deltas), result);
      }
    });
  }

  test('declared names: a call to an undeclared function is content', () => {
    const r = parseToolCalls('{"name": "rm_rf", "parameters": {}}', { functionNames: ['ping'] });
    assert.deepEqual(r, { content: '{"name": "rm_rf", "parameters": {}}', toolCalls: [] });
  });

  test('arguments stream in pieces before the call ends', () => {
    const parser = new ToolCallStreamParser({ newId: counterIds() });
    const first = parser.push('{"name": "f", "parameters": {"q": "hel');
    assert.deepEqual(first, [
      { type: 'tool_call', index: 0, id: 'call_0', name: 'f' },
      { type: 'arguments', index: 0, text: '{"q": "hel' },
    ]);
    assert.deepEqual(parser.push('lo"}}'), [{ type: 'arguments', index: 0, text: 'lo"}' }]);
    assert.deepEqual(parser.finish(), []);
  });
});
