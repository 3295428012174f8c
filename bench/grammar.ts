/**
 * `npm run bench:grammar`: the cost of constrained decoding.
 *
 * 1. Mask: ms per token of TokenConstraint.mask over the Llama 3.1 vocabulary (128,256 ids), driven by
 *    seeded random logits, for a JSON schema, json_object, and a forced tool call; plus the one-off costs
 *    (vocabulary preparation, schema compile).
 * 2. End to end: decode tokens/s of the engine on a model (default models/instruct) with and without a
 *    schema, at 1 and 4 concurrent sequences.
 *
 * Flags: --model DIR (models/instruct), --tokens N (max tokens per request, 128), --steps N (mask steps
 * per case, 600). Not a test: figures depend on the machine.
 */
import { parseArgs } from 'node:util';
import { Engine } from '../src/runtime/engine.ts';
import { compileConstraint, createConstraint, getTokenVocabulary, type ConstraintSpec } from '../src/runtime/grammar/index.ts';
import { createPrng } from '../src/runtime/prng.ts';
import { DEFAULT_SAMPLING_PARAMS, createSamplingState, sampleToken } from '../src/runtime/sampling.ts';
import type { GenerationRequest } from '../src/runtime/types.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { toolCallConstraint, validateTools } from '../src/server/tools/index.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'models/instruct' },
    tokens: { type: 'string', default: '128' },
    steps: { type: 'string', default: '600' },
  },
});
const maxTokens = Number(values.tokens);
const maskSteps = Number(values.steps);
const EOS = [128001, 128008, 128009];

const SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    email: { type: 'string', maxLength: 40 },
    tags: { type: 'array', items: { type: 'string', maxLength: 16 }, maxItems: 5 },
    address: { type: 'object', properties: { city: { type: 'string' }, zip: { type: 'string', maxLength: 10 } }, required: ['city'] },
    score: { type: 'number' },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'tags', 'address', 'score', 'active'],
  additionalProperties: false,
};
const TOOLS = validateTools([
  { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] } }, required: ['city'] } } },
  { type: 'function', function: { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string' }, k: { type: 'integer', minimum: 1, maximum: 50 } }, required: ['q'] } } },
]);
const CASES: Array<[string, ConstraintSpec]> = [
  ['json_schema (object, 7 fields)', { type: 'json_schema', schema: SCHEMA }],
  ['json_object', { type: 'json_object' }],
  ['tool_choice required (2 tools)', toolCallConstraint(TOOLS, { type: 'required' })!],
];

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `mean ${mean.toFixed(3)}  p50 ${q(0.5).toFixed(3)}  p90 ${q(0.9).toFixed(3)}  p99 ${q(0.99).toFixed(3)}  max ${s.at(-1)!.toFixed(2)}`;
}

async function maskBench(): Promise<void> {
  const tok = await loadTokenizer(values.model!);
  let t0 = performance.now();
  const vocab = getTokenVocabulary(tok);
  console.log(`vocabulary preparation (once per model per worker): ${(performance.now() - t0).toFixed(0)} ms, ${vocab.size} ids`);
  const logits = new Float32Array(vocab.size);
  const params = { ...DEFAULT_SAMPLING_PARAMS, temperature: 1, seed: 1 };
  // The sampler's own cost per token, for scale: what a free decoding step spends outside the model.
  const free: number[] = [];
  const prng = createPrng(1);
  const state = createSamplingState(params);
  for (let i = 0; i < 200; i++) {
    for (let j = 0; j < logits.length; j++) logits[j] = prng.next() * 8;
    const t = performance.now();
    sampleToken(logits, params, state, false);
    free.push(performance.now() - t);
  }
  console.log(`\nsampling alone (temperature 1, no constraint), ms/token: ${stats(free)}`);
  console.log(`\nmask, ms/token (${maskSteps} tokens per case, random logits, temperature 1):`);
  for (const [name, spec] of CASES) {
    t0 = performance.now();
    compileConstraint({ ...spec, limits: { maxStringLength: 255 } });
    const compileMs = performance.now() - t0;
    const times: number[] = [];
    let values = 0;
    for (let seed = 1; times.length < maskSteps; seed++) {
      const c = createConstraint(spec, vocab, EOS);
      const prng = createPrng(seed);
      const state = createSamplingState({ ...params, seed });
      for (let i = 0; i < maxTokens && times.length < maskSteps; i++) {
        for (let j = 0; j < logits.length; j++) logits[j] = prng.next() * 8;
        const t = performance.now();
        c.mask(logits, maxTokens - i);
        times.push(performance.now() - t);
        const { tokenId } = sampleToken(logits, params, state, false);
        c.accept(tokenId);
        if (c.isFinished() || EOS.includes(tokenId)) break;
      }
      values++;
    }
    console.log(`  ${name.padEnd(32)} ${stats(times)}   (compile ${compileMs.toFixed(1)} ms, ${values} values)`);
  }
}

function request(i: number, constraint?: ConstraintSpec): GenerationRequest {
  return {
    promptTokenIds: Array.from({ length: 32 }, (_, k) => 1000 + ((k * 7 + i * 13) % 5000)),
    n: 1,
    maxTokens,
    sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 1, seed: i + 1 },
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    includeStopStrInOutput: false,
    skipSpecialTokens: true,
    ...(constraint ? { constraint } : {}),
  };
}

async function engineBench(): Promise<void> {
  const engine = await Engine.start({ modelDir: values.model!, limits: { maxNumSeqs: 8 } });
  try {
    // Warm-up: loads the session and, for the constrained run, prepares the vocabulary in the worker.
    for await (const _ of engine.generate(request(99, CASES[0]![1]))) void _;
    console.log(`\nend to end on ${values.model} (engine, worker thread), up to ${maxTokens} tokens per request:`);
    for (const concurrency of [1, 4]) {
      for (const [name, spec] of [['free decoding', undefined], ...CASES.slice(0, 2)] as Array<[string, ConstraintSpec | undefined]>) {
        let tokens = 0;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: concurrency }, async (_, i) => {
            // Constrained values end early: repeat requests until the same token count as free decoding.
            let got = 0;
            for (let r = 0; got < maxTokens && r < 50; r++) {
              for await (const e of engine.generate(request(i * 100 + r, spec))) if (e.type === 'token') got++;
            }
            tokens += got;
          }),
        );
        const s = (performance.now() - t0) / 1000;
        console.log(`  concurrency ${concurrency}  ${name.padEnd(32)} ${(tokens / s).toFixed(0).padStart(6)} tokens/s  (${tokens} tokens in ${s.toFixed(2)} s)`);
      }
    }
  } finally {
    await engine.close();
  }
}

await maskBench();
await engineBench();
