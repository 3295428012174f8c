/**
 * `npm run bench`: the server against a raw onnxruntime-node loop and transformers.js on the same model
 * files, and the reward worker's two runtimes against each other, in one run (docs/BENCHMARKS.md says
 * what each figure means; the targets are the issue "Device-resident KV cache"'s). Progress goes to
 * stderr; results go to bench/results/<time>-<mode>.json and bench/latest/<mode>.json, and
 * docs/BENCHMARKS.md and docs/bench-throughput.svg are rewritten from the latest results. Not a test:
 * figures depend on the machine and on what else runs on it.
 *
 * Load on a shared machine drifts by 2x within a minute, so the runners are not measured one after the
 * other: the server, the raw loop and transformers.js each live in their own process for the whole run,
 * and their runs alternate in rounds (raw batch 1, transformers.js, HTTP 1 stream, HTTP 16 streams, raw
 * batch 16, a share of transformers.js's 16 requests; again). Each figure is a median over its rounds, and
 * each target ratio the median of the per-round ratios. Reward scoring alternates the same way: two
 * RewardEngines, `scoreRuntime` native and js, score the same pairs in turn, the order flipped each round.
 *
 * Flags: --quick (every section smaller, < 2 min), --gpu (cuda provider, models/bench-gpu), --model DIR,
 *        --score-model DIR (the scoring comparison's model: models/reward on CPU; on --gpu the bench model,
 *        large enough that the js session's copy of every layer's present KV to the host shows),
 *        --threads N, --levels 1,4,16,64, --prompt N, --tokens N, --skip tjs,context,prefix,score,shared-score,bandwidth,
 *        --no-docs, --docs-only, --server-node-flags="--cpu-prof --cpu-prof-dir=DIR" (profiling).
 * A run with any of --model, --score-model, --threads, --levels, --prompt, --tokens, --skip or
 * --server-node-flags is an experiment: it writes its bench/results file only, not bench/latest or the docs.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readModelFolder } from '../src/runtime/model-loader.ts';
import type { TjsRequestTiming, TjsServeResult } from './baseline-child.ts';
import { BaselineProcess } from './lib/child.ts';
import { saveLatest, writeDocs } from './lib/docs.ts';
import { deviceFigures, kvCopyShares, rawFigureList, tjsFigureOf } from './lib/figures.ts';
import { runScoreCompare } from './lib/score-section.ts';
import { runSharedScoreCompare } from './lib/score-shared.ts';
import { runPrefixSection } from './lib/prefix-section.ts';
import { levelFigures, promptIds, runWave, streamCompletion, type Wave } from './lib/load.ts';
import { kvBytesPerToken, measureGpuCopy, type KvConfig } from './lib/gpu.ts';
import { copyBandwidth, hostRoofline, machineInfo, modelBytes } from './lib/machine.ts';
import { evaluateTargets, informationalRatios } from './lib/report.ts';
import { promGauge, startServer, type EventLoopDelay, type ServerHandle } from './lib/server.ts';
import { median } from './lib/stats.ts';
import type { RawLoopResult } from './raw-loop.ts';
import { RESULT_SCHEMA, type BenchMode, type BenchResult, type ContextFigure, type TjsFigure } from './lib/types.ts';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    gpu: { type: 'boolean', default: false },
    model: { type: 'string' },
    'score-model': { type: 'string' },
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
const mode = `${gpu ? 'gpu' : 'cpu'}${quick ? '-quick' : ''}` as BenchMode;
const skip = new Set(values.skip!.split(',').map((s) => s.trim()).filter(Boolean));
const threads = Number(values.threads);
/**
 * Sizes. Full CPU: ~3-5 minutes on 2 cores, depending on the machine's other load. rounds: rounds of
 * (raw batch 1, transformers.js 1 request, HTTP 1 stream, HTTP 16 streams, raw batch 16, a share of the
 * 16 requests transformers.js serves in turn); ctxRounds: rounds of the context sweep; waves: waves of
 * the other levels (4, 64); scorePairs, scoreRounds: pairs per round and rounds of the scoring comparison.
 */
const preset = quick
  ? { prompt: 16, tokens: 32, levels: [1, 4, 16], rounds: 4, waves: 1, ctxRounds: 2, contexts: [128, 512, 2048], ctxTokens: 16, tjsRequests: 16, scorePairs: 64, scoreRounds: 3 }
  : { prompt: 64, tokens: 128, levels: [1, 4, 16, 64], rounds: 6, waves: 2, ctxRounds: 3, contexts: [128, 512, 2048], ctxTokens: 32, tjsRequests: 16, scorePairs: 192, scoreRounds: 5 };
const P = Number(values.prompt ?? (gpu && !quick ? 128 : preset.prompt));
const N = Number(values.tokens ?? preset.tokens);
const levels = (values.levels ? values.levels.split(',').map(Number) : preset.levels).sort((a, b) => a - b);
/** --gpu builds the bench architecture at GPU size: hidden 2048, 16 layers, float16 (~1.5B parameters). */
const GPU_MODEL_SETS = ['hiddenSize=2048', 'intermediateSize=8192', 'numLayers=16', 'numHeads=32', 'numKvHeads=8', 'dtype=float16'];
const modelDir = resolve(REPO, values.model ?? join('models', gpu ? 'bench-gpu' : 'bench'));
const provider: 'cpu' | 'cuda' = gpu ? 'cuda' : 'cpu';

const t0 = performance.now();
const progress = (msg: string) => process.stderr.write(`[bench +${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const notes: string[] = [];
const rel = (p: string) => relative(REPO, p);

/** Builds one of scripts/build-models.ts's models when it is missing or stale. */
function buildModel(only: string, dir: string, extra: string[] = []): void {
  const args = ['--import', 'tsx', join(REPO, 'scripts', 'build-models.ts'), '--only', only, '--if-missing', ...extra];
  progress(`checking ${rel(dir)} (built if missing)…`);
  const r = spawnSync(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`building ${rel(dir)} failed`);
}

/** Builds the bench model (or its GPU variant) when it is missing or stale. */
function ensureModel(): void {
  if (values.model !== undefined) return;
  buildModel('bench', modelDir, gpu ? [...GPU_MODEL_SETS.flatMap((s) => ['--set', s]), '--as', 'bench-gpu'] : []);
}

interface ModelConfig extends KvConfig {
  eos_token_id: number | number[];
}

// GPU: host↔device copy bandwidth first, as it also checks that the CUDA provider starts at all.
const gpuCopySizes = gpu ? await measureGpuCopy(REPO, progress) : undefined;

ensureModel();
const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as ModelConfig;
const onnxPath = readModelFolder(modelDir).onnxPath;
const modelName = basename(modelDir);
const eos = new Set([config.eos_token_id].flat());
const machine = machineInfo();
progress(`${mode} run on ${machine.gpu ?? machine.cpuModel} (${machine.cpus} CPUs, load ${machine.loadAvgStart[0]}); model ${rel(modelDir)}; prompt ${P}, output ${N}, levels ${levels.join(',')}`);

// ---- bandwidth and roofline (nothing else running yet) --------------------------------------------

const bytes = modelBytes(modelDir, onnxPath);
let bandwidth: BenchResult['bandwidth'] = null;
let roofline: BenchResult['roofline'] = null;
if (!skip.has('bandwidth')) {
  progress('memory copy bandwidth…');
  bandwidth = await copyBandwidth(quick ? 128 * 2 ** 20 : 256 * 2 ** 20);
  if (!gpu) {
    roofline = hostRoofline(bytes.bytesPerToken, bandwidth);
    progress(`  roofline ${roofline.msPerToken.toFixed(1)} ms/token (${roofline.tokensPerSecond.toFixed(1)} tok/s) at batch 1`);
  } else {
    notes.push("No host-memory roofline in GPU mode (host bandwidth says nothing about the device): the GPU decode table compares the batch-1 step with the H200's stated HBM bandwidth.");
  }
}

// ---- the three runners, each in its own process ------------------------------------------------------

const serverArgs = [
  '--model', modelDir,
  '--no-reward-model',
  '--max-num-seqs', String(Math.max(16, ...levels)),
  ...(threads ? ['--threads', String(threads)] : []),
  ...(gpu ? ['--execution-provider', 'cuda'] : []),
];
const shownArgs = serverArgs.map((a) => (a === modelDir ? rel(a) : a));
progress(`starting the server (src/main.ts ${shownArgs.join(' ')}), the raw loop and transformers.js (child processes)…`);
const rawProc = BaselineProcess.start(REPO, 'raw loop');
const tjsProc = skip.has('tjs') ? undefined : BaselineProcess.start(REPO, 'transformers.js');
const nodeFlags = values['server-node-flags']!.split(' ').filter(Boolean);
const [server] = await Promise.all([
  startServer({ repoRoot: REPO, args: serverArgs, nodeFlags }),
  rawProc.call('raw.open', { onnxPath, threads, provider }),
]);
let tjsError: string | undefined;
let tjsLoadSeconds = NaN;
if (tjsProc) {
  try {
    tjsLoadSeconds = (await tjsProc.call<{ loadSeconds: number }>('tjs.open', { modelDir, device: provider, threads })).loadSeconds;
  } catch (err) {
    tjsError = (err as Error).message;
    progress(`transformers.js failed to load: ${tjsError.slice(0, 400)}`);
  }
}
const tjsOk = () => tjsProc !== undefined && tjsError === undefined;
const idleRss = server.memory()?.rss ?? null;
progress(`server ready at ${server.url} (pid ${server.pid}, ${((idleRss ?? 0) / 2 ** 20).toFixed(0)} MiB resident)`);

// ---- helpers ------------------------------------------------------------------------------------------

const rawRuns: Array<RawLoopResult & { label: string }> = [];
async function raw(label: string, batch: number, promptTokens: number, outputTokens: number, seed: number): Promise<RawLoopResult> {
  const r = await rawProc.call<RawLoopResult>('raw.run', { batch, promptTokens, outputTokens, prompt: promptIds(promptTokens, seed) });
  rawRuns.push({ ...r, label });
  progress(`  raw loop ${label}: ${r.tokensPerSecond.toFixed(1)} tok/s (decode step ${median(r.decodeStepMs).toFixed(1)} ms)`);
  return r;
}

const tjsSingles: number[] = [];
/** The 16 requests transformers.js serves one after another (in shares, between the other runners' runs). */
const tjsSixteen: TjsRequestTiming[] = [];
let tjsCalls: TjsServeResult['calls'] = [];
/** Per round: tokens/s of the share of the 16 served in that round. */
const tjsShares: number[] = [];
async function tjsServe(prompts: number[][]): Promise<TjsServeResult | undefined> {
  if (!tjsOk()) return undefined;
  try {
    const r = await tjsProc!.call<TjsServeResult>('tjs.serve', { prompts, outputTokens: N });
    return r;
  } catch (err) {
    tjsError = (err as Error).message;
    progress(`transformers.js failed: ${tjsError.slice(0, 400)}`);
    return undefined;
  }
}

const waves = new Map<number, Wave[]>();
const rssPeak = new Map<number, number>();
const eventLoop = new Map<number, EventLoopDelay & { promP99Ms: number }>();
let seed = 1000;

async function promP99Ms(s: ServerHandle): Promise<number> {
  const text = await fetch(`${s.url}/metrics`).then((r) => r.text());
  return promGauge(text, 'nemotron_nodejs_eventloop_lag_p99_seconds') * 1000;
}

/** One timed wave of `c` streams, with the server's RSS and event-loop delay over it. */
async function wave(c: number): Promise<Wave> {
  await promP99Ms(server); // a scrape resets prom-client's event-loop histogram
  await server.resetEventLoop();
  const stopRss = server.sampleRss();
  const w = await runWave({ url: server.url, model: modelName, concurrency: c, promptTokens: P, outputTokens: N, promptSeed: (seed += 100) });
  rssPeak.set(c, Math.max(rssPeak.get(c) ?? 0, stopRss()));
  const el = { ...(await server.readEventLoop()), promP99Ms: await promP99Ms(server) };
  const prev = eventLoop.get(c);
  if (!prev || el.p99Ms > prev.p99Ms) eventLoop.set(c, el); // the worst wave's
  waves.set(c, [...(waves.get(c) ?? []), w]);
  const tok = w.timings.reduce((a, t) => a + t.completionTokens, 0);
  const failed = w.timings.filter((t) => t.error);
  progress(`  HTTP ${c} stream(s): ${(tok / w.seconds).toFixed(1)} tok/s, event-loop p99 ${el.p99Ms.toFixed(1)} ms${failed.length ? `, ${failed.length} FAILED: ${failed[0]!.error}` : ''}`);
  return w;
}

/** Untimed: the first steps at a new batch size grow ONNX Runtime's arena. */
async function warmHttp(c: number): Promise<void> {
  await runWave({ url: server.url, model: modelName, concurrency: c, promptTokens: P, outputTokens: 2, promptSeed: (seed += 100) });
}

const context: ContextFigure[] = [];
let prefix: BenchResult['prefix'];
let serverPeak: number | null = null;
try {
  // ---- warm-up ----------------------------------------------------------------------------------------
  progress('warm-up (untimed)…');
  await rawProc.call('raw.run', { batch: 1, promptTokens: P, outputTokens: 3, prompt: promptIds(P, 0) });
  await rawProc.call('raw.run', { batch: 16, promptTokens: P, outputTokens: 3, prompt: promptIds(P, 0) });
  if (tjsOk()) await tjsProc!.call('tjs.serve', { prompts: [promptIds(P, 0)], outputTokens: 3 }).catch(() => undefined);
  for (const c of levels) await warmHttp(c);

  // ---- rounds: single stream and 16 streams, every runner in turn ----------------------------------
  // Each round: raw batch 1, transformers.js 1 request, HTTP 1 stream, HTTP 16 streams, raw batch 16,
  // and the next share of the 16 requests transformers.js serves one after another.
  const tjs16 = Array.from({ length: preset.tjsRequests }, (_, i) => promptIds(P, i));
  const share = Math.ceil(tjs16.length / preset.rounds);
  for (let r = 0; r < preset.rounds; r++) {
    progress(`round ${r + 1}/${preset.rounds}: prompt ${P} → ${N} tokens`);
    if (levels.includes(1)) {
      await raw('batch 1', 1, P, N, 0);
      const t = await tjsServe([promptIds(P, 0)]);
      if (t) {
        tjsSingles.push(t.requests[0]!.generated / t.requests[0]!.seconds);
        progress(`  transformers.js 1 request: ${tjsSingles.at(-1)!.toFixed(1)} tok/s`);
      }
      await wave(1);
    }
    if (levels.includes(16)) {
      await wave(16);
      await raw('batch 16', 16, P, N, 0);
      const part = tjs16.slice(r * share, (r + 1) * share);
      if (part.length) {
        const t = await tjsServe(part);
        if (t) {
          tjsSixteen.push(...t.requests);
          tjsShares.push(t.requests.reduce((a, q) => a + q.generated, 0) / t.requests.reduce((a, q) => a + q.seconds, 0));
          progress(`  transformers.js ${t.requests.length} of the 16 in turn: ${tjsShares.at(-1)!.toFixed(1)} tok/s`);
        }
        if (t && r === 0) tjsCalls = t.calls;
      }
    }
  }

  // ---- the other levels (HTTP only) ---------------------------------------------------------------
  for (const c of levels.filter((x) => x !== 1 && x !== 16)) {
    progress(`${c} streams: ${preset.waves} wave(s)`);
    for (let w = 0; w < preset.waves; w++) await wave(c);
  }

  // ---- decode cost against context: raw and HTTP, in rounds ---------------------------------------
  if (!skip.has('context')) {
    const rounds = new Map<number, { http: number[]; ttft: number[]; raw: number[]; prefill: number[] }>();
    for (let r = 0; r < preset.ctxRounds; r++) {
      for (const ctx of preset.contexts) {
        progress(`context ${ctx}, round ${r + 1}/${preset.ctxRounds}: one stream, ${preset.ctxTokens} tokens`);
        const x = rounds.get(ctx) ?? { http: [], ttft: [], raw: [], prefill: [] };
        // A prompt of its own per context and round: a shorter one is never a cached prefix of a longer one.
        const ctxSeed = 7 + r + ctx;
        const rr = await raw(`context ${ctx}`, 1, ctx, preset.ctxTokens + 1, ctxSeed);
        x.raw.push(median(rr.decodeStepMs));
        x.prefill.push(rr.prefillSeconds);
        const t = await streamCompletion(server.url, { model: modelName, prompt: promptIds(ctx, ctxSeed), max_tokens: preset.ctxTokens, temperature: 0, ignore_eos: true });
        if (t.error) throw new Error(`context ${ctx}: ${t.error}`);
        const gap = median(t.chunkMs.slice(1).map((ms, k) => ms - t.chunkMs[k]!));
        x.http.push(gap);
        x.ttft.push(t.ttftMs);
        progress(`  HTTP: ${gap.toFixed(1)} ms per token, TTFT ${(t.ttftMs / 1000).toFixed(2)} s`);
        rounds.set(ctx, x);
      }
    }
    for (const [ctx, x] of rounds) {
      context.push({
        context: ctx,
        decodeTokens: preset.ctxTokens,
        rounds: x.http.length,
        httpDecodeMs: median(x.http),
        httpTtftMs: median(x.ttft),
        rawDecodeMs: median(x.raw),
        rawPrefillSeconds: median(x.prefill),
        httpDecodeMsRounds: x.http,
        rawDecodeMsRounds: x.raw,
      });
    }
  }
  // ---- prefix caching: a shared 2,048-token prefix, and a 10-turn chat replayed --------------------
  if (!skip.has('prefix')) {
    progress('prefix caching…');
    prefix = await runPrefixSection({ url: server.url, model: modelName, rounds: quick ? 2 : 4, progress }).catch((err: Error) => ({ error: err.message.slice(0, 300) }));
  }
  serverPeak = server.memory()?.hwm ?? null;
} finally {
  const code = await server.stop();
  if (code !== 0) notes.push(`The server exited with code ${code} at the end of the run.`);
}
const rawMem = await rawProc.call<{ hwm: number } | null>('memory').catch(() => null);
const tjsMem = tjsProc ? await tjsProc.call<{ hwm: number } | null>('memory').catch(() => null) : null;
await Promise.all([rawProc.close(), tjsProc?.close()]);

// ---- reward scoring: native runtime vs the onnxruntime-node session, in alternating rounds ----------

const scoreDir = values['score-model'] ? resolve(REPO, values['score-model']) : gpu ? modelDir : join(REPO, 'models', 'reward');
if (!skip.has('score') && !values['score-model'] && !gpu) buildModel('reward', scoreDir);
const score = skip.has('score')
  ? { available: false, note: 'skipped', pairsPerSecond: {} }
  : await runScoreCompare({ modelDir: rel(scoreDir), pairs: preset.scorePairs, rounds: preset.scoreRounds, concurrency: 16, threads, provider, progress }).catch(
      (err: Error) => ({ available: false, note: `failed: ${err.message.slice(0, 300)}`, pairsPerSecond: {} }),
    );

// ---- shared-prompt scoring: 8 responses to a 1,000-token prompt, sharing off vs on, alternating -------
const sharedScore = skip.has('shared-score')
  ? undefined
  : await runSharedScoreCompare({ modelDir: rel(scoreDir), requests: 2, rounds: quick ? 3 : 6, threads, provider, progress }).catch(
      (err: Error) => ({ available: false, note: `failed: ${err.message.slice(0, 300)}` }),
    );

// ---- bandwidth again, now that nothing of ours runs: the machine's load drifts; the better figure counts.
if (bandwidth) {
  const again = await copyBandwidth(bandwidth.bufferBytes);
  if (again.trafficBytesPerSecond > bandwidth.trafficBytesPerSecond) bandwidth = again;
  if (roofline) roofline = hostRoofline(bytes.bytesPerToken, bandwidth);
}

// ---- figures --------------------------------------------------------------------------------------

const httpLevels = levels.filter((c) => waves.has(c)).map((c) => ({ ...levelFigures({ concurrency: c, promptTokens: P, outputTokens: N }, waves.get(c)!), serverPeakRssBytes: rssPeak.get(c) }));
const rawFigures = rawFigureList(rawRuns);

// GPU: what copying the KV cache to the host and back costs each decode step of the raw loop (it does so).
const gpuCopy: BenchResult['gpuCopy'] = gpuCopySizes && {
  sizes: gpuCopySizes,
  kvShare: kvCopyShares({ raw: rawFigures, kvBytesPerToken: kvBytesPerToken(config), promptTokens: P, outputTokens: N, copyBytesPerSecond: gpuCopySizes.at(-1)!.bytesMovedPerSecond }),
};

function tjsFigure(): TjsFigure | { error: string } {
  if (!tjsProc) return { error: 'skipped' };
  if (tjsSixteen.length === 0) return { error: tjsError ?? 'not run (no 16-stream level)' };
  return tjsFigureOf({
    sixteen: tjsSixteen,
    calls: tjsCalls,
    singles: tjsSingles,
    shares: tjsShares,
    rawTokens: rawRuns.find((r) => r.label === 'batch 1')?.row0Tokens,
    eos,
    promptTokens: P,
    outputTokens: N,
    loadSeconds: tjsLoadSeconds,
    peakRssBytes: tjsMem?.hwm ?? null,
  });
}

const eventLoopRecord: BenchResult['http']['eventLoop'] = Object.fromEntries([...eventLoop].map(([c, e]) => [String(c), e]));
const result: BenchResult = {
  schema: RESULT_SCHEMA,
  mode,
  startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
  durationSeconds: (performance.now() - t0) / 1000,
  machine,
  loadAvgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
  model: { dir: rel(modelDir), onnxPath: rel(onnxPath), bytes, layers: config.num_hidden_layers, hidden: config.hidden_size },
  config: { promptTokens: P, outputTokens: N, levels, provider, threads, serverArgs: shownArgs, serverNodeFlags: nodeFlags },
  bandwidth,
  roofline,
  raw: {
    runs: rawFigures,
    peakRssBytes: rawMem?.hwm ?? null,
    bestDecodeStepMs: Math.min(...rawRuns.filter((r) => r.label === 'batch 1').map((r) => median(r.decodeStepMs))),
  },
  tjs: tjsFigure(),
  http: { levels: httpLevels, idleRssBytes: idleRss, peakRssBytes: serverPeak, eventLoop: eventLoopRecord },
  context,
  score,
  ...(sharedScore ? { sharedScore } : {}),
  ...(prefix ? { prefix } : {}),
  ...(gpuCopy ? { gpuCopy } : {}),
  device: deviceFigures({ gpu, gpuName: machine.gpu, levels: httpLevels, raw: rawFigures, bytesPerToken: bytes.bytesPerToken }),
  targets: [],
  notes,
};
result.targets = evaluateTargets(result);
result.ratios = informationalRatios(result);

const resultsDir = join(REPO, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${result.startedAt.replace(/[:.]/g, '-')}-${mode}.json`);
writeFileSync(file, JSON.stringify(result, null, 1) + '\n');
// A run with non-default settings is an experiment: its JSON is kept, the published figures are not replaced.
const custom = [values.model, values['score-model'], values.levels, values.prompt, values.tokens, values['server-node-flags']].some((v) => v) || skip.size > 0 || threads > 0;
if (custom) {
  progress(`wrote ${rel(file)} (non-default settings: bench/latest and docs left as they were)`);
} else {
  saveLatest(REPO, result);
  progress(`wrote ${rel(file)} and bench/latest/${mode}.json`);
  if (!values['no-docs']) for (const f of writeDocs(REPO)) progress(`wrote ${f}`);
}

console.log(`\n${mode} run, ${(result.durationSeconds / 60).toFixed(1)} min, load average ${machine.loadAvgStart[0]} → ${result.loadAvgEnd[0]}`);
console.table(httpLevels.map((l) => ({ streams: l.concurrency, 'tok/s': +l.tokensPerSecond.toFixed(1), 'TTFT p50 ms': +l.ttftMs.p50.toFixed(0), 'ITL p50 ms': +l.itlMs.p50.toFixed(1), 'ITL p99 ms': +l.itlMs.p99.toFixed(1), 'e2e p99 s': +(l.e2eMs.p99 / 1000).toFixed(2) })));
console.table([...result.targets, ...result.ratios].map((t) => ({ target: t.id, figure: +t.figure.toFixed(2), wanted: t.target, met: t.met })));
if (gpu && result.device?.measured) {
  const d = result.device;
  console.log(`GPU decode step: batch 1 ${d.stepMsBatch1?.toFixed(2)} ms, batch 16 ${d.stepMsBatch16?.toFixed(2)} ms; batch 1 at ${d.rooflinePercent?.toFixed(1)}% of the HBM roofline (${d.rooflineMs.toFixed(2)} ms)`);
}
