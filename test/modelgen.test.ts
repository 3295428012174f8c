/**
 * The random-weight model builder: determinism, agreement with the float64 reference in both I/O
 * styles, KV-cache and padding behaviour in onnxruntime-node, external data, and the CLI.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { buildModelFolder, isModelFolderComplete, listFiles, type BuiltModel } from '../src/modelgen/folder.ts';
import { LlamaReference, llama3InvFreqFloat64 } from '../src/modelgen/reference.ts';
import { llama3InvFreq } from '../src/modelgen/rope.ts';
import { LLAMA31_ROPE_SCALING, resolveSpec, type BuildSpec, type SpecOverrides } from '../src/modelgen/spec.ts';
import { fromHalfBits } from '../src/modelgen/tensors.ts';

const BOS = 128000;
const PROMPTS: number[][] = [
  [BOS],
  [BOS, 9906, 1917, 0],
  [BOS, 128006, 882, 128007, 271, 3923, 374, 279, 6864, 315, 9822, 30, 128009],
  [BOS, 40, 1093, 311, 1373, 264, 3460, 922, 279, 9581, 11, 279, 13539, 11, 323, 279, 12960, 13, 578, 220, 17, 20],
];

let root: string;
const built = new Map<string, BuiltModel>();
const sessions = new Map<string, ort.InferenceSession>();

/** Builds a preset variant into the temp root once per name. */
function model(name: string, preset: string, overrides: SpecOverrides = {}): BuiltModel {
  const hit = built.get(name);
  if (hit) return hit;
  const b = buildModelFolder(resolveSpec(preset, overrides), join(root, name));
  built.set(name, b);
  return b;
}

async function session(m: BuiltModel): Promise<ort.InferenceSession> {
  let s = sessions.get(m.dir);
  if (!s) {
    const path = m.spec.ioStyle === 'genai' ? join(m.dir, 'model.onnx') : join(m.dir, 'onnx', 'model.onnx');
    s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
    sessions.set(m.dir, s);
  }
  return s;
}

type Past = Record<string, ort.Tensor>;

interface StepInput {
  ids: number[][];
  mask: number[][];
  /** Optimum style only. */
  positions?: number[][];
  past?: Past;
}

interface StepOutput {
  /** [batch][rows][vocab] widened to float64. */
  logits: Float64Array[][];
  present: Past;
}

const i64 = (rows: number[][]) =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);

function emptyPast(spec: BuildSpec, batch: number): Past {
  const past: Past = {};
  for (let i = 0; i < spec.numLayers; i++) {
    for (const kv of ['key', 'value']) {
      const dims = [batch, spec.numKvHeads, 0, spec.headDim];
      past[`past_key_values.${i}.${kv}`] =
        spec.dtype === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
    }
  }
  return past;
}

/** One session.run; logits widened to float64 rows. */
async function step(m: BuiltModel, input: StepInput): Promise<StepOutput> {
  const s = await session(m);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(input.ids),
    attention_mask: i64(input.mask),
    ...(input.past ?? emptyPast(m.spec, input.ids.length)),
  };
  if (m.spec.ioStyle === 'optimum') feeds.position_ids = i64(input.positions ?? input.ids.map((r) => r.map((_, j) => j)));
  const out = await s.run(feeds);
  const [batch, rows, vocab] = out.logits!.dims as [number, number, number];
  const raw = out.logits!.data as Float32Array | Uint16Array;
  const logits: Float64Array[][] = [];
  for (let b = 0; b < batch; b++) {
    logits.push([]);
    for (let r = 0; r < rows; r++) {
      const row = new Float64Array(vocab);
      const off = (b * rows + r) * vocab;
      for (let v = 0; v < vocab; v++) row[v] = raw instanceof Uint16Array ? fromHalfBits(raw[off + v]!) : raw[off + v]!;
      logits[b]!.push(row);
    }
  }
  const present: Past = {};
  for (let i = 0; i < m.spec.numLayers; i++) {
    present[`past_key_values.${i}.key`] = out[`present.${i}.key`]!;
    present[`past_key_values.${i}.value`] = out[`present.${i}.value`]!;
  }
  return { logits, present };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

const ones = (n: number) => Array<number>(n).fill(1);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const PAD = 128009;

function sha256Tree(dir: string): Record<string, string> {
  return Object.fromEntries(
    listFiles(dir).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]),
  );
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'modelgen-test-'));
});

after(async () => {
  for (const s of sessions.values()) await s.release();
  rmSync(root, { recursive: true, force: true });
});

describe('rope frequencies', () => {
  test('llama3 scaling: float32 emulation agrees with an independent float64 formula (Llama 3.1 8B head_dim)', () => {
    const f32 = llama3InvFreq(128, 500000, LLAMA31_ROPE_SCALING);
    const f64 = llama3InvFreqFloat64(128, 500000, LLAMA31_ROPE_SCALING);
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(f32[i]! - f64[i]!) <= 1e-6 * f64[i]!, `i=${i}`);
    // High frequencies (wavelength < 2048) are unchanged, low ones (> 8192) divided by 8, between interpolated.
    assert.equal(f32[0], 1);
    const base = (i: number) => 1 / Math.pow(500000, (2 * i) / 128);
    assert.ok(Math.abs(f64[63]! - base(63) / 8) < 1e-18);
    const medium = [...Array(64).keys()].filter((i) => {
      const w = (2 * Math.PI) / base(i);
      return w >= 2048 && w <= 8192;
    });
    assert.ok(medium.length > 0);
    for (const i of medium) assert.ok(f64[i]! < base(i) && f64[i]! > base(i) / 8);
  });
});

describe('model builder', () => {
  test('same seed ⇒ byte-identical folders (both styles); another seed ⇒ other weights', () => {
    for (const preset of ['instruct', 'instruct-genai']) {
      const a = model(preset, preset);
      const b = buildModelFolder(a.spec, join(root, `${preset}-again`));
      assert.deepEqual(sha256Tree(b.dir), sha256Tree(a.dir));
      rmSync(b.dir, { recursive: true });
    }
    const a = model('instruct', 'instruct');
    const c = buildModelFolder(resolveSpec('instruct', { seed: 1 }), join(root, 'instruct-seed1'));
    assert.notEqual(sha256Tree(c.dir)['onnx/model.onnx'], sha256Tree(a.dir)['onnx/model.onnx']);
    rmSync(c.dir, { recursive: true });
  });

  test('folder layouts and config files', () => {
    const opt = model('instruct', 'instruct');
    assert.deepEqual(listFiles(opt.dir), [
      'config.json', 'generation_config.json', 'onnx/model.onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json',
    ]);
    const cfg = JSON.parse(readFileSync(join(opt.dir, 'config.json'), 'utf8'));
    assert.equal(cfg.model_type, 'llama');
    assert.deepEqual(cfg.architectures, ['LlamaForCausalLM']);
    assert.deepEqual(cfg.eos_token_id, [128001, 128008, 128009]);
    assert.equal(cfg.tie_word_embeddings, false);
    assert.deepEqual(cfg.rope_scaling, LLAMA31_ROPE_SCALING);
    assert.equal(cfg.nemotron_onnx.io_style, 'optimum');
    assert.equal(cfg.nemotron_onnx.last_logits_only, true);
    const gen = JSON.parse(readFileSync(join(opt.dir, 'generation_config.json'), 'utf8'));
    assert.deepEqual(gen, { bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9, max_new_tokens: 256 });

    const reward = model('reward', 'reward');
    const rcfg = JSON.parse(readFileSync(join(reward.dir, 'config.json'), 'utf8'));
    assert.deepEqual(rcfg.nemotron_onnx.reward, { readout: 'token_logit', token_id: 0 });
    assert.notEqual(rcfg.nemotron_onnx.seed, cfg.nemotron_onnx.seed);

    const genai = model('instruct-genai', 'instruct-genai');
    assert.ok(existsSync(join(genai.dir, 'model.onnx')) && existsSync(join(genai.dir, 'tokenizer.json')));
    const gc = JSON.parse(readFileSync(join(genai.dir, 'genai_config.json'), 'utf8'));
    assert.equal(gc.model.type, 'llama');
    assert.equal(gc.model.decoder.head_size, 16);
    assert.equal(gc.model.decoder.num_key_value_heads, 2);
    assert.equal(gc.model.decoder.inputs.past_key_names, 'past_key_values.%d.key');
    assert.equal(gc.model.decoder.outputs.present_value_names, 'present.%d.value');
    assert.equal(gc.model.decoder.inputs.position_ids, undefined);
    assert.equal(gc.model.vocab_size, 128256);
  });

  test('graph I/O names, types and shapes', async () => {
    const opt = await session(model('instruct', 'instruct'));
    assert.deepEqual(opt.inputNames, [
      'input_ids', 'attention_mask', 'position_ids',
      'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value',
    ]);
    assert.deepEqual(opt.outputNames, ['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);
    const genai = await session(model('instruct-genai', 'instruct-genai'));
    assert.deepEqual(genai.inputNames, [
      'input_ids', 'attention_mask',
      'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value',
    ]);
    const out = await step(model('instruct-genai', 'instruct-genai'), { ids: [[BOS, 5]], mask: [[1, 1]] });
    assert.equal(out.logits[0]!.length, 1);
    assert.deepEqual(out.present['past_key_values.1.value']!.dims, [1, 2, 2, 16]);
  });

  test('--if-missing completeness: missing files or another spec mean incomplete', () => {
    const m = model('reward', 'reward');
    assert.ok(isModelFolderComplete(m.dir, m.spec));
    assert.ok(!isModelFolderComplete(m.dir, resolveSpec('reward', { seed: 5 })));
    const copy = buildModelFolder(m.spec, join(root, 'reward-copy'));
    unlinkSync(join(copy.dir, 'tokenizer.json'));
    assert.ok(!isModelFolderComplete(copy.dir, copy.spec));
    rmSync(copy.dir, { recursive: true });
  });

  test('a leftover partial build of a dead process is removed, and never counts as a model', () => {
    const dead = join(root, 'instruct-x.partial-999999999');
    mkdirSync(dead, { recursive: true });
    writeFileSync(join(dead, 'config.json'), '{}');
    const m = buildModelFolder(resolveSpec('instruct'), join(root, 'instruct-x'));
    assert.ok(!existsSync(dead));
    assert.ok(isModelFolderComplete(m.dir, m.spec));
    rmSync(m.dir, { recursive: true });
  });
});

/** Variants compared with the float64 reference: name → [preset, overrides, tolerance]. */
const VARIANTS: Array<[string, string, SpecOverrides, number]> = [
  ['instruct', 'instruct', {}, 1e-4],
  ['instruct-genai', 'instruct-genai', {}, 1e-4],
  ['optimum-full-external', 'instruct', { lastLogitsOnly: false, externalData: 'always' }, 1e-4],
  ['genai-fp16-external', 'instruct-genai', { dtype: 'float16', externalData: 'always' }, 0.05],
  ['optimum-fp16', 'instruct', { dtype: 'float16' }, 0.05],
];

describe('ONNX logits match the float64 reference', () => {
  for (const [name, preset, overrides, tol] of VARIANTS) {
    test(`${name} (max abs diff <= ${tol})`, async () => {
      const m = model(name, preset, overrides);
      const ref = LlamaReference.fromFolder(m.dir);
      for (const prompt of PROMPTS) {
        const expected = ref.logits(prompt, { lastOnly: m.spec.lastLogitsOnly });
        const got = (await step(m, { ids: [prompt], mask: [prompt.map(() => 1)] })).logits[0]!;
        assert.equal(got.length, expected.length);
        for (let r = 0; r < got.length; r++) {
          const d = maxAbsDiff(got[r]!, expected[r]!);
          assert.ok(d <= tol, `prompt of ${prompt.length} tokens, row ${r}: max abs diff ${d}`);
        }
      }
      if (overrides.externalData === 'always') {
        const [graph, data] =
          m.spec.ioStyle === 'genai' ? ['model.onnx', 'model.onnx.data'] : ['onnx/model.onnx', 'onnx/model.onnx_data'];
        assert.ok(m.files[graph]! < 1_000_000 && m.files[data]! > 30_000_000, `${data} holds the weights`);
      }
    });
  }

  test('a 1000-token prompt (distances where the llama3-scaled low frequencies matter), both styles', async () => {
    let x = 12345;
    const prompt = [BOS];
    while (prompt.length < 1000) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      prompt.push(x % 128000);
    }
    for (const [name, preset] of [['instruct', 'instruct'], ['instruct-genai', 'instruct-genai']]) {
      const m = model(name!, preset!);
      const expected = LlamaReference.fromFolder(m.dir).logits(prompt, { lastOnly: true })[0]!;
      const got = (await step(m, { ids: [prompt], mask: [ones(prompt.length)] })).logits[0]![0]!;
      const d = maxAbsDiff(got, expected);
      assert.ok(d <= 1e-4, `${name}: max abs diff ${d}`);
    }
  });

  test('both styles compute the same function for the same seed', async () => {
    const prompt = PROMPTS[2]!;
    const a = (await step(model('instruct', 'instruct'), { ids: [prompt], mask: [prompt.map(() => 1)] })).logits[0]![0]!;
    const b = (await step(model('instruct-genai', 'instruct-genai'), { ids: [prompt], mask: [prompt.map(() => 1)] })).logits[0]![0]!;
    assert.ok(maxAbsDiff(a, b) < 1e-4);
  });
});


describe('KV cache and padding in onnxruntime-node', () => {
  for (const [name, preset, overrides] of [
    ['instruct', 'instruct', {}],
    ['instruct-genai', 'instruct-genai', {}],
    ['optimum-full-external', 'instruct', { lastLogitsOnly: false, externalData: 'always' }],
  ] as Array<[string, string, SpecOverrides]>) {
    test(`${name}: prompt in two steps with the past fed back = one step`, async () => {
      const m = model(name, preset, overrides);
      const prompt = PROMPTS[3]!;
      const n = prompt.length;
      const whole = (await step(m, { ids: [prompt], mask: [ones(n)] })).logits[0]!;
      for (const k of [1, 9]) {
        const first = await step(m, { ids: [prompt.slice(0, k)], mask: [ones(k)] });
        const second = await step(m, {
          ids: [prompt.slice(k)],
          mask: [ones(n)],
          positions: [range(k, n)],
          past: first.present,
        });
        const tail = second.logits[0]!;
        const expected = whole.slice(whole.length - tail.length);
        tail.forEach((row, r) => assert.ok(maxAbsDiff(row, expected[r]!) < 1e-4, `split ${k}, row ${r}`));
      }
    });
  }

  test('optimum: left-padded batch of 2, then a multi-token step over the past, = each alone', async () => {
    const m = model('optimum-full-external', 'instruct', { lastLogitsOnly: false, externalData: 'always' });
    const a = PROMPTS[1]!;
    const b = PROMPTS[2]!;
    const width = b.length;
    const padA = width - a.length;
    const first = await step(m, {
      ids: [[...Array(padA).fill(PAD), ...a], b],
      mask: [[...Array(padA).fill(0), ...ones(a.length)], ones(width)],
      positions: [[...Array(padA).fill(1), ...range(0, a.length)], range(0, width)],
    });
    const aloneA = (await step(m, { ids: [a], mask: [ones(a.length)] })).logits[0]!;
    const aloneB = (await step(m, { ids: [b], mask: [ones(width)] })).logits[0]!;
    assert.ok(maxAbsDiff(first.logits[0]!.at(-1)!, aloneA.at(-1)!) < 1e-4);
    assert.ok(maxAbsDiff(first.logits[1]!.at(-1)!, aloneB.at(-1)!) < 1e-4);

    const moreA = [791, 4062, 14198];
    const moreB = [323, 1101, 13];
    const second = await step(m, {
      ids: [moreA, moreB],
      mask: [[...Array(padA).fill(0), ...ones(a.length + 3)], ones(width + 3)],
      positions: [range(a.length, a.length + 3), range(width, width + 3)],
      past: first.present,
    });
    const fullA = (await step(m, { ids: [[...a, ...moreA]], mask: [ones(a.length + 3)] })).logits[0]!.slice(-3);
    const fullB = (await step(m, { ids: [[...b, ...moreB]], mask: [ones(width + 3)] })).logits[0]!.slice(-3);
    for (let r = 0; r < 3; r++) {
      assert.ok(maxAbsDiff(second.logits[0]![r]!, fullA[r]!) < 1e-4, `row A, new token ${r}`);
      assert.ok(maxAbsDiff(second.logits[1]![r]!, fullB[r]!) < 1e-4, `row B, new token ${r}`);
    }
  });

  test('optimum lastLogitsOnly: left-padded batch gives each row its last token logits', async () => {
    const m = model('instruct', 'instruct');
    const a = PROMPTS[0]!;
    const b = PROMPTS[3]!;
    const padA = b.length - a.length;
    const batch = await step(m, {
      ids: [[...Array(padA).fill(PAD), ...a], b],
      mask: [[...Array(padA).fill(0), ...ones(a.length)], ones(b.length)],
      positions: [[...Array(padA).fill(1), ...range(0, a.length)], range(0, b.length)],
    });
    assert.equal(batch.logits[0]!.length, 1);
    const aloneA = (await step(m, { ids: [a], mask: [ones(a.length)] })).logits[0]![0]!;
    const aloneB = (await step(m, { ids: [b], mask: [ones(b.length)] })).logits[0]![0]!;
    assert.ok(maxAbsDiff(batch.logits[0]![0]!, aloneA) < 1e-4);
    assert.ok(maxAbsDiff(batch.logits[1]![0]!, aloneB) < 1e-4);
  });

  test('genai: right-padded batch of 2, then a one-token decode step, = each alone', async () => {
    const m = model('instruct-genai', 'instruct-genai');
    const a = PROMPTS[1]!;
    const b = PROMPTS[3]!;
    const padA = b.length - a.length;
    const first = await step(m, {
      ids: [[...a, ...Array(padA).fill(PAD)], b],
      mask: [[...ones(a.length), ...Array(padA).fill(0)], ones(b.length)],
    });
    const aloneA = (await step(m, { ids: [a], mask: [ones(a.length)] })).logits[0]![0]!;
    const aloneB = (await step(m, { ids: [b], mask: [ones(b.length)] })).logits[0]![0]!;
    assert.ok(maxAbsDiff(first.logits[0]![0]!, aloneA) < 1e-4, 'prompt A');
    assert.ok(maxAbsDiff(first.logits[1]![0]!, aloneB) < 1e-4, 'prompt B');

    const [nextA, nextB] = [argmax(aloneA), argmax(aloneB)];
    const decode = await step(m, {
      ids: [[nextA], [nextB]],
      // Row A's valid tokens stay first: its new key/value land at sum(mask) - 1 = a.length.
      mask: [[...ones(a.length + 1), ...Array(padA).fill(0)], ones(b.length + 1)],
      past: first.present,
    });
    const fullA = (await step(m, { ids: [[...a, nextA]], mask: [ones(a.length + 1)] })).logits[0]![0]!;
    const fullB = (await step(m, { ids: [[...b, nextB]], mask: [ones(b.length + 1)] })).logits[0]![0]!;
    assert.ok(maxAbsDiff(decode.logits[0]![0]!, fullA) < 1e-4, 'decode A');
    assert.ok(maxAbsDiff(decode.logits[1]![0]!, fullB) < 1e-4, 'decode B');
  });
});

describe('generation', () => {
  test('greedy decoding on instruct produces varied tokens', async () => {
    const m = model('instruct', 'instruct');
    const prompt = PROMPTS[2]!;
    let out = await step(m, { ids: [prompt], mask: [ones(prompt.length)] });
    const tokens: number[] = [];
    for (let i = 0; i < 20; i++) {
      const next = argmax(out.logits[0]!.at(-1)!);
      tokens.push(next);
      const total = prompt.length + tokens.length;
      out = await step(m, { ids: [[next]], mask: [ones(total)], positions: [[total - 1]], past: out.present });
    }
    const distinct = new Set(tokens).size;
    assert.ok(distinct >= 8, `only ${distinct} distinct tokens in ${tokens.join(' ')}`);
    assert.ok(new Set(tokens.slice(-5)).size > 1, `ends in a repeat: ${tokens.join(' ')}`);
  });
});

describe('build-models CLI', () => {
  test('builds into --out, then --if-missing skips the complete folder', () => {
    const out = join(root, 'cli');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-models.ts', '--out', out, ...args], { encoding: 'utf8' });
    const first = run('--only', 'reward');
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /reward: built .* in [\d.]+ s/);
    assert.ok(isModelFolderComplete(join(out, 'reward'), resolveSpec('reward')));
    const second = run('--only', 'reward', '--if-missing');
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /reward: up to date/);
    const bad = run('--only', 'nope');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown model preset "nope"/);
  });
});
