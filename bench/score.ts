/**
 * `npm run bench:score`: reward scoring throughput in pairs/s (a pair = one prompt with a chosen and a
 * rejected reply, two conversations), batched vs one at a time, on the same pairs in one run:
 *
 *   one at a time   each pair scored alone (one RewardEngine.score call with its 2 conversations), sequentially
 *   concurrent      --concurrency requests in flight, each a pair (how a server sees many clients); the
 *                   reward worker batches them into shared forward passes
 *   one call        a chunk's conversations (--chunk pairs) in one RewardEngine.score call (a request with many
 *                   responses)
 *   --http          also the one-at-a-time and concurrent runs through POST /v1/score on a local server
 *   --shared        instead of the above: shared-prompt scoring, sharing off vs on (bench/lib/score-shared.ts):
 *                   requests of 8 responses of 64-200 tokens to a ~1,000-token prompt (target >= 3x)
 *
 * Prints the conversation and prompt lengths (tokens), pairs/s per mode, forward passes and rows per pass,
 * and the ratio concurrent / one at a time (target >= 4x). Not a test: figures depend on the machine and
 * on its load.
 *
 * Flags: --model DIR (default models/reward, built if missing), --pairs N per length profile (256),
 *        --lengths short,medium[,long] (conversation length profiles, see PROFILES), --concurrency N (16),
 *        --repeat N (rounds, 3), --chunk N (pairs per interleaving step and per 'one call', 64),
 *        --threads N (ONNX Runtime intra-op threads; 0 = its default), --http,
 *        --shared (with --repeat rounds, --chunk N requests per round: default 2),
 *        --runtime native|js (the reward worker's runtime: ONNX Runtime's C API, or the onnxruntime-node
 *        session kept for comparison; `npm run bench` compares the two), --provider cpu|cuda.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { RewardEngine } from '../src/scoring/reward-engine.ts';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type RewardModel } from '../src/server/deps.ts';
import { loadTokenizer, type TextTokenizer } from '../src/tokenizer/index.ts';
import { makePairs, pool, PROFILES, type Pair } from './lib/score-pairs.ts';
import { runSharedScoreCompare } from './lib/score-shared.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join('models', 'reward') },
    pairs: { type: 'string', default: '256' },
    concurrency: { type: 'string', default: '16' },
    lengths: { type: 'string', default: 'short,medium' },
    repeat: { type: 'string', default: '3' },
    chunk: { type: 'string', default: '64' },
    threads: { type: 'string', default: '0' },
    http: { type: 'boolean', default: false },
    shared: { type: 'boolean', default: false },
    runtime: { type: 'string', default: 'native' },
    provider: { type: 'string', default: 'cpu' },
  },
});
const modelDir = values.model!;
const pairCount = Number(values.pairs);
const concurrency = Number(values.concurrency);
const threads = Number(values.threads);
const repeat = Math.max(1, Number(values.repeat));
const chunk = Math.max(1, Number(values.chunk));
const runtime = values.runtime as 'native' | 'js';
const provider = values.provider as 'cpu' | 'cuda';
if (!['native', 'js'].includes(runtime) || !['cpu', 'cuda'].includes(provider)) {
  console.error(`--runtime is native or js, --provider cpu or cuda (got ${runtime}, ${provider})`);
  process.exit(2);
}
const profileNames = values.lengths!.split(',').map((x) => x.trim()).filter(Boolean);

if (!existsSync(join(modelDir, 'config.json')) && modelDir === join('models', 'reward')) {
  console.log('building the default models (once)…');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-models.ts', '--only', 'reward', '--if-missing'], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
if (!existsSync(join(modelDir, 'config.json')) && !existsSync(join(modelDir, 'genai_config.json'))) {
  console.error(`reward model folder not found: ${modelDir}`);
  process.exit(2);
}

if (values.shared) {
  const requests = values.chunk === '64' ? 2 : chunk;
  const f = await runSharedScoreCompare({ modelDir, requests, rounds: repeat, threads, provider, progress: (m) => console.log(m) });
  if (!f.available) console.log(`not available: ${f.note}`);
  else {
    console.log(`prompt ${f.promptTokens} tokens, responses ${f.responseTokens!.min}-${f.responseTokens!.max} tokens; ${f.sharedTokensPerRequest} prompt tokens not recomputed per request`);
    console.log(`sharing off / on: ${f.ratio!.toFixed(2)}x (median of per-round ratios; target >= 3x); largest score difference ${f.maxScoreDiff!.toExponential(1)}`);
  }
  process.exit(0);
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]}, median ${s[Math.floor(s.length / 2)]}, max ${s.at(-1)}`;
};

// ---- the runs ----------------------------------------------------------------------------------------

let passes = 0;
let passRows = 0;

/** Pairs, seconds and forward passes a mode has accumulated. */
interface Tally {
  pairs: number;
  seconds: number;
  passes: number;
  rows: number;
}

/** The worker reports a pass after answering its requests: lets the last reports arrive. */
const settle = () => new Promise((r) => setTimeout(r, 20));

/** Times one run of a mode over `pairs` into `t`. */
async function timed(t: Tally, pairs: Pair[], run: () => Promise<unknown>): Promise<void> {
  await settle();
  passes = 0;
  passRows = 0;
  const t0 = performance.now();
  await run();
  t.seconds += (performance.now() - t0) / 1000;
  await settle();
  t.pairs += pairs.length;
  t.passes += passes;
  t.rows += passRows;
}

/** A local server (buildApp) serving the engine as the reward model, and a /v1/score form-2 poster. */
async function httpServer(engine: RewardEngine, tok: TextTokenizer) {
  const ctx = engine.spec.contextLength;
  const model: RewardModel = { id: basename(modelDir), task: 'reward', scorer: engine, tokenizer: tok, contextLength: ctx, maxScoreTokens: ctx, root: modelDir, created: 0 };
  const app = buildApp({ models: [model], limits: DEFAULT_SERVER_LIMITS, isReady: () => true, logger: false, version: 'bench' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/score`;
  const post = async (p: Pair) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: model.id, messages: [{ role: 'user', content: p.prompt }], responses: p.replies }),
    });
    if (!r.ok) throw new Error(`/v1/score answered ${r.status}: ${await r.text()}`);
    await r.json();
  };
  return { post, close: () => app.close() };
}

type Mode = { name: string; run: (pairs: Pair[]) => Promise<unknown> };

function modes(engine: RewardEngine, post?: (p: Pair) => Promise<void>): Mode[] {
  const list: Mode[] = [
    { name: 'one at a time', run: (ps) => pool(ps, 1, (p) => engine.score(p.items)) },
    { name: `concurrent (${concurrency} req x 2)`, run: (ps) => pool(ps, concurrency, (p) => engine.score(p.items)) },
    { name: `one call (${chunk} pairs)`, run: (ps) => engine.score(ps.flatMap((p) => p.items)) },
  ];
  if (post) {
    list.push({ name: 'HTTP one at a time', run: (ps) => pool(ps, 1, post) });
    list.push({ name: `HTTP concurrent (${concurrency} req)`, run: (ps) => pool(ps, concurrency, post) });
  }
  return list;
}

/**
 * Every mode on the same pairs. The pairs are cut into chunks of `chunk`; each chunk is scored by every
 * mode in turn (order rotated per chunk), `repeat` times over, so load from elsewhere on the machine
 * falls on all modes alike rather than on whichever ran during a spike. pairs/s = pairs / summed time.
 */
async function benchProfile(name: string, pairs: Pair[], list: Mode[]): Promise<Record<string, number>> {
  const conv = pairs.flatMap((p) => p.items.map((i) => i.length));
  console.log(`\n[${name}] ${pairs.length} pairs (${conv.length} conversations): tokens per conversation ${stats(conv)}; prompt (templated user turn) ${stats(pairs.map((p) => p.promptTokens))}`);
  for (const m of list) await m.run(pairs.slice(0, chunk)); // warm-up: shapes, allocations
  const tallies = new Map(list.map((m) => [m.name, { pairs: 0, seconds: 0, passes: 0, rows: 0 } as Tally]));
  let turn = 0;
  for (let r = 0; r < repeat; r++) {
    for (let at = 0; at < pairs.length; at += chunk, turn++) {
      const part = pairs.slice(at, at + chunk);
      for (let k = 0; k < list.length; k++) {
        const m = list[(k + turn) % list.length]!;
        await timed(tallies.get(m.name)!, part, () => m.run(part));
      }
    }
  }
  const pps: Record<string, number> = {};
  for (const m of list) {
    const t = tallies.get(m.name)!;
    pps[m.name] = t.pairs / t.seconds;
    console.log(`  ${m.name.padEnd(30)} ${pps[m.name]!.toFixed(1).padStart(8)} pairs/s   ${(t.rows / t.passes).toFixed(1).padStart(5)} rows/pass`);
  }
  const one = pps['one at a time']!;
  console.log(`  batched vs one at a time: concurrent ${(pps[list[1]!.name]! / one).toFixed(2)}x, one call ${(pps[list[2]!.name]! / one).toFixed(2)}x (target >= 4x)`);
  if (list.length > 3) console.log(`  HTTP concurrent vs HTTP one at a time: ${(pps[list[4]!.name]! / pps['HTTP one at a time']!).toFixed(2)}x`);
  return pps;
}

for (const name of profileNames) {
  if (!PROFILES[name]) {
    console.error(`unknown --lengths profile '${name}' (have ${Object.keys(PROFILES).join(', ')})`);
    process.exit(2);
  }
}
const tok = await loadTokenizer(modelDir);
const engine = await RewardEngine.start({ modelDir, exec: { provider, scoreRuntime: runtime, ...(threads > 0 ? { intraOpThreads: threads } : {}) } });
engine.onBatch = (b) => {
  passes++;
  passRows += b.rows;
};
const server = values.http ? await httpServer(engine, tok) : undefined;
console.log(
  `reward model ${modelDir} (${engine.spec.numLayers} layers, ${engine.provider}, ${runtime} runtime); ${pairCount} pairs per profile, ${repeat} rounds, modes interleaved per chunk of ${chunk} pairs; ` +
    `a pair = a prompt + 2 replies; "one at a time" = each pair alone (one score call of 2), sequentially`,
);
const results: Array<{ profile: string } & Record<string, number | string>> = [];
for (const name of profileNames) {
  const pps = await benchProfile(name, makePairs(tok, pairCount, PROFILES[name]!), modes(engine, server?.post));
  results.push({ profile: name, ...Object.fromEntries(Object.entries(pps).map(([k, v]) => [k, Number(v.toFixed(1))])) });
}
await server?.close();
await engine.close();
console.log('\npairs/s:');
console.table(results);
