/**
 * Turns run results into the target verdicts, docs/BENCHMARKS.md and the throughput chart. Pure
 * functions of the JSON results, so the docs can be regenerated from bench/latest/*.json at any time.
 */
import type { LevelResult } from './load.ts';
import { median } from './stats.ts';
import { lineChart, type ChartSeries } from './svg.ts';
import { sharedScoreLine, sharedScoreRatio } from './score-shared.ts';
import { prefixHeadlines } from './prefix-section.ts';
import { RESULT_SCHEMA, type BenchResult, type RawFigure, type TargetResult, type TjsFigure } from './types.ts';

const level = (r: BenchResult, c: number): LevelResult | undefined => r.http.levels.find((l) => l.concurrency === c);
const raw = (r: BenchResult, batch: number): RawFigure | undefined => r.raw.runs.find((x) => x.batch === batch && x.label.startsWith('batch'));
const tjsOf = (r: BenchResult): TjsFigure | undefined => ('error' in r.tjs ? undefined : r.tjs);

/**
 * A ratio between two runners. With per-round figures (measured side by side in each round) it is the
 * median of the per-round ratios: a paired comparison that survives the machine's load changing between
 * rounds. Otherwise the ratio of the two headline figures.
 */
export function pairedRatio(a: number[] | undefined, b: number[] | undefined, fallbackA?: number, fallbackB?: number): { figure: number; rounds?: number[] } {
  const n = Math.min(a?.length ?? 0, b?.length ?? 0);
  if (n > 0) {
    const rounds = Array.from({ length: n }, (_, i) => a![i]! / b![i]!);
    return { figure: median(rounds), rounds };
  }
  return { figure: fallbackA !== undefined && fallbackB !== undefined && fallbackB > 0 ? fallbackA / fallbackB : NaN };
}

function target(id: string, what: string, r: { figure: number; rounds?: number[] }, op: '>=' | '<=', bound: number, unit = 'x'): TargetResult {
  const f = r.figure;
  const met = Number.isFinite(f) ? (op === '>=' ? f >= bound : f <= bound) : null;
  return { id, what, figure: f, target: `${op} ${bound}${unit === 'x' ? 'x' : ` ${unit}`}`, met, ...(r.rounds ? { rounds: r.rounds } : {}) };
}

/** A ratio shown for context, with no target (met is null). */
function info(id: string, what: string, r: { figure: number; rounds?: number[] }): TargetResult {
  return { id, what, figure: r.figure, target: '–', met: null, ...(r.rounds ? { rounds: r.rounds } : {}) };
}

/**
 * The acceptance targets of the issue "Device-resident KV cache", evaluated on one run (ratios paired by
 * round: each round measures both sides of a ratio one after the other).
 */
export function evaluateTargets(r: BenchResult): TargetResult[] {
  const c1 = level(r, 1);
  const c16 = level(r, 16);
  const raw1 = raw(r, 1);
  const raw16 = raw(r, 16);
  const ctx = (n: number) => r.context.find((c) => c.context === n);
  const sc = r.score.compare;
  const el = r.http.eventLoop['16']?.p99Ms;
  return [
    target('single-vs-raw', 'HTTP single stream / raw onnxruntime-node loop (batch 1), tokens/s', pairedRatio(c1?.waveTokensPerSecond, raw1?.repTokensPerSecond, c1?.tokensPerSecond, raw1?.tokensPerSecond), '>=', 1.1),
    target('16-vs-raw16', 'HTTP 16 streams aggregate / raw onnxruntime-node loop (batch 16), tokens/s', pairedRatio(c16?.waveTokensPerSecond, raw16?.repTokensPerSecond, c16?.tokensPerSecond, raw16?.tokensPerSecond), '>=', 1.05),
    target('ctx-2048-vs-128', 'decode time per token, context 2048 / context 128 (HTTP single stream)', pairedRatio(ctx(2048)?.httpDecodeMsRounds, ctx(128)?.httpDecodeMsRounds, ctx(2048)?.httpDecodeMs, ctx(128)?.httpDecodeMs), '<=', 1.25),
    target('score-native-vs-js', `reward scoring pairs/s, native runtime / onnxruntime-node session (\`--score-runtime js\`), ${sc?.concurrency ?? 16} pairs in flight, same pairs`, pairedRatio(sc?.native.concurrent, sc?.js.concurrent), '>=', 1.3),
    target('event-loop-p99', 'server main-thread event-loop delay p99 under 16 streams', { figure: el ?? NaN }, '<=', 20, 'ms'),
    ...prefixTargets(r),
    ...(r.sharedScore ? [target('score-shared-prompt', '(issue "Prefix caching") /v1/score of 8 responses (64-200 tokens) to a 1,000-token prompt, seconds per request, sharing off / on', sharedScoreRatio(r.sharedScore), '>=', 3)] : []),
  ];
}

/** The prefix-caching issue's targets (absent from runs that skipped the section or predate it). */
function prefixTargets(r: BenchResult): TargetResult[] {
  if (!r.prefix) return [];
  const h = prefixHeadlines('error' in r.prefix ? undefined : r.prefix);
  return [
    target('prefix-ttft', 'TTFT of a request sharing a 2,048-token prefix with the one before (32-token suffix) / TTFT of that first request', { figure: h.ttftRatio, rounds: h.ttftRounds }, '<=', 0.2),
    target('chat-replay-prefill', 'prompt tokens computed over a 10-turn chat replayed turn by turn, with caching / without', { figure: h.computedShare }, '<=', 0.3),
  ];
}

/** Other ratios of the same run, for context (no targets). */
export function informationalRatios(r: BenchResult): TargetResult[] {
  const c1 = level(r, 1);
  const c16 = level(r, 16);
  const raw1 = raw(r, 1);
  const raw16 = raw(r, 16);
  const tjs = tjsOf(r);
  const sc = r.score.compare;
  return [
    info('16-vs-single', 'HTTP 16 streams aggregate / HTTP single stream, tokens/s', pairedRatio(c16?.waveTokensPerSecond, c1?.waveTokensPerSecond, c16?.tokensPerSecond, c1?.tokensPerSecond)),
    info('raw16-vs-raw1', 'raw loop batch 16 / raw loop batch 1, tokens/s (what batching gives without a server)', pairedRatio(raw16?.repTokensPerSecond, raw1?.repTokensPerSecond, raw16?.tokensPerSecond, raw1?.tokensPerSecond)),
    info('score-native-vs-js-single', 'reward scoring pairs/s one pair at a time, native runtime / onnxruntime-node session', pairedRatio(sc?.native.oneAtATime, sc?.js.oneAtATime)),
    info('single-vs-tjs', 'HTTP single stream / transformers.js one request, tokens/s', pairedRatio(c1?.waveTokensPerSecond, tjs?.singleRoundsTokensPerSecond, c1?.tokensPerSecond, tjs?.singleTokensPerSecond)),
    info('16-vs-tjs', 'HTTP 16 concurrent / transformers.js serving 16 one after another, tokens/s', pairedRatio(c16?.waveTokensPerSecond, tjs?.shareTokensPerSecond, c16?.tokensPerSecond, tjs?.sequentialTokensPerSecond)),
  ];
}

const f1 = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const f2 = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(2));
const mib = (b: number | null | undefined) => (b ? `${(b / 2 ** 20).toFixed(0)} MiB` : '–');
const gbs = (b: number | undefined) => (b ? `${(b / 1e9).toFixed(1)} GB/s` : '–');

/** Tokens/s against concurrency for us and the baselines. */
export function throughputChart(r: BenchResult): string {
  const tjs = tjsOf(r);
  const series: ChartSeries[] = [
    { name: 'this server (HTTP, streaming)', color: '#1f77b4', points: r.http.levels.map((l) => ({ x: l.concurrency, y: l.tokensPerSecond })) },
    {
      name: 'raw onnxruntime loop',
      color: '#2ca02c',
      points: r.raw.runs.filter((x) => x.label.startsWith('batch')).map((x) => ({ x: x.batch, y: x.tokensPerSecond, label: `raw loop batch ${x.batch}: ${f1(x.tokensPerSecond)} tok/s` })),
    },
  ];
  if (tjs) {
    series.push({
      name: 'transformers.js (no batching)',
      color: '#d62728',
      points: [
        { x: 1, y: tjs.singleTokensPerSecond, label: `transformers.js one request: ${f1(tjs.singleTokensPerSecond)} tok/s` },
        { x: tjs.requests, y: tjs.sequentialTokensPerSecond, label: `transformers.js ${tjs.requests} requests one after another: ${f1(tjs.sequentialTokensPerSecond)} tok/s` },
      ],
    });
  }
  if (r.roofline) {
    series.push({ name: 'batch-1 bandwidth roofline', color: '#7f7f7f', dashed: true, points: [{ x: 1, y: r.roofline.tokensPerSecond }] });
  }
  const m = r.machine;
  return lineChart({
    title: `Output tokens/s vs concurrency (${r.mode}, model ${r.model.dir})`,
    subtitle: `${m.gpu ?? m.cpuModel}, ${m.cpus} CPUs; prompt ${r.config.promptTokens}, output ${r.config.outputTokens} tokens, greedy`,
    xLabel: 'concurrent streams (raw loop: batch size)',
    yLabel: 'output tokens/s (aggregate)',
    series,
  });
}

function machineSection(r: BenchResult): string[] {
  const m = r.machine;
  return [
    `- CPU: ${m.cpuModel}, ${m.cpus} logical CPUs; memory ${m.memoryGiB} GiB; ${m.os}${m.gpu ? `; GPU: ${m.gpu}` : ''}`,
    `- Node ${m.node}, onnxruntime-node ${m.onnxruntimeNode}, @huggingface/transformers ${m.transformersJs ?? '–'}; provider ${r.config.provider}, ONNX Runtime threads ${r.config.threads || 'default'}`,
    `- Model \`${r.model.dir}\`: ${r.model.layers} layers, hidden ${r.model.hidden}, ${(r.model.bytes.parameters / 1e6).toFixed(0)}M parameters, ${r.model.bytes.dtype}, ${mib(r.model.bytes.weightBytes)} of weights`,
    `- Run: ${r.startedAt}, ${(r.durationSeconds / 60).toFixed(1)} min; load average (1 min) ${m.loadAvgStart[0]} at the start, ${r.loadAvgEnd[0]} at the end` +
      ` (${m.cpus} CPUs: other work on the machine skews every figure)`,
    `- Prompt ${r.config.promptTokens} tokens, output ${r.config.outputTokens} tokens per request (ignore_eos, greedy); server flags \`${r.config.serverArgs.join(' ')}\``,
  ];
}

function levelTable(r: BenchResult): string[] {
  const rows = [
    '| streams | requests | output tok/s (aggregate) | per stream tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | TPOT p50 ms | end-to-end p50 / p99 s | server peak RSS | event-loop p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const l of r.http.levels) {
    const el = r.http.eventLoop[String(l.concurrency)];
    rows.push(
      `| ${l.concurrency} | ${l.requests}${l.errors.length ? ` (${l.errors.length} failed)` : ''} | **${f1(l.tokensPerSecond)}** | ${f1(l.perStreamTokensPerSecond)} | ` +
        `${f1(l.ttftMs.p50)} / ${f1(l.ttftMs.p99)} | ${f1(l.itlMs.p50)} / ${f1(l.itlMs.p99)} | ${f1(l.tpotMs.p50)} | ` +
        `${f2(l.e2eMs.p50 / 1000)} / ${f2(l.e2eMs.p99 / 1000)} | ${mib(l.serverPeakRssBytes)} | ${el ? f1(el.p99Ms) : '–'} |`,
    );
  }
  return rows;
}

function baselineTable(r: BenchResult): string[] {
  const tjs = tjsOf(r);
  const rows = ['| runner | what | output tok/s | notes |', '|---|---|---:|---|'];
  const c1 = level(r, 1);
  const c16 = level(r, 16);
  if (c1) rows.push(`| this server | 1 stream over HTTP | ${f1(c1.tokensPerSecond)} | TTFT p50 ${f1(c1.ttftMs.p50)} ms, ITL p50 ${f1(c1.itlMs.p50)} ms |`);
  if (c16) rows.push(`| this server | 16 streams over HTTP | ${f1(c16.tokensPerSecond)} | end-to-end p50 ${f2(c16.e2eMs.p50 / 1000)} s |`);
  for (const x of r.raw.runs.filter((y) => y.label.startsWith('batch'))) {
    rows.push(`| raw onnxruntime loop | batch ${x.batch}, its own process | ${f1(x.tokensPerSecond)} | median of ${x.reps}; prefill ${f2(x.prefillSeconds)} s, decode step ${f1(x.decodeStepMs)} ms; process peak RSS ${mib(r.raw.peakRssBytes)} |`);
  }
  if (tjs) {
    rows.push(`| transformers.js ${r.machine.transformersJs ?? ''} | 1 request (\`generate\`) | ${f1(tjs.singleTokensPerSecond)} | median of ${tjs.singleRoundsTokensPerSecond.length} rounds; process peak RSS ${mib(tjs.peakRssBytes)} |`);
    rows.push(
      `| transformers.js | ${tjs.requests} requests arriving together, served one after another | ${f1(tjs.sequentialTokensPerSecond)} | ` +
        `TTFT p50 / p99 ${f2(tjs.ttftMs.p50 / 1000)} / ${f2(tjs.ttftMs.p99 / 1000)} s, end-to-end p99 ${f2(tjs.e2eMs.p99 / 1000)} s |`,
    );
  } else if ('error' in r.tjs) {
    rows.push(`| transformers.js | – | – | failed: ${r.tjs.error.slice(0, 200)} |`);
  }
  if (r.roofline) rows.push(`| roofline | batch-1 decode, memory bandwidth bound | ${f1(r.roofline.tokensPerSecond)} | ${r.roofline.note} |`);
  return rows;
}

function targetRows(list: readonly TargetResult[]): string[] {
  const rows = ['| target | figure | wanted | met | per round |', '|---|---:|---:|:---:|---|'];
  for (const t of list) {
    const unit = t.target.endsWith('ms') ? ' ms' : 'x';
    rows.push(`| ${t.what} | ${f2(t.figure)}${unit} | ${t.target} | ${t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'} | ${t.rounds?.map(f2).join(', ') ?? ''} |`);
  }
  return rows;
}

function ratioRows(list: readonly TargetResult[]): string[] {
  return ['| ratio | figure | per round |', '|---|---:|---|', ...list.map((t) => `| ${t.what} | ${f2(t.figure)}x | ${t.rounds?.map(f2).join(', ') ?? ''} |`)];
}

/** GPU decode figures; every one "not measured" on a CPU run. */
function deviceRows(r: BenchResult): string[] {
  const d = r.device;
  if (!d) return [];
  const nm = 'not measured (CPU run)';
  const ms = (x: number | undefined) => (d.measured ? `${f2(x)} ms` : nm);
  const rows = ['| figure | value | how |', '|---|---:|---|'];
  rows.push(`| decode step, batch 1 | ${ms(d.stepMsBatch1)} | HTTP 1 stream, ITL p50 (1000 / per-stream tok/s, prefill included: ${d.measured ? `${f2(d.perStreamMsBatch1)} ms` : '–'}); raw loop ${d.measured ? `${f2(d.rawStepMsBatch1)} ms` : '–'} |`);
  rows.push(`| decode step, batch 16 | ${ms(d.stepMsBatch16)} | HTTP 16 streams, ITL p50 (1000 / per-stream tok/s: ${d.measured ? `${f2(d.perStreamMsBatch16)} ms` : '–'}); raw loop ${d.measured ? `${f2(d.rawStepMsBatch16)} ms` : '–'} |`);
  rows.push(
    d.measured
      ? `| HBM roofline, batch 1 | ${f2(d.rooflineMs)} ms | ${mib(r.model.bytes.bytesPerToken)} of weights per step / ${d.bandwidthSource} |`
      : `| HBM roofline, batch 1 | ${nm} | on \`--gpu\`: weights read per step / ${d.bandwidthSource} |`,
  );
  rows.push(`| batch-1 decode as % of the roofline | ${d.measured ? `${f1(d.rooflinePercent)}%` : nm} | roofline ms / decode step ms |`);
  return rows;
}

function contextRows(r: BenchResult): string[] {
  const rows = ['| context (prompt tokens) | this server: ms per token | raw loop: ms per decode step | server TTFT (prefill) s | raw prefill s |', '|---:|---:|---:|---:|---:|'];
  for (const c of r.context) rows.push(`| ${c.context} | ${f1(c.httpDecodeMs)} | ${f1(c.rawDecodeMs)} | ${f2(c.httpTtftMs / 1000)} | ${f2(c.rawPrefillSeconds)} |`);
  return rows;
}

function otherRows(r: BenchResult): string[] {
  const out: string[] = [];
  const b = r.bandwidth;
  if (b) {
    out.push(
      `- Memory copy bandwidth (Buffer.copy of ${mib(b.bufferBytes)}): ${gbs(b.copyOneThread)} copied on one thread, ${gbs(b.copyAllThreads)} on ${b.threads} threads; ` +
        `memory traffic ${gbs(b.trafficBytesPerSecond)} (read + write, STREAM's convention).`,
    );
  }
  if (r.roofline) {
    out.push(
      `- Roofline: a batch-1 decode step reads ${mib(r.model.bytes.bytesPerToken)} of weights (all but the embedding table, of which one row) → ` +
        `${f1(r.roofline.msPerToken)} ms per token at best, ${f1(r.roofline.tokensPerSecond)} tokens/s. ` +
        `Raw loop batch 1 decode step: ${f1(raw(r, 1)?.decodeStepMs)} ms (median; best round's median ${f1(r.raw.bestDecodeStepMs)} ms, i.e. ` +
        `${f1(r.raw.bestDecodeStepMs ? r.model.bytes.bytesPerToken / (r.raw.bestDecodeStepMs / 1000) / 1e9 : NaN)} GB/s of weights read); this server: ITL p50 ${f1(level(r, 1)?.itlMs.p50)} ms.` +
        ((r.raw.bestDecodeStepMs ?? Infinity) < r.roofline.msPerToken
          ? ' The raw loop beat the roofline in its best round: a copy understates the read bandwidth a decode step gets (or the copy ran during a load burst), so take the roofline as a floor of the limit.'
          : ''),
    );
  }
  out.push(`- Server memory: ${mib(r.http.idleRssBytes)} resident after loading, ${mib(r.http.peakRssBytes)} peak (VmHWM, whole life, model worker thread included).`);
  const el = r.http.eventLoop['16'];
  if (el) {
    out.push(
      `- Event-loop delay under 16 streams: p50 ${f1(el.p50Ms)} ms, p99 ${f1(el.p99Ms)} ms, max ${f1(el.maxMs)} ms — perf_hooks.monitorEventLoopDelay at ${el.resolutionMs} ms ` +
        `resolution, preloaded into the server process (bench/lib/server-probe.mjs), interval minus resolution. The server's own ` +
        `\`nemotron_nodejs_eventloop_lag_p99_seconds\` (prom-client, 10 ms sampling, reset at each scrape, interval not minus resolution) read ${f1(el.promP99Ms)} ms over the same window.`,
    );
  }
  out.push(scoreLine(r));
  if (r.sharedScore) out.push(sharedScoreLine(r.sharedScore));
  const tjs = tjsOf(r);
  if (tjs) {
    out.push(
      `- transformers.js check: ${tjs.kvCheck.runCalls} session runs for ${tjs.outputTokens} tokens (prompt step width ${tjs.kvCheck.prefillWidth}, then widths ${tjs.kvCheck.decodeWidths.join(',')} over a past that ` +
        `${tjs.kvCheck.pastGrows ? 'grows by one each step' : 'does NOT grow'}): ${tjs.kvCheck.usesKvCache ? 'it uses the KV cache' : 'it does NOT use the KV cache'}; ` +
        `its greedy tokens ${tjs.sameTokensAsRawLoop === null ? 'were not compared' : tjs.sameTokensAsRawLoop ? 'equal' : 'DIFFER from'} the raw loop's on the same prompt (same onnx/model.onnx). Model load ${f1(tjs.loadSeconds)} s.`,
    );
  }
  if (r.gpuCopy && !('error' in r.gpuCopy)) {
    const who = r.schema === 1 ? 'streams (the onnxruntime-node engine)' : 'raw onnxruntime-node loop batch';
    for (const k of r.gpuCopy.kvShare) {
      out.push(`- GPU, ${r.schema === 1 ? `${k.concurrency} ${who}` : `${who} ${k.concurrency}`}: KV cache host↔device copy ≈ ${f1(k.copyMs)} ms of a ${f1(k.stepMs)} ms decode step (${(k.share * 100).toFixed(0)}%), ${mib(k.kvBytesPerStep)} moved per step.`);
    }
  }
  for (const n of r.notes) out.push(`- ${n}`);
  return out;
}

/** The scoring line: native vs js runtime (schema 2), or bench/score.ts's modes (schema 1). */
function scoreLine(r: BenchResult): string {
  const s = r.score;
  if (!s.available) return `- Reward scoring: not measured (${s.note}).`;
  const c = s.compare;
  if (!c) {
    return `- Reward scoring (bench/score.ts on models/reward): ${Object.entries(s.pairsPerSecond).map(([k, v]) => `${k} ${f1(v)} pairs/s`).join(', ')}` + (s.ratio !== undefined ? `; batched / one at a time ${f2(s.ratio)}x.` : '.');
  }
  const pps = (rt: 'native' | 'js') => `${f1(median(c[rt].concurrent))} pairs/s with ${c.concurrency} in flight, ${f1(median(c[rt].oneAtATime))} one at a time`;
  return (
    `- Reward scoring, two RewardEngines side by side in the bench process (${s.note}): native runtime ${pps('native')}; ` +
    `onnxruntime-node session ${pps('js')} (medians over rounds). Largest score difference between the two on the same conversations: ${c.maxScoreDiff === 0 ? '0 (identical)' : c.maxScoreDiff.toExponential(1)}.`
  );
}

/** The prefix-caching section's figures, per round. */
function prefixRows(p: NonNullable<BenchResult['prefix']>): string[] {
  if ('error' in p) return [`Not measured: ${p.error}`];
  const s = p.sharedPrefix;
  const c = p.chatReplay;
  const sent = c.promptTokens.reduce((a, b) => a + b, 0);
  const cached = c.cachedTokens.reduce((a, b) => a + b, 0);
  return [
    `| round | first request TTFT (${s.prefixTokens} + ${s.suffixTokens} tokens) | second request TTFT (same prefix, new suffix) | tokens cached | second / first |`,
    '|---:|---:|---:|---:|---:|',
    ...s.ratios.map((x, i) => `| ${i + 1} | ${s.firstTtftMs[i]!.toFixed(0)} ms | ${s.secondTtftMs[i]!.toFixed(0)} ms | ${s.cachedTokens[i]} | ${x.toFixed(3)} |`),
    '',
    `Chat replayed over ${c.turns} turns: ${sent} prompt tokens sent, ${cached} served from the cache, ${sent - cached} computed ` +
      `(${(c.computedShare * 100).toFixed(1)}%). Per turn, prompt / cached: ${c.promptTokens.map((n, i) => `${n}/${c.cachedTokens[i]}`).join(', ')}.`,
  ];
}

/** One run's section of BENCHMARKS.md. */
export function runSection(r: BenchResult, chartFile?: string): string[] {
  const old = r.schema !== RESULT_SCHEMA;
  return [
    ...(old ? [`> Recorded with result schema ${r.schema}, before the engine moved to ONNX Runtime's C API: its targets are the earlier issue's, not the device-resident KV cache's.`, ''] : []),
    ...machineSection(r),
    '',
    '### Targets',
    '',
    ...targetRows(r.targets),
    '',
    ...(r.ratios?.length ? ['### Other ratios (informational, no target)', '', ...ratioRows(r.ratios), ''] : []),
    ...(r.device ? ['### GPU decode (device-resident KV cache)', '', ...deviceRows(r), ''] : []),
    '### Streaming over HTTP, by concurrency',
    '',
    ...levelTable(r),
    '',
    '### Baselines (same model files, same run)',
    '',
    ...baselineTable(r),
    '',
    ...(chartFile ? [`![output tokens/s against concurrency](${chartFile})`, ''] : []),
    '### Decode cost against context',
    '',
    ...contextRows(r),
    '',
    ...(r.prefix ? ['### Prefix caching', '', ...prefixRows(r.prefix), ''] : []),
    '### Other figures',
    '',
    ...otherRows(r),
    '',
  ];
}
