/**
 * `npm run bench:engine`: decode throughput of the engine (worker thread, continuous batching) at 1, 4
 * and 16 concurrent sequences on the `bench` model, beside a raw onnxruntime-node greedy loop on the same
 * files, in one run. Prints a table and the target ratios. Not a test: figures depend on the machine.
 *
 * Flags: --model DIR (default models/bench, built if missing), --prompt N (32), --tokens N (64),
 *        --concurrency 1,4,16, --threads N.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Engine } from '../src/runtime/engine.ts';
import { readModelFolder } from '../src/runtime/model-loader.ts';
import { DEFAULT_SAMPLING_PARAMS } from '../src/runtime/sampling.ts';
import type { GenerationRequest } from '../src/runtime/types.ts';
import { rawGreedyLoop } from './raw-loop.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join('models', 'bench') },
    prompt: { type: 'string', default: '32' },
    tokens: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '1,4,16' },
    threads: { type: 'string', default: '0' },
  },
});
const promptLen = Number(values.prompt);
const outLen = Number(values.tokens);
const threads = Number(values.threads);
const levels = values.concurrency!.split(',').map(Number);

if (!existsSync(join(values.model!, 'config.json')) && values.model === join('models', 'bench')) {
  console.log('building the bench model (once)…');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-models.ts', '--only', 'bench', '--if-missing'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function request(i: number): GenerationRequest {
  return {
    promptTokenIds: Array.from({ length: promptLen }, (_, k) => 1000 + ((k * 7 + i * 13) % 5000)),
    n: 1,
    maxTokens: outLen,
    sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 0 },
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    includeStopStrInOutput: false,
    skipSpecialTokens: true,
  };
}

async function engineRun(engine: Engine, concurrency: number): Promise<number> {
  const t0 = performance.now();
  let tokens = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      for await (const e of engine.generate(request(i))) if (e.type === 'token') tokens++;
    }),
  );
  return tokens / ((performance.now() - t0) / 1000);
}

const onnxPath = readModelFolder(values.model!).onnxPath;
const engine = await Engine.start({
  modelDir: values.model!,
  exec: { intraOpThreads: threads },
  limits: { maxNumSeqs: Math.max(...levels), maxBatchedTokens: Math.max(512, promptLen * Math.max(...levels)) },
});
await engineRun(engine, 1); // warm-up
const rows: Array<{ what: string; concurrency: number; tps: number }> = [];
for (const c of levels) {
  const raw = await rawGreedyLoop(onnxPath, { batch: c, promptTokens: promptLen, outputTokens: outLen, threads });
  rows.push({ what: 'raw onnxruntime loop', concurrency: c, tps: raw.tokensPerSecond });
  const tps = await engineRun(engine, c);
  rows.push({ what: 'engine', concurrency: c, tps });
  console.log(`concurrency ${c}: engine ${tps.toFixed(1)} tok/s, raw loop (batch ${c}) ${raw.tokensPerSecond.toFixed(1)} tok/s`);
}
await engine.close();
console.table(rows.map((r) => ({ ...r, tps: Number(r.tps.toFixed(1)) })));
const get = (what: string, c: number) => rows.find((r) => r.what === what && r.concurrency === c)?.tps ?? NaN;
const single = get('engine', 1);
const top = Math.max(...levels);
console.log(`single stream vs raw loop: ${(single / get('raw onnxruntime loop', 1)).toFixed(2)}x (target >= 0.9x)`);
console.log(`${top}-way aggregate vs single stream: ${(get('engine', top) / single).toFixed(2)}x (target >= 6x)`);
