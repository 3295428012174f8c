/**
 * Hostile schemas cost a 400, never the server: nesting past the stack, oversized schemas, `$ref` chains
 * and union chains, `$ref` into `__proto__`. Unit level (the compiler and the tool/format edge functions
 * throw ConstraintError / a 400 ApiError, never RangeError) and route level (fake engine, app.inject).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS } from '../src/server/deps.ts';
import { ApiError } from '../src/server/errors.ts';
import { compileConstraint, ConstraintError, SCHEMA_LIMITS } from '../src/runtime/grammar/index.ts';
import { COMPILED_CACHE_CELLS, compiledCacheStats } from '../src/runtime/grammar/constraint.ts';
import { responseFormatConstraint, toolCallConstraint, validateToolChoice, validateTools } from '../src/server/tools/index.ts';
import { FakeEngine, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

/** JSON text of an object schema nesting `depth` objects through property `a` (built as text: too deep for JSON.stringify). */
function deepText(depth: number): string {
  return '{"type":"object","properties":{"a":'.repeat(depth) + '{"type":"string"}' + '}}'.repeat(depth);
}

const deepSchema = (depth: number): Record<string, unknown> => JSON.parse(deepText(depth)) as Record<string, unknown>;

/** An array schema nesting `depth` levels through `items`: shallow as JSON, deep as a schema. */
function itemsChain(depth: number): Record<string, unknown> {
  let s: Record<string, unknown> = { type: 'integer' };
  for (let i = 0; i < depth; i++) s = { type: 'array', items: s };
  return s;
}

function compile(schema: unknown): void {
  compileConstraint({ type: 'json_schema', schema: schema as Record<string, unknown> });
}

/** Asserts `fn` throws a ConstraintError whose message matches `message` (a RangeError fails the test). */
function refuses(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConstraintError, `expected ConstraintError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** Asserts `fn` throws a 400 ApiError for `param` whose message matches `message`. */
function badRequest(fn: () => unknown, param: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.status, 400);
    assert.equal(err.param, param);
    assert.match(err.message, message);
    return true;
  });
}

const tool = (parameters: unknown) => [{ type: 'function', function: { name: 'f', parameters } }];

describe('schema limits: the compiler', () => {
  test('1,200- and 10,000-deep schemas are refused at the document depth limit, naming where', () => {
    for (const depth of [1200, 10_000]) {
      refuses(() => compile(deepSchema(depth)), new RegExp(`nests deeper than ${SCHEMA_LIMITS.maxDocumentDepth} levels \\(at #/properties/a/properties/a/`));
    }
  });

  test('a schema deeper than 64 levels that is shallow as JSON is refused at the schema depth limit', () => {
    refuses(() => compile(itemsChain(200)), /nests deeper than 64 levels .*\(at #\/items\/items\//);
    compile(itemsChain(60));
  });

  test('a chain of $refs counts toward the depth ($ref expansions included)', () => {
    const $defs: Record<string, unknown> = { d0: { type: 'string' } };
    for (let i = 1; i < 200; i++) $defs[`d${i}`] = { type: 'array', items: { $ref: `#/$defs/d${i - 1}` } };
    refuses(() => compile({ $defs, $ref: '#/$defs/d199' }), /nests deeper than 64 levels/);
  });

  test('50,000 properties at one level are refused at the node limit', () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 50_000; i++) properties[`p${i}`] = { type: 'string' };
    refuses(() => compile({ type: 'object', properties }), /more than 10000 nodes .*\(at #\/properties\/p9999\)/);
  });

  test('enum values and required-only properties count as nodes', () => {
    refuses(() => compile({ enum: Array.from({ length: 200_000 }, (_, i) => i) }), /more than 10000 nodes/);
    refuses(() => compile({ type: 'object', required: Array.from({ length: 20_000 }, (_, i) => `k${i}`) }), /more than 10000 nodes/);
  });

  test('a long chain of nested unions is refused at the union limit, quickly', () => {
    const $defs: Record<string, unknown> = { u0: { type: 'null' } };
    const anyOf: unknown[] = [{ $ref: '#/$defs/u0' }];
    for (let i = 1; i < 2400; i++) {
      $defs[`u${i}`] = { anyOf: [{ $ref: `#/$defs/u${i - 1}` }, { type: 'string', maxLength: i }] };
      anyOf.push({ $ref: `#/$defs/u${i}` });
    }
    const started = performance.now();
    refuses(() => compile({ $defs, anyOf }), /alternatives expand to more than 100000/);
    assert.ok(performance.now() - started < 2000, 'refused within 2 s');
  });

  test('shortest lengths of a long chain of references are computed quickly (no round per link)', () => {
    // Each object requires the previous one: the old round-based fixpoint needed a round per link here.
    const $defs: Record<string, unknown> = { o0: { type: 'null' } };
    const properties: Record<string, unknown> = {};
    for (let i = 1; i < 3000; i++) {
      $defs[`o${i}`] = { type: 'object', properties: { x: { $ref: `#/$defs/o${i - 1}` } }, required: ['x'] };
      properties[`p${i}`] = { $ref: `#/$defs/o${i}` };
    }
    const started = performance.now();
    const { root } = compileConstraint({ type: 'json_schema', schema: { type: 'object', $defs, properties, required: ['p3'] } });
    assert.ok(performance.now() - started < 2000, 'compiled within 2 s');
    assert.equal(root.minLen, '{"p3":{"x":{"x":{"x":null}}}}'.length);
  });

  test('$ref resolves through own keys only', () => {
    for (const ref of ['#/__proto__', '#/definitions/constructor', '#/$defs/__proto__', '#/$defs/a/toString', '#/anyOf/length']) {
      refuses(() => compile({ definitions: {}, $defs: { a: { type: 'string' } }, $ref: ref }), new RegExp(`\\$ref '${ref.replace(/\$/g, '\\$')}' does not resolve`));
    }
    refuses(() => compile({ $ref: '#/%E0%A4%A' }), /is not a valid URI fragment/);
    // A real own key named __proto__ (as JSON.parse makes it) is an ordinary key.
    const own = JSON.parse('{"$defs": {"__proto__": {"type": "string", "maxLength": 3}}, "$ref": "#/$defs/__proto__"}');
    assert.equal(compileConstraint({ type: 'json_schema', schema: own }).root.kind, 'string');
  });

  test('a legitimate 20-deep schema with $defs still compiles', () => {
    let inner: Record<string, unknown> = { $ref: '#/$defs/point' };
    for (let i = 0; i < 20; i++) inner = { type: 'object', properties: { [`l${i}`]: inner, tag: { enum: ['a', 'b'] } }, required: [`l${i}`] };
    const schema = { ...inner, $defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } } };
    const { root } = compileConstraint({ type: 'json_schema', schema });
    assert.ok(Number.isFinite(root.minLen));
  });

  test('maxAnyDepth is bounded', () => {
    refuses(() => compileConstraint({ type: 'json_object', limits: { maxAnyDepth: 100_000 } }), /maxAnyDepth must be at most 64/);
  });
});

describe('schema limits: the tool and response_format edge', () => {
  test('deep response_format schemas are a 400 naming response_format.json_schema.schema', () => {
    for (const depth of [1200, 10_000]) {
      badRequest(
        () => responseFormatConstraint({ type: 'json_schema', json_schema: { name: 'x', schema: deepSchema(depth) } }),
        'response_format.json_schema.schema',
        /cannot be enforced: the schema document nests deeper than 256 levels \(at #\/properties\/a\//,
      );
    }
  });

  test('deep tool parameters are a 400 naming the tool, forced or not', () => {
    for (const depth of [1200, 10_000]) {
      badRequest(() => validateTools(tool(deepSchema(depth))), 'tools[0].function.parameters', /nests deeper than 256 levels/);
    }
    const tools = validateTools(tool({ type: 'object', properties: { a: itemsChain(100) } }));
    for (const choice of ['required', { type: 'function', function: { name: 'f' } }]) {
      badRequest(() => toolCallConstraint(tools, validateToolChoice(choice, tools)), 'tools[0].function.parameters', /nests deeper than 64 levels/);
    }
  });

  test('tool calls that pass the limits alone but not together are a 400 naming tools', () => {
    const properties: Record<string, unknown> = {};
    for (let i = 0; i < 4000; i++) properties[`p${i}`] = { type: 'string' };
    const tools = validateTools([1, 2, 3].map((n) => ({ type: 'function', function: { name: `f${n}`, parameters: { type: 'object', properties } } })));
    badRequest(() => toolCallConstraint(tools, { type: 'required' }), 'tools', /more than 10000 nodes/);
    assert.ok(toolCallConstraint(tools, { type: 'function', name: 'f2' }));
  });

  test('$ref into __proto__ in tool parameters is a 400', () => {
    const tools = validateTools(tool({ type: 'object', properties: { a: { $ref: '#/__proto__' } }, required: ['a'] }));
    badRequest(() => toolCallConstraint(tools, { type: 'required' }), 'tools[0].function.parameters', /\$ref '#\/properties\/parameters\/__proto__' does not resolve/);
  });
});

describe('schema limits: routes (fake engine)', () => {
  let app: FastifyInstance;
  before(async () => {
    const engine = new FakeEngine({}, await llamaTokenizer());
    const model = await fakeModel({ engine, contextLength: 256 });
    app = buildApp({ models: [model], limits: { ...DEFAULT_SERVER_LIMITS }, isReady: () => true, logger: false, version: 't' });
  });

  /** Posts a chat body whose `schema` slot is replaced by `schemaText` (raw JSON text). */
  const chat = (body: Record<string, unknown>, schemaText?: string) => {
    let text = JSON.stringify({ model: 'instruct', messages: [{ role: 'user', content: 'Hi' }], ...body });
    if (schemaText !== undefined) text = text.replace('"@SCHEMA@"', schemaText);
    return app.inject({ method: 'POST', url: '/v1/chat/completions', payload: text, headers: { 'content-type': 'application/json' } });
  };

  /** A 400 in the OpenAI error shape whose param is `param` (or, with `within`, a path inside it). */
  async function assert400(r: Awaited<ReturnType<typeof chat>>, param: string, message: RegExp, within = false): Promise<void> {
    assert.equal(r.statusCode, 400, r.body.slice(0, 500));
    const body = JSON.parse(r.body) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.type, 'invalid_request_error');
    if (within) assert.ok(String(body.error.param).startsWith(param), String(body.error.param).slice(0, 200));
    else assert.equal(body.error.param, param);
    assert.match(String(body.error.message), message);
  }

  const responseFormat = { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: '@SCHEMA@' } } };
  const tools = (choice: unknown) => ({ tools: tool('@SCHEMA@'), tool_choice: choice });

  // The body's own nesting limit (body.ts) may refuse these first, naming a path inside the schema.
  const tooDeep = /nests deeper than \d+ levels|nested too deeply/;

  test('1,200- and 10,000-deep schemas: 400, in response_format and in forced tool calls', async () => {
    for (const depth of [1200, 10_000]) {
      const text = deepText(depth);
      await assert400(await chat(responseFormat, text), 'response_format.json_schema.schema', tooDeep, true);
      for (const choice of ['required', { type: 'function', function: { name: 'f' } }, 'auto']) {
        await assert400(await chat(tools(choice), text), 'tools[0].function.parameters', tooDeep, true);
      }
    }
  });

  test('50,000 properties at one level: 400 naming the node limit', async () => {
    const props = Array.from({ length: 50_000 }, (_, i) => `"p${i}":{"type":"string"}`).join(',');
    const text = `{"type":"object","properties":{${props}}}`;
    await assert400(await chat(responseFormat, text), 'response_format.json_schema.schema', /more than 10000 nodes/);
    await assert400(await chat(tools('required'), text), 'tools[0].function.parameters', /more than 10000 nodes/);
  });

  test('$ref to #/__proto__ and #/definitions/constructor: 400 naming the ref', async () => {
    for (const ref of ['#/__proto__', '#/definitions/constructor']) {
      const text = JSON.stringify({ type: 'object', definitions: {}, properties: { a: { $ref: ref } }, required: ['a'] });
      await assert400(await chat(responseFormat, text), 'response_format.json_schema.schema', new RegExp(`\\$ref '${ref}' does not resolve`));
      await assert400(await chat(tools('required'), text), 'tools[0].function.parameters', /does not resolve/);
    }
  });

  test('a legitimate schema still reaches the engine', async () => {
    const text = JSON.stringify({ type: 'object', properties: { a: itemsChain(20) }, required: ['a'] });
    const r = await chat(responseFormat, text);
    assert.equal(r.statusCode, 200, r.body.slice(0, 500));
  });
});

describe('the compiled-schema cache is bounded by the tables it keeps', () => {
  test('schemas with large pattern tables evict older ones: the cache never keeps more than COMPILED_CACHE_CELLS', () => {
    // Each: about n + 5 DFA states × (maxLength + 1) lengths ≈ 800k table cells (the limit is 1M per schema).
    const big = (n: number) => ({ type: 'json_schema' as const, schema: { type: 'string', pattern: `^[0-9a-f]{${n}}$`, maxLength: Math.floor(800_000 / (n + 5)) } });
    const before = compiledCacheStats();
    for (let n = 20; n < 27; n++) compileConstraint(big(n));
    const after = compiledCacheStats();
    assert.ok(after.cells <= COMPILED_CACHE_CELLS, `${after.cells} cells kept`);
    assert.ok(after.cells > 2_000_000, `the newest schemas stay cached (${after.cells} cells)`);
    assert.ok(after.entries < before.entries + 7, 'older schemas were evicted');
    // A cached schema compiles to the same object (a hit), an evicted one to a new one.
    assert.equal(compileConstraint(big(26)), compileConstraint(big(26)));
  });
});
