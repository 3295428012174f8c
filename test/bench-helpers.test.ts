/**
 * The benchmark's pure helpers (percentiles, SSE framing, the SVG chart, target verdicts). The benchmark
 * itself (npm run bench) never runs in npm test: its figures depend on the machine.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { levelFigures, parseSseFrames, promptIds, type StreamTiming } from '../bench/lib/load.ts';
import { evaluateTargets, informationalRatios, pairedRatio, runSection, throughputChart } from '../bench/lib/report.ts';
import { percentile, summarize } from '../bench/lib/stats.ts';
import { escapeXml, lineChart, niceScale } from '../bench/lib/svg.ts';
import { promGauge } from '../bench/lib/server.ts';
import { deviceFigures, H200_HBM_BYTES_PER_SECOND, kvCopyShares, tjsFigureOf } from '../bench/lib/figures.ts';
import { kvBytesPerToken } from '../bench/lib/gpu.ts';
import type { BenchResult } from '../bench/lib/types.ts';

describe('percentile', () => {
  test('interpolates between the closest ranks (numpy default)', () => {
    assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
    assert.equal(percentile([4, 1, 3, 2], 0), 1);
    assert.equal(percentile([4, 1, 3, 2], 100), 4);
    assert.ok(Math.abs(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99) - 9.91) < 1e-9);
    assert.equal(percentile([7], 99), 7);
  });
  test('empty → NaN; out of range → RangeError; input not reordered', () => {
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.throws(() => percentile([1], 101), RangeError);
    const xs = [3, 1, 2];
    percentile(xs, 50);
    assert.deepEqual(xs, [3, 1, 2]);
  });
  test('summarize', () => {
    const s = summarize([10, 20, 30]);
    assert.deepEqual([s.n, s.mean, s.p50, s.min, s.max], [3, 20, 20, 10, 30]);
    assert.ok(Number.isNaN(summarize([]).mean));
  });
});

describe('SSE parsing and level figures', () => {
  test('complete frames come out, the partial one stays', () => {
    const { frames, rest } = parseSseFrames('data: {"a":1}\n\ndata: [DONE]\n\ndata: {"b"');
    assert.deepEqual(frames, ['{"a":1}', '[DONE]']);
    assert.equal(rest, 'data: {"b"');
  });
  test('prompts have the asked length and differ per client', () => {
    assert.equal(promptIds(37, 0).length, 37);
    assert.notDeepEqual(promptIds(8, 0), promptIds(8, 1));
  });
  test('aggregate tokens/s is the median wave; ITL is the gap between chunks; failures are counted apart', () => {
    const t = (chunks: number[], tokens: number, error?: string): StreamTiming => ({
      ttftMs: chunks[0]!, chunkMs: chunks, e2eMs: chunks.at(-1)! + 1, completionTokens: tokens, promptTokens: 4, finishReason: 'length', ...(error ? { error } : {}),
    });
    const l = levelFigures({ concurrency: 2, promptTokens: 4, outputTokens: 3 }, [
      { timings: [t([10, 20, 30], 3), t([10, 25, 40], 3)], seconds: 1 }, // 6 tok/s
      { timings: [t([10, 20, 30], 3), t([5], 0, 'HTTP 500')], seconds: 0.5 }, // 6 tok/s
      { timings: [t([10, 20, 30], 3), t([10, 20, 30], 3)], seconds: 0.5 }, // 12 tok/s
    ]);
    assert.equal(l.tokensPerSecond, 6);
    assert.deepEqual(l.waveTokensPerSecond, [6, 6, 12]);
    assert.equal(l.errors.length, 1);
    assert.equal(l.outputTokens, 15);
    assert.equal(l.itlMs.p50, 10);
    assert.equal(l.itlMs.max, 15);
    assert.equal(l.ttftMs.min, 10);
  });
  test('reads a gauge from a Prometheus exposition', () => {
    const text = '# HELP x\nnemotron_nodejs_eventloop_lag_p99_seconds 0.0123\nnemotron_other{a="b"} 5\n';
    assert.equal(promGauge(text, 'nemotron_nodejs_eventloop_lag_p99_seconds'), 0.0123);
    assert.equal(promGauge(text, 'nemotron_other'), 5);
    assert.ok(Number.isNaN(promGauge(text, 'missing')));
  });
});

describe('SVG chart', () => {
  test('a standalone SVG with one polyline per multi-point series, escaped labels, points placed by log2(x)', () => {
    const svg = lineChart({
      title: 'tokens <per> second & more',
      xLabel: 'streams',
      yLabel: 'tok/s',
      series: [
        { name: 'us', color: '#00f', points: [{ x: 1, y: 10 }, { x: 4, y: 30 }, { x: 16, y: 80 }] },
        { name: 'roof', color: '#999', dashed: true, points: [{ x: 1, y: 50 }] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.equal((svg.match(/<polyline /g) ?? []).length, 1);
    assert.equal((svg.match(/<circle /g) ?? []).length, 4 + 2); // points + legend markers
    assert.ok(svg.includes('tokens &lt;per&gt; second &amp; more'));
    assert.ok(!svg.includes('NaN'));
    // log2 x axis: 1, 4, 16 are evenly spaced
    const xs = [...svg.matchAll(/<polyline points="([^"]+)"/g)][0]![1]!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.ok(Math.abs(xs[1]! - xs[0]! - (xs[2]! - xs[1]!)) < 0.2);
  });
  test('nice axis scales and escaping', () => {
    assert.deepEqual(niceScale(87), { max: 100, step: 20 });
    assert.deepEqual(niceScale(0), { max: 1, step: 0.2 });
    assert.equal(escapeXml(`a"b'c`), 'a&quot;b&apos;c');
  });
});

describe('targets', () => {
  const level = (c: number, tps: number) => ({ concurrency: c, tokensPerSecond: tps }) as BenchResult['http']['levels'][number];
  const result = {
    schema: 2,
    mode: 'cpu',
    raw: { runs: [{ label: 'batch 1', batch: 1, tokensPerSecond: 40 }, { label: 'batch 16', batch: 16, tokensPerSecond: 400 }], peakRssBytes: null },
    http: { levels: [level(1, 46), level(16, 410)], eventLoop: { '16': { p99Ms: 25 } } },
    tjs: { singleTokensPerSecond: 40, sequentialTokensPerSecond: 50 },
    context: [{ context: 128, httpDecodeMs: 10 }, { context: 2048, httpDecodeMs: 15 }],
    score: {
      available: true,
      note: '',
      pairsPerSecond: {},
      compare: { concurrency: 16, native: { concurrent: [300, 150, 320], oneAtATime: [100, 90, 80] }, js: { concurrent: [200, 120, 200], oneAtATime: [100, 100, 100] } },
    },
  } as unknown as BenchResult;
  test('the issue\'s five targets: ratios and verdicts', () => {
    const t = Object.fromEntries(evaluateTargets(result).map((x) => [x.id, x]));
    assert.deepEqual(Object.keys(t), ['single-vs-raw', '16-vs-raw16', 'ctx-2048-vs-128', 'score-native-vs-js', 'event-loop-p99']);
    assert.equal(t['single-vs-raw']!.figure, 46 / 40);
    assert.equal(t['single-vs-raw']!.met, true); // 1.15x >= 1.1x
    assert.equal(t['16-vs-raw16']!.figure, 410 / 400);
    assert.equal(t['16-vs-raw16']!.met, false); // 1.025x < 1.05x
    assert.equal(t['ctx-2048-vs-128']!.figure, 1.5);
    assert.equal(t['ctx-2048-vs-128']!.met, false); // > 1.25x
    // Scoring is paired by round: 1.5, 1.25, 1.6 → median 1.5.
    assert.deepEqual(t['score-native-vs-js']!.rounds, [1.5, 1.25, 1.6]);
    assert.equal(t['score-native-vs-js']!.figure, 1.5);
    assert.equal(t['score-native-vs-js']!.met, true);
    assert.equal(t['event-loop-p99']!.met, false);
  });
  test('informational ratios carry no verdict', () => {
    const t = Object.fromEntries(informationalRatios(result).map((x) => [x.id, x]));
    assert.equal(t['16-vs-single']!.figure, 410 / 46);
    assert.equal(t['raw16-vs-raw1']!.figure, 10);
    assert.equal(t['score-native-vs-js-single']!.figure, 0.9);
    assert.ok(Object.values(t).every((x) => x.met === null && x.target === '–'));
  });
  test('ratios measured side by side in rounds are paired: the median of the per-round ratios', () => {
    // Load changed between rounds: the per-round ratio is steady while the medians of each side are not.
    const r = pairedRatio([40, 42, 90, 88, 45], [44, 46, 100, 98, 50]);
    assert.equal(r.rounds!.length, 5);
    assert.ok(Math.abs(r.figure - 0.9) < 0.01);
    assert.equal(pairedRatio(undefined, [1], 3, 2).figure, 1.5);
    assert.ok(Number.isNaN(pairedRatio(undefined, undefined).figure));
    const t = evaluateTargets({
      ...result,
      raw: { runs: [{ label: 'batch 1', batch: 1, tokensPerSecond: 60, repTokensPerSecond: [40, 100] }], peakRssBytes: null },
      http: { ...result.http, levels: [{ ...level(1, 64), waveTokensPerSecond: [46, 110] }, level(16, 300)] },
    } as unknown as BenchResult).find((x) => x.id === 'single-vs-raw')!;
    assert.deepEqual(t.rounds, [46 / 40, 110 / 100]);
    assert.equal(t.met, true);
  });
  test('a missing figure is n/a, not a pass', () => {
    const t = evaluateTargets({ ...result, raw: { runs: [], peakRssBytes: null }, score: { available: false, note: 'skipped', pairsPerSecond: {} } } as unknown as BenchResult);
    assert.equal(t.find((x) => x.id === '16-vs-raw16')!.met, null);
    assert.equal(t.find((x) => x.id === 'score-native-vs-js')!.met, null);
  });
  test('the chart draws every runner', () => {
    const svg = throughputChart({
      ...result,
      machine: { cpuModel: 'cpu', cpus: 2 },
      model: { dir: 'models/bench' },
      config: { promptTokens: 4, outputTokens: 8 },
      roofline: { tokensPerSecond: 60, msPerToken: 16, note: '' },
      tjs: { ...result.tjs, requests: 16 },
    } as unknown as BenchResult);
    for (const name of ['this server', 'raw onnxruntime loop', 'transformers.js', 'roofline']) assert.ok(svg.includes(name), name);
  });
});

describe('GPU figures', () => {
  const lvl = (c: number, itl: number, perStream: number) => ({ concurrency: c, itlMs: { p50: itl }, perStreamTokensPerSecond: perStream }) as BenchResult['http']['levels'][number];
  const raw = [{ label: 'batch 1', batch: 1, decodeStepMs: 5 }, { label: 'batch 16', batch: 16, decodeStepMs: 8 }] as BenchResult['raw']['runs'];
  test('step times from the HTTP runs; batch-1 step against the H200 HBM roofline', () => {
    const d = deviceFigures({ gpu: true, gpuName: 'NVIDIA H200, 143771 MiB', levels: [lvl(1, 4, 200), lvl(16, 10, 80)], raw, bytesPerToken: 2.4e9 });
    assert.equal(d.measured, true);
    assert.equal(d.bandwidthBytesPerSecond, H200_HBM_BYTES_PER_SECOND);
    assert.ok(Math.abs(d.rooflineMs - 0.5) < 1e-12); // 2.4 GB / 4.8 TB/s
    assert.equal(d.stepMsBatch1, 4);
    assert.equal(d.stepMsBatch16, 10);
    assert.equal(d.perStreamMsBatch1, 5);
    assert.equal(d.perStreamMsBatch16, 12.5);
    assert.ok(Math.abs(d.rooflinePercent! - 12.5) < 1e-9);
    assert.deepEqual([d.rawStepMsBatch1, d.rawStepMsBatch16], [5, 8]);
  });
  test('a CPU run measures none of them, and the page says so', () => {
    const d = deviceFigures({ gpu: false, levels: [lvl(1, 4, 200)], raw, bytesPerToken: 2.4e9 });
    assert.equal(d.measured, false);
    assert.equal(d.stepMsBatch1, undefined);
    assert.equal(d.rooflinePercent, undefined);
    const page = runSection({
      schema: 2, mode: 'cpu', machine: { cpuModel: 'cpu', cpus: 2, loadAvgStart: [0] }, loadAvgEnd: [0], durationSeconds: 60,
      model: { dir: 'models/bench', bytes: { parameters: 1, weightBytes: 1, bytesPerToken: 1, dtype: 'float32' } },
      config: { promptTokens: 4, outputTokens: 8, serverArgs: [] }, bandwidth: null, roofline: null,
      raw: { runs: [], peakRssBytes: null }, tjs: { error: 'skipped' }, http: { levels: [], eventLoop: {} }, context: [],
      score: { available: false, note: 'skipped', pairsPerSecond: {} }, device: d, targets: [], ratios: [], notes: [],
    } as unknown as BenchResult).join('\n');
    assert.match(page, /decode step, batch 1 \| not measured \(CPU run\)/);
    assert.match(page, /% of the roofline \| not measured/);
    assert.match(page, /HBM roofline, batch 1 \| not measured/);
  });
  test('KV bytes per token and the raw loop\'s host↔device copy share', () => {
    // 16 layers × (K + V) × 8 heads × 64 dims × 2 bytes
    assert.equal(kvBytesPerToken({ num_hidden_layers: 16, hidden_size: 2048, num_attention_heads: 32, num_key_value_heads: 8, nemotron_onnx: { dtype: 'float16' } }), 32768);
    const [s1, s16] = kvCopyShares({ raw, kvBytesPerToken: 1000, promptTokens: 100, outputTokens: 20, copyBytesPerSecond: 1e9 });
    assert.equal(s1!.kvBytesPerStep, 2 * 1 * 110 * 1000);
    assert.ok(Math.abs(s1!.copyMs - 0.22) < 1e-12);
    assert.ok(Math.abs(s1!.share - 0.22 / 5) < 1e-12);
    assert.equal(s16!.kvBytesPerStep, 2 * 16 * 110 * 1000);
  });
});

describe('baseline figures', () => {
  const req = (seconds: number, tokens: number[]) => ({ startedMs: 0, seconds, tokenMs: tokens.map((_, i) => 10 + i * 5), generated: tokens.length, tokens });
  const base = {
    singles: [30, 40, 50],
    shares: [20, 25],
    eos: new Set([9]),
    promptTokens: 4,
    outputTokens: 3,
    loadSeconds: 1,
    peakRssBytes: null,
  };
  test('transformers.js: back-to-back timeline, KV cache check, same tokens as the raw loop up to its EOS', () => {
    const f = tjsFigureOf({
      ...base,
      sixteen: [req(1, [5, 6, 7]), req(2, [1, 2, 3])],
      calls: [{ width: 4, past: 0 }, { width: 1, past: 4 }, { width: 1, past: 5 }],
      rawTokens: [5, 6, 9],
    });
    assert.equal(f.singleTokensPerSecond, 40);
    assert.equal(f.sequentialTokensPerSecond, 6 / 3);
    assert.deepEqual([f.ttftMs.min, f.ttftMs.max], [10, 1010]); // the second waits for the first
    assert.deepEqual([f.e2eMs.min, f.e2eMs.max], [1000, 3000]);
    assert.equal(f.kvCheck.usesKvCache, true);
    assert.equal(f.sameTokensAsRawLoop, true);
  });
  test('a past that does not grow (recomputation) is caught', () => {
    const f = tjsFigureOf({ ...base, sixteen: [req(1, [5, 6, 7])], calls: [{ width: 4, past: 0 }, { width: 5, past: 0 }, { width: 6, past: 0 }], rawTokens: [5, 7, 7] });
    assert.equal(f.kvCheck.usesKvCache, false);
    assert.equal(f.sameTokensAsRawLoop, false);
  });
});
