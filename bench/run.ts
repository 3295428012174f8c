/**
 * `npm run bench`: the server against a raw onnxruntime-node loop and transformers.js on the same model
 * files, in one run (see docs/BENCHMARKS.md for what each figure means). Progress goes to stderr; the
 * results go to bench/results/<time>-<mode>.json and bench/latest/<mode>.json, and docs/BENCHMARKS.md and
 * docs/bench-throughput.svg are rewritten from the latest results. Not a test: figures depend on the
 * machine and on what else runs on it.
 *
 * Flags: --quick (every section smaller, < 2 min), --gpu (cuda provider, models/bench-gpu), --model DIR,
 *        --threads N, --levels 1,4,16,64, --prompt N, --tokens N, --skip raw,tjs,context,score,bandwidth,
 *        --no-docs, --docs-only, --server-node-flags "--cpu-prof --cpu-prof-dir=DIR" (profiling).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readModelFolder } from '../src/runtime/model-loader.ts';
import { runBaselineChild } from './lib/child.ts';
import { writeDocs, saveLatest } from './lib/docs.ts';
import { promptIds, runLevel, streamCompletion, type LevelResult } from './lib/load.ts';
import { copyBandwidth, machineInfo, modelBytes } from './lib/machine.ts';
import { evaluateTargets } from './lib/report.ts';
import { promGauge, startServer, type ServerHandle } from './lib/server.ts';
import { median, summarize } from './lib/stats.ts';
import type { BenchMode, BenchResult, ContextFigure, RawFigure, ScoreFigure, TjsFigure } from './lib/types.ts';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    gpu: { type: 'boolean', default: false },
    model: { type: 'string' },
    threads: { type: 'string', default: '0' },
    levels: { type: 'string' },
    prompt: { type: 'string' },
    tokens: { type: 'string' },
    skip: { type: 'string', default: '' },
    'no-docs': { type: 'boolean', default: false },
    'docs-only': { type: 'boolean', default: false },
    'server-node-flags': { type: 'string', default: '' },
  },
});

if (values['docs-only']) {
  for (const f of writeDocs(REPO)) console.log(`wrote ${f}`);
  process.exit(0);
}

const quick = values.quick!;
const gpu = values.gpu!;
const mode: BenchMode = `${gpu ? 'gpu' : 'cpu'}${quick ? '-quick' : ''}` as BenchMode;
const skip = new Set(values.skip!.split(',').map((s) => s.trim()).filter(Boolean));
const threads = Number(values.threads);
/** Sizes of each mode. Full CPU: ~10 minutes on 2 cores, most of it transformers.js serving 16 requests in turn. */
const preset = quick
  ? { prompt: 16, tokens: 32, levels: [1, 4, 16], waves: { 1: 2 } as Record<number, number>, rawReps: 1, tjsRequests: 16, contexts: [128, 512, 2048], ctxTokens: 12, scorePairs: 16 }
  : { prompt: 64, tokens: 128, levels: [1, 4, 16, 64], waves: { 1: 3, 4: 2 } as Record<number, number>, rawReps: 2, tjsRequests: 16, contexts: [128, 512, 2048], ctxTokens: 32, scorePairs: 48 };
const P = Number(values.prompt ?? (gpu && !quick ? 128 : preset.prompt));
const N = Number(values.tokens ?? preset.tokens);
const levels = values.levels ? values.levels.split(',').map(Number) : preset.levels;
const GPU_MODEL_SETS = ['hiddenSize=2048', 'intermediateSize=8192', 'numLayers=16', 'numHeads=32', 'numKvHeads=8', 'dtype=float16'];
const modelDir = resolve(REPO, values.model ?? join('models', gpu ? 'bench-gpu' : 'bench'));
const provider: 'cpu' | 'cuda' = gpu ? 'cuda' : 'cpu';

const t0 = performance.now();
const progress = (msg: string) => process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const notes: string[] = [];

/** Builds the bench model (or the GPU variant) when it is missing or stale. */
function ensureModel(): void {
  const isPreset = values.model === undefined;
  if (!isPreset) return;
  const args = ['--import', 'tsx', join(REPO, 'scripts', 'build-models.ts'), '--only', 'bench', '--if-missing'];
  if (gpu) args.push(...GPU_MODEL_SETS.flatMap((s) => ['--set', s]), '--as', 'bench-gpu');
  progress(`checking ${relative(REPO, modelDir)} (built if missing)…`);
  const r = spawnSync(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error('building the bench model failed');
}

interface ModelConfig {
  num_hidden_layers: number;
  hidden_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  eos_token_id: number | number[];
  nemotron_onnx?: { dtype?: string };
}

ensureModel();
const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as ModelConfig;
const onnxPath = readModelFolder(modelDir).onnxPath;
const modelName = basename(modelDir);
const eos = new Set([config.eos_token_id].flat());
const machine = machineInfo();
progress(`${mode} run on ${machine.gpu ?? machine.cpuModel} (${machine.cpus} CPUs, load ${machine.loadAvgStart[0]}); model ${relative(REPO, modelDir)}; prompt ${P}, output ${N}, levels ${levels.join(',')}`);

// ---- bandwidth and roofline ----------------------------------------------------------------------

const bytes = modelBytes(modelDir, onnxPath);
let bandwidth: BenchResult['bandwidth'] = null;
let roofline: BenchResult['roofline'] = null;
if (!skip.has('bandwidth')) {
  progress('measuring memory copy bandwidth…');
  bandwidth = await copyBandwidth(quick ? 128 * 2 ** 20 : 256 * 2 ** 20);
  if (!gpu) {
    const s = bytes.bytesPerToken / bandwidth.trafficBytesPerSecond;
    roofline = { tokensPerSecond: 1 / s, msPerToken: s * 1000, note: `${(bytes.bytesPerToken / 2 ** 20).toFixed(0)} MiB per token / ${(bandwidth.trafficBytesPerSecond / 1e9).toFixed(1)} GB/s` };
    progress(`roofline: ${roofline.msPerToken.toFixed(1)} ms/token (${roofline.tokensPerSecond.toFixed(1)} tok/s) at batch 1`);
  } else {
    notes.push('No roofline on GPU: host memory bandwidth says nothing about the device; compare the batch-1 ITL with the GPU memory bandwidth by hand.');
  }
}

// ---- raw onnxruntime loop ------------------------------------------------------------------------

interface RawChildRun { label: string; batch: number; promptTokens: number; outputTokens: number; seconds: number; prefillSeconds: number; decodeStepMs: number[]; row0Tokens: number[] }
let rawRuns: RawChildRun[] = [];
let rawPeak: number | null = null;
const rawFigures: RawFigure[] = [];
if (!skip.has('raw')) {
  progress('raw onnxruntime loop (child process)…');
  const runs = [
    { label: 'batch 1', batch: 1, promptTokens: P, outputTokens: N, prompt: promptIds(P, 0), reps: preset.rawReps },
    { label: 'batch 16', batch: 16, promptTokens: P, outputTokens: N, prompt: promptIds(P, 0) },
    ...(skip.has('context') ? [] : preset.contexts.map((c) => ({ label: `context ${c}`, batch: 1, promptTokens: c, outputTokens: preset.ctxTokens + 1, prompt: promptIds(c, 1) }))),
  ];
  const res = await runBaselineChild<{ runs: RawChildRun[]; memory: { hwm: number } | null }>(REPO, { task: 'raw', onnxPath, threads, provider, runs });
  rawRuns = res.runs;
  rawPeak = res.memory?.hwm ?? null;
  for (const label of [...new Set(rawRuns.map((r) => r.label))]) {
    const rs = rawRuns.filter((r) => r.label === label);
    const first = rs[0]!;
    rawFigures.push({
      label,
      batch: first.batch,
      promptTokens: first.promptTokens,
      outputTokens: first.outputTokens,
      reps: rs.length,
      tokensPerSecond: rs.reduce((a, r) => a + r.batch * r.outputTokens, 0) / rs.reduce((a, r) => a + r.seconds, 0),
      prefillSeconds: median(rs.map((r) => r.prefillSeconds)),
      decodeStepMs: median(rs.flatMap((r) => r.decodeStepMs)),
    });
  }
}

// ---- transformers.js -----------------------------------------------------------------------------

interface TjsChild {
  loadSeconds: number;
  totalSeconds: number;
  requests: Array<{ startedMs: number; seconds: number; tokenMs: number[]; tokens?: number[]; generated: number }>;
  kvCheck: { runCalls: number; prefillWidth: number; decodeWidths: number[]; pastLengths: number[] };
  memory: { hwm: number } | null;
}
let tjs: TjsFigure | { error: string } = { error: 'skipped' };
if (!skip.has('tjs')) {
  progress(`transformers.js: ${preset.tjsRequests} requests arriving together, served one after another (child process)…`);
  try {
    const prompts = Array.from({ length: preset.tjsRequests }, (_, i) => promptIds(P, i));
    const res = await runBaselineChild<TjsChild>(REPO, { task: 'tjs', modelDir, device: provider, prompts, outputTokens: N, threads });
    tjs = tjsFigure(res);
    progress(`transformers.js: ${tjs.singleTokensPerSecond.toFixed(1)} tok/s one request, ${tjs.sequentialTokensPerSecond.toFixed(1)} tok/s for ${tjs.requests} in turn; KV cache used: ${tjs.kvCheck.usesKvCache}; same tokens as the raw loop: ${tjs.sameTokensAsRawLoop}`);
  } catch (err) {
    tjs = { error: (err as Error).message };
    progress(`transformers.js failed: ${(err as Error).message.slice(0, 500)}`);
  }
}

function tjsFigure(res: TjsChild): TjsFigure {
  const reqs = res.requests;
  const pl = res.kvCheck.pastLengths;
  const pastGrows = pl.length > 1 && pl.every((p, i) => p === (i === 0 ? 0 : P + i - 1));
  const generated = reqs.reduce((a, r) => a + r.generated, 0);
  const rawTokens = rawRuns.find((r) => r.label === 'batch 1')?.row0Tokens;
  let same: boolean | null = null;
  if (rawTokens && reqs[0]?.tokens) {
    // transformers.js runs with min_new_tokens (EOS banned); compare up to the raw loop's first EOS.
    const stop = rawTokens.findIndex((t) => eos.has(t));
    const n = stop < 0 ? rawTokens.length : stop;
    same = rawTokens.slice(0, n).every((t, i) => reqs[0]!.tokens![i] === t);
  }
  return {
    requests: reqs.length,
    promptTokens: P,
    outputTokens: N,
    loadSeconds: res.loadSeconds,
    singleTokensPerSecond: median(reqs.map((r) => r.generated / r.seconds)),
    sequentialTokensPerSecond: generated / res.totalSeconds,
    ttftMs: summarize(reqs.map((r) => r.startedMs + r.tokenMs[0]!)),
    itlMs: summarize(reqs.flatMap((r) => r.tokenMs.slice(1).map((ms, k) => ms - r.tokenMs[k]!))),
    e2eMs: summarize(reqs.map((r) => r.startedMs + r.seconds * 1000)),
    kvCheck: {
      runCalls: res.kvCheck.runCalls,
      prefillWidth: res.kvCheck.prefillWidth,
      decodeWidths: res.kvCheck.decodeWidths,
      pastGrows,
      usesKvCache: pastGrows && res.kvCheck.runCalls === N && res.kvCheck.decodeWidths.length === 1 && res.kvCheck.decodeWidths[0] === 1,
    },
    sameTokensAsRawLoop: same,
    peakRssBytes: res.memory?.hwm ?? null,
  };
}

// ---- the server over HTTP ------------------------------------------------------------------------

const serverArgs = [
  '--model', modelDir,
  '--no-reward-model',
  '--max-num-seqs', String(Math.max(16, ...levels)),
  ...(threads ? ['--threads', String(threads)] : []),
  ...(gpu ? ['--execution-provider', 'cuda'] : []),
];
const http: BenchResult['http'] = { levels: [], idleRssBytes: null, peakRssBytes: null, eventLoop: {} };
const context: ContextFigure[] = [];

async function promP99Ms(server: ServerHandle): Promise<number> {
  const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
  return promGauge(text, 'nemotron_nodejs_eventloop_lag_p99_seconds') * 1000;
}

progress(`starting the server: src/main.ts ${serverArgs.map((a) => (a === modelDir ? relative(REPO, a) : a)).join(' ')}`);
const nodeFlags = values['server-node-flags']!.split(' ').filter(Boolean);
const server = await startServer({ repoRoot: REPO, args: serverArgs, nodeFlags });
try {
  http.idleRssBytes = server.memory()?.rss ?? null;
  progress(`server ready at ${server.url} (pid ${server.pid}, ${((http.idleRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB resident)`);
  let seed = 1000;
  for (const c of levels) {
    // Warm-up wave: first steps at a new batch size grow ONNX Runtime's arena; not timed.
    await runLevel({ url: server.url, model: modelName, concurrency: c, waves: 1, promptTokens: P, outputTokens: 2, promptSeed: (seed += 100) });
    await promP99Ms(server); // resets prom-client's histogram
    await server.resetEventLoop();
    const stopRss = server.sampleRss();
    const waves = preset.waves[c] ?? 1;
    progress(`HTTP: ${c} concurrent stream(s), ${waves} wave(s) of prompt ${P} → ${N} tokens…`);
    const l: LevelResult = await runLevel({ url: server.url, model: modelName, concurrency: c, waves, promptTokens: P, outputTokens: N, promptSeed: (seed += 100) });
    l.serverPeakRssBytes = stopRss();
    const el = await server.readEventLoop();
    http.eventLoop[String(c)] = { ...el, promP99Ms: await promP99Ms(server) };
    http.levels.push(l);
    if (l.errors.length) progress(`  ${l.errors.length} request(s) failed: ${l.errors[0]}`);
    progress(
      `  ${l.tokensPerSecond.toFixed(1)} tok/s aggregate; TTFT p50 ${l.ttftMs.p50.toFixed(0)} ms; ITL p50 ${l.itlMs.p50.toFixed(1)} / p99 ${l.itlMs.p99.toFixed(1)} ms; ` +
        `event-loop p99 ${el.p99Ms.toFixed(1)} ms; RSS ${((l.serverPeakRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`,
    );
  }
  if (!skip.has('context')) {
    for (const ctx of preset.contexts) {
      progress(`HTTP: decode at context ${ctx} (one stream, ${preset.ctxTokens} tokens)…`);
      const t = await streamCompletion(server.url, { model: modelName, prompt: promptIds(ctx, 1), max_tokens: preset.ctxTokens, temperature: 0, ignore_eos: true });
      if (t.error) throw new Error(`context ${ctx}: ${t.error}`);
      const gaps = t.chunkMs.slice(1).map((ms, k) => ms - t.chunkMs[k]!);
      const r = rawFigures.find((x) => x.label === `context ${ctx}`);
      context.push({ context: ctx, decodeTokens: preset.ctxTokens, httpDecodeMs: median(gaps), httpTtftMs: t.ttftMs, rawDecodeMs: r?.decodeStepMs ?? NaN, rawPrefillSeconds: r?.prefillSeconds ?? NaN });
      progress(`  ${median(gaps).toFixed(1)} ms per token (raw loop ${r?.decodeStepMs.toFixed(1) ?? '–'} ms), TTFT ${(t.ttftMs / 1000).toFixed(2)} s`);
    }
  }
  http.peakRssBytes = server.memory()?.hwm ?? null;
} finally {
  const code = await server.stop();
  if (code !== 0) notes.push(`The server exited with code ${code} at the end of the run.`);
}

// ---- reward scoring (bench/score.ts) -------------------------------------------------------------

async function scoreSection(): Promise<ScoreFigure> {
  if (skip.has('score')) return { available: false, note: 'skipped', pairsPerSecond: {} };
  progress(`reward scoring: bench/score.ts --pairs ${preset.scorePairs} --repeat 1 --lengths short (child process)…`);
  const args = ['--import', 'tsx', join(REPO, 'bench', 'score.ts'), '--pairs', String(preset.scorePairs), '--repeat', '1', '--lengths', 'short'];
  if (threads) args.push('--threads', String(threads));
  const { code, out } = await new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '';
    p.stdout.on('data', (b: Buffer) => (o += b.toString()));
    p.stderr.on('data', (b: Buffer) => (o += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('exit', (c) => {
      clearTimeout(timer);
      res({ code: c, out: o });
    });
  });
  const pairsPerSecond: Record<string, number> = {};
  for (const m of out.matchAll(/^\s+(\S.*?)\s+([\d.]+) pairs\/s/gm)) pairsPerSecond[m[1]!.trim()] = Number(m[2]);
  const one = pairsPerSecond['one at a time'];
  const batchedKey = Object.keys(pairsPerSecond).find((k) => k.startsWith('concurrent'));
  const batched = batchedKey ? pairsPerSecond[batchedKey] : undefined;
  if (code !== 0 || one === undefined) {
    return { available: false, note: `bench/score.ts exited ${code}: ${out.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`, pairsPerSecond };
  }
  progress(`  ${Object.entries(pairsPerSecond).map(([k, v]) => `${k}: ${v} pairs/s`).join('; ')}`);
  return {
    available: true,
    note: `bench/score.ts, ${preset.scorePairs} pairs of short conversations, 1 round${gpu ? ' (on CPU: score.ts has no provider flag)' : ''}`,
    pairsPerSecond,
    oneAtATime: one,
    batched,
    ratio: batched !== undefined ? batched / one : undefined,
  };
}
const score = await scoreSection();

// ---- GPU: host↔device copies of the KV cache -------------------------------------------------------

let gpuCopy: BenchResult['gpuCopy'];
if (gpu) {
  progress('GPU: host↔device copy bandwidth…');
  try {
    const res = await runBaselineChild<{ sizes: Array<{ bytes: number; roundTripMs: number; bytesMovedPerSecond: number }> }>(REPO, {
      task: 'gpucopy',
      sizesBytes: [16 * 2 ** 20, 64 * 2 ** 20, 256 * 2 ** 20],
    });
    const bw = res.sizes.at(-1)!.bytesMovedPerSecond;
    const elem = config.nemotron_onnx?.dtype === 'float16' ? 2 : 4;
    const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
    const kvPerToken = config.num_hidden_layers * 2 * config.num_key_value_heads * headDim * elem;
    const kvShare = http.levels.map((l) => {
      // Each decode step sends the past in and gets the present back: 2 × the batch's cache, at the mean context.
      const kvBytesPerStep = 2 * l.concurrency * (P + N / 2) * kvPerToken;
      const copyMs = (kvBytesPerStep / bw) * 1000;
      return { concurrency: l.concurrency, kvBytesPerStep, copyMs, stepMs: l.tpotMs.p50, share: copyMs / l.tpotMs.p50 };
    });
    gpuCopy = { sizes: res.sizes, kvShare };
  } catch (err) {
    gpuCopy = { error: (err as Error).message };
  }
}

// ---- results -------------------------------------------------------------------------------------

const result: BenchResult = {
  schema: 1,
  mode,
  startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
  durationSeconds: (performance.now() - t0) / 1000,
  machine,
  loadAvgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
  model: { dir: relative(REPO, modelDir), onnxPath: relative(REPO, onnxPath), bytes, layers: config.num_hidden_layers, hidden: config.hidden_size },
  config: { promptTokens: P, outputTokens: N, levels, provider, threads, serverArgs: serverArgs.map((a) => (a === modelDir ? relative(REPO, a) : a)) },
  bandwidth,
  roofline,
  raw: { runs: rawFigures, peakRssBytes: rawPeak },
  tjs,
  http,
  context,
  score,
  ...(gpuCopy ? { gpuCopy } : {}),
  targets: [],
  notes,
};
result.targets = evaluateTargets(result);

const resultsDir = join(REPO, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${result.startedAt.replace(/[:.]/g, '-')}-${mode}.json`);
writeFileSync(file, JSON.stringify(result, null, 1) + '\n');
saveLatest(REPO, result);
progress(`wrote ${relative(REPO, file)} and bench/latest/${mode}.json`);
if (!values['no-docs']) for (const f of writeDocs(REPO)) progress(`wrote ${f}`);

console.log(`\n${mode} run, ${(result.durationSeconds / 60).toFixed(1)} min, load average ${machine.loadAvgStart[0]} → ${result.loadAvgEnd[0]}`);
console.table(http.levels.map((l) => ({ streams: l.concurrency, 'tok/s': +l.tokensPerSecond.toFixed(1), 'TTFT p50 ms': +l.ttftMs.p50.toFixed(0), 'ITL p50 ms': +l.itlMs.p50.toFixed(1), 'ITL p99 ms': +l.itlMs.p99.toFixed(1), 'e2e p99 s': +(l.e2eMs.p99 / 1000).toFixed(2) })));
console.table(result.targets.map((t) => ({ target: t.id, figure: +t.figure.toFixed(2), wanted: t.target, met: t.met })));
