import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type GenerateModel } from '../src/server/deps.ts';
import { parseConfig } from '../src/server/config.ts';
import { describeDefaults, parseDefaults, readGenerationDefaults } from '../src/server/generation-defaults.ts';
import { DEFAULT_MAX_NEW_TOKENS } from '../src/modelgen/folder.ts';
import { FakeEngine, fakeModel } from './helpers/fake-engine.ts';
import { INSTRUCT, INSTRUCT_GENAI } from './helpers/paths.ts';

describe('generation_config.json defaults', () => {
  test("the embedded models ship Llama 3.1's sampling defaults and a small max_new_tokens", () => {
    for (const dir of [INSTRUCT, INSTRUCT_GENAI]) {
      const g = readGenerationDefaults(dir);
      assert.deepEqual(g.defaults, { temperature: 0.6, topP: 0.9, maxNewTokens: DEFAULT_MAX_NEW_TOKENS });
      assert.equal(g.file, join(dir, 'generation_config.json'));
      assert.deepEqual(g.ignored, []);
    }
    // The newcomer's first request without max_tokens: 256 tokens at the default model's ~100 tokens/s
    // on 2 cores is under 5 s (docs/BENCHMARKS.md has the figure; this only pins the default).
    assert.ok(DEFAULT_MAX_NEW_TOKENS <= 256);
    assert.equal(describeDefaults(readGenerationDefaults(INSTRUCT).defaults), 'temperature 0.6, top_p 0.9, max_tokens 256');
  });

  test('vllm mode ignores the file; a folder mode reads another folder; a missing file gives none', () => {
    assert.deepEqual(readGenerationDefaults(INSTRUCT, 'vllm').defaults, {});
    const dir = mkdtempSync(join(tmpdir(), 'gencfg-'));
    try {
      writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ temperature: 0.2, top_k: 40, repetition_penalty: 1.1, max_new_tokens: 64 }));
      assert.deepEqual(readGenerationDefaults(INSTRUCT, { dir }).defaults, { temperature: 0.2, topK: 40, repetitionPenalty: 1.1, maxNewTokens: 64 });
      assert.deepEqual(readGenerationDefaults(join(dir, 'nothing-here')).defaults, {});
      writeFileSync(join(dir, 'generation_config.json'), '{not json');
      assert.match(readGenerationDefaults(dir).ignored[0]!, /not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('values a request could not send are ignored and named', () => {
    const r = parseDefaults({ temperature: 5, top_p: 0, top_k: 1.5, max_new_tokens: -1, repetition_penalty: '1.1', do_sample: false });
    assert.deepEqual(r.defaults, {});
    assert.equal(r.ignored.length, 5);
    assert.ok(r.ignored.some((x) => x.startsWith('temperature: 5')));
  });

  test('--generation-config auto | vllm | DIR', () => {
    assert.equal(parseConfig([], {}).generationConfig, 'auto');
    assert.equal(parseConfig(['--generation-config', 'vllm'], {}).generationConfig, 'vllm');
    assert.deepEqual(parseConfig(['--generation-config', INSTRUCT], {}).generationConfig, { dir: INSTRUCT });
    assert.deepEqual(parseConfig([], { GENERATION_CONFIG: INSTRUCT }).generationConfig, { dir: INSTRUCT });
    assert.throws(() => parseConfig(['--generation-config', '/no/such/folder'], {}), /--generation-config.*generation_config\.json/);
  });
});

describe('request defaults from the model (routes, fake engine)', () => {
  let app: FastifyInstance;
  let engine: FakeEngine;
  before(async () => {
    const model = (await fakeModel({ contextLength: 1024 })) as GenerateModel;
    engine = model.engine as FakeEngine;
    model.generationDefaults = { temperature: 0.6, topP: 0.9, topK: 20, repetitionPenalty: 1.05, maxNewTokens: 256 };
    app = buildApp({ models: [model], limits: { ...DEFAULT_SERVER_LIMITS, maxTokens: 4096 }, isReady: () => true, logger: false, version: 't' });
  });
  after(async () => app.close());

  const chat = (extra: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'instruct', messages: [{ role: 'user', content: 'hi' }], ...extra } });

  test("a request without the fields gets the model's defaults", async () => {
    assert.equal((await chat({})).statusCode, 200);
    const r = engine.requests.at(-1)!;
    assert.equal(r.maxTokens, 256);
    assert.equal(r.sampling.temperature, 0.6);
    assert.equal(r.sampling.topP, 0.9);
    assert.equal(r.sampling.topK, 20);
    assert.equal(r.sampling.repetitionPenalty, 1.05);
  });

  test("a request's own values win, 0 and 1 included", async () => {
    assert.equal((await chat({ max_tokens: 500, temperature: 0, top_p: 1, top_k: 0, repetition_penalty: 1 })).statusCode, 200);
    const r = engine.requests.at(-1)!;
    assert.equal(r.maxTokens, 500);
    assert.equal(r.sampling.temperature, 0);
    assert.equal(r.sampling.topP, 1);
    assert.equal(r.sampling.topK, 0);
    assert.equal(r.sampling.repetitionPenalty, 1);
    assert.equal((await chat({ max_completion_tokens: 7 })).statusCode, 200);
    assert.equal(engine.requests.at(-1)!.maxTokens, 7);
  });

  test('the default max_tokens still fits the context', async () => {
    assert.equal((await chat({ messages: [{ role: 'user', content: 'word '.repeat(880) }] })).statusCode, 200);
    const r = engine.requests.at(-1)!;
    assert.equal(r.maxTokens, 1024 - r.promptTokenIds.length);
    assert.ok(r.maxTokens < 256);
  });
});
