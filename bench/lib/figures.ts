/** Turns the runners' raw measurements into the figures a result records (pure). */
import type { TjsRequestTiming, TjsServeResult } from '../baseline-child.ts';
import type { RawLoopResult } from '../raw-loop.ts';
import { median, summarize } from './stats.ts';
import type { LevelResult } from './load.ts';
import type { DeviceFigures, KvCopyShare, RawFigure, TjsFigure } from './types.ts';

/** The raw loop's batch-1 and batch-16 figures: medians over the rounds' runs. */
export function rawFigureList(runs: Array<RawLoopResult & { label: string }>): RawFigure[] {
  const out: RawFigure[] = [];
  for (const label of ['batch 1', 'batch 16']) {
    const rs = runs.filter((r) => r.label === label);
    if (!rs.length) continue;
    const tps = rs.map((r) => r.tokensPerSecond);
    out.push({
      label,
      batch: rs[0]!.batch,
      promptTokens: rs[0]!.promptTokens,
      outputTokens: rs[0]!.outputTokens,
      reps: rs.length,
      tokensPerSecond: median(tps),
      repTokensPerSecond: tps,
      prefillSeconds: median(rs.map((r) => r.prefillSeconds)),
      decodeStepMs: median(rs.flatMap((r) => r.decodeStepMs)),
    });
  }
  return out;
}

export interface TjsMeasurements {
  /** The 16 requests, in serving order (served in shares between the other runners' runs). */
  sixteen: TjsRequestTiming[];
  /** Session calls of the first of them. */
  calls: TjsServeResult['calls'];
  /** One single request per round, tokens/s. */
  singles: number[];
  /** Per round, tokens/s of the share of the 16 served in it. */
  shares: number[];
  /** The raw loop's greedy tokens for the same prompt as sixteen[0]. */
  rawTokens?: number[];
  eos: ReadonlySet<number>;
  promptTokens: number;
  outputTokens: number;
  loadSeconds: number;
  peakRssBytes: number | null;
}

/** transformers.js's figures, with the checks that it used the KV cache and computed what the raw loop did. */
export function tjsFigureOf(m: TjsMeasurements): TjsFigure {
  const { sixteen: reqs, calls, promptTokens: P, outputTokens: N } = m;
  // A KV-cached generate: call 0 takes the prompt over an empty past, call i (i ≥ 1) one token over P + i − 1.
  const pastGrows = calls.length > 1 && calls.every((c, i) => c.past === (i === 0 ? 0 : P + i - 1));
  const decodeWidths = [...new Set(calls.slice(1).map((c) => c.width))];
  let same: boolean | null = null;
  if (m.rawTokens && reqs[0]) {
    // transformers.js ran with min_new_tokens (EOS banned): compare up to the raw loop's first EOS.
    const stop = m.rawTokens.findIndex((t) => m.eos.has(t));
    same = m.rawTokens.slice(0, stop < 0 ? m.rawTokens.length : stop).every((t, i) => reqs[0]!.tokens[i] === t);
  }
  // The 16 arrived together and a server without batching serves them back to back: request i starts
  // when request i − 1 ends.
  const ends: number[] = [];
  reqs.forEach((r, i) => ends.push((ends[i - 1] ?? 0) + r.seconds * 1000));
  const serviceSeconds = (ends.at(-1) ?? NaN) / 1000;
  const singles = m.singles.length ? m.singles : reqs.map((r) => r.generated / r.seconds);
  return {
    requests: reqs.length,
    promptTokens: P,
    outputTokens: N,
    loadSeconds: m.loadSeconds,
    singleTokensPerSecond: median(singles),
    singleRoundsTokensPerSecond: m.singles,
    shareTokensPerSecond: m.shares,
    sequentialTokensPerSecond: reqs.reduce((a, r) => a + r.generated, 0) / serviceSeconds,
    ttftMs: summarize(reqs.map((r, i) => (ends[i - 1] ?? 0) + r.tokenMs[0]!)),
    itlMs: summarize(reqs.flatMap((r) => r.tokenMs.slice(1).map((ms, k) => ms - r.tokenMs[k]!))),
    e2eMs: summarize(ends),
    kvCheck: {
      runCalls: calls.length,
      prefillWidth: calls[0]?.width ?? NaN,
      decodeWidths,
      pastGrows,
      usesKvCache: pastGrows && calls.length === N && decodeWidths.length === 1 && decodeWidths[0] === 1,
    },
    sameTokensAsRawLoop: same,
    peakRssBytes: m.peakRssBytes,
  };
}

/** The H200's HBM3e bandwidth as NVIDIA states it (4.8 TB/s); the GPU roofline takes it as given. */
export const H200_HBM_BYTES_PER_SECOND = 4.8e12;

export interface DeviceInputs {
  /** Whether the run was on the GPU (cuda provider). */
  gpu: boolean;
  /** The GPU's name (nvidia-smi), for the note. */
  gpuName?: string;
  levels: readonly LevelResult[];
  raw: readonly RawFigure[];
  /** Weights a batch-1 decode step reads, bytes. */
  bytesPerToken: number;
  bandwidthBytesPerSecond?: number;
}

/**
 * Decode step times at batch 1 and 16 and the batch-1 HBM roofline. On a CPU run nothing is measured:
 * only the stated bandwidth and the roofline it implies are kept, so the docs can say "not measured".
 */
export function deviceFigures(d: DeviceInputs): DeviceFigures {
  const bandwidth = d.bandwidthBytesPerSecond ?? H200_HBM_BYTES_PER_SECOND;
  const rooflineMs = (d.bytesPerToken / bandwidth) * 1000;
  const base = {
    bandwidthBytesPerSecond: bandwidth,
    bandwidthSource: `${(bandwidth / 1e12).toFixed(1)} TB/s, NVIDIA's stated H200 HBM3e bandwidth (not measured)`,
    rooflineMs,
  };
  if (!d.gpu) return { measured: false, note: 'not measured: a CPU run', ...base };
  const level = (c: number) => d.levels.find((l) => l.concurrency === c);
  const raw = (b: number) => d.raw.find((r) => r.batch === b && r.label.startsWith('batch'));
  const step1 = level(1)?.itlMs.p50;
  const per = (c: number) => {
    const tps = level(c)?.perStreamTokensPerSecond;
    return tps ? 1000 / tps : undefined;
  };
  const gpuIsH200 = d.gpuName === undefined || /H200/i.test(d.gpuName);
  return {
    measured: true,
    note: `decode step = ITL p50 of the HTTP runs${gpuIsH200 ? '' : `; the GPU is ${d.gpuName}, not an H200: the roofline's bandwidth does not fit it`}`,
    ...base,
    stepMsBatch1: step1,
    stepMsBatch16: level(16)?.itlMs.p50,
    perStreamMsBatch1: per(1),
    perStreamMsBatch16: per(16),
    rooflinePercent: step1 ? (rooflineMs / step1) * 100 : undefined,
    rawStepMsBatch1: raw(1)?.decodeStepMs,
    rawStepMsBatch16: raw(16)?.decodeStepMs,
  };
}

/**
 * What copying the KV cache to the host and back costs the raw onnxruntime-node loop each decode step (it
 * feeds `present.*` back as `past_key_values.*` through host memory): 2 × the batch's cache at the mean
 * context, at the measured host↔device bandwidth, against its measured decode step.
 */
export function kvCopyShares(o: { raw: readonly RawFigure[]; kvBytesPerToken: number; promptTokens: number; outputTokens: number; copyBytesPerSecond: number }): KvCopyShare[] {
  return o.raw
    .filter((r) => r.label.startsWith('batch'))
    .map((r) => {
      const kvBytesPerStep = 2 * r.batch * (o.promptTokens + o.outputTokens / 2) * o.kvBytesPerToken;
      const copyMs = (kvBytesPerStep / o.copyBytesPerSecond) * 1000;
      return { concurrency: r.batch, kvBytesPerStep, copyMs, stepMs: r.decodeStepMs, share: copyMs / r.decodeStepMs };
    });
}
