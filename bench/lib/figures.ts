/** Turns the runners' raw measurements into the figures a result records (pure). */
import type { TjsRequestTiming, TjsServeResult } from '../baseline-child.ts';
import type { RawLoopResult } from '../raw-loop.ts';
import { median, summarize } from './stats.ts';
import type { RawFigure, TjsFigure } from './types.ts';

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
