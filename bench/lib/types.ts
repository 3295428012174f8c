/** The shape of one benchmark run's JSON file (bench/results/*.json, bench/latest/*.json). */
import type { Bandwidth, MachineInfo, ModelBytes } from './machine.ts';
import type { LevelResult } from './load.ts';
import type { EventLoopDelay } from './server.ts';
import type { Summary } from './stats.ts';

export type BenchMode = 'cpu' | 'cpu-quick' | 'gpu' | 'gpu-quick';

export interface RawFigure {
  label: string;
  batch: number;
  promptTokens: number;
  outputTokens: number;
  reps: number;
  /** batch × output tokens / seconds (prefill included): the median over repetitions. */
  tokensPerSecond: number;
  repTokensPerSecond: number[];
  prefillSeconds: number;
  /** Median decode step, ms (one token per row). */
  decodeStepMs: number;
}

export interface ContextFigure {
  context: number;
  decodeTokens: number;
  rounds: number;
  /** Our server: median gap between tokens of one stream at this context, ms (median over rounds). */
  httpDecodeMs: number;
  httpTtftMs: number;
  /** The raw loop: median decode step at this context, ms (median over rounds). */
  rawDecodeMs: number;
  rawPrefillSeconds: number;
  /** Per round, for judging the noise. */
  httpDecodeMsRounds: number[];
  rawDecodeMsRounds: number[];
}

export interface TjsFigure {
  requests: number;
  promptTokens: number;
  outputTokens: number;
  loadSeconds: number;
  /** Median over the rounds' single requests (each beside the server's single stream) of tokens / generate() time. */
  singleTokensPerSecond: number;
  /** Those single requests, tokens/s each, one per round. */
  singleRoundsTokensPerSecond: number[];
  /** Per round, the share of the 16 requests served in it: its tokens / its service time. */
  shareTokensPerSecond: number[];
  /**
   * The 16 requests' tokens / their summed service times: they arrived together and a server without
   * batching serves them back to back (served here in shares between the other runners' runs).
   */
  sequentialTokensPerSecond: number;
  /** Time to first token from the common arrival (waiting behind the earlier requests included). */
  ttftMs: Summary;
  /** Gaps between tokens inside each request. */
  itlMs: Summary;
  /** From the common arrival to each request's last token. */
  e2eMs: Summary;
  /** Session calls of the first request: one prompt step, then one-token steps over a growing past. */
  kvCheck: { runCalls: number; prefillWidth: number; decodeWidths: number[]; pastGrows: boolean; usesKvCache: boolean };
  /** Greedy tokens of request 0 equal the raw loop's for the same prompt (same model.onnx, same math). */
  sameTokensAsRawLoop: boolean | null;
  peakRssBytes: number | null;
}

export interface ScoreFigure {
  available: boolean;
  note: string;
  /** pairs/s by mode name as bench/score.ts prints them. */
  pairsPerSecond: Record<string, number>;
  oneAtATime?: number;
  batched?: number;
  ratio?: number;
}

export interface TargetResult {
  id: string;
  what: string;
  /** The median over rounds of the ratio within each round (or the ratio of medians without rounds). */
  figure: number;
  target: string;
  met: boolean | null;
  /** Each round's ratio, when the two figures were measured side by side in rounds. */
  rounds?: number[];
}

export interface BenchResult {
  schema: 1;
  mode: BenchMode;
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  loadAvgEnd: number[];
  model: { dir: string; onnxPath: string; bytes: ModelBytes; layers: number; hidden: number };
  config: {
    promptTokens: number;
    outputTokens: number;
    levels: number[];
    provider: 'cpu' | 'cuda';
    threads: number;
    serverArgs: string[];
    /** Node flags the server process ran with (experiments only). */
    serverNodeFlags?: string[];
  };
  bandwidth: Bandwidth | null;
  roofline: { tokensPerSecond: number; msPerToken: number; note: string } | null;
  raw: { runs: RawFigure[]; peakRssBytes: number | null; /** Batch 1: the lowest per-round median decode step, ms. */ bestDecodeStepMs?: number };
  tjs: TjsFigure | { error: string };
  http: {
    levels: LevelResult[];
    idleRssBytes: number | null;
    peakRssBytes: number | null;
    eventLoop: Record<string, EventLoopDelay & { promP99Ms: number }>;
  };
  context: ContextFigure[];
  score: ScoreFigure;
  gpuCopy?: { sizes: Array<{ bytes: number; roundTripMs: number; bytesMovedPerSecond: number }>; kvShare: Array<{ concurrency: number; kvBytesPerStep: number; copyMs: number; stepMs: number; share: number }> } | { error: string };
  targets: TargetResult[];
  notes: string[];
}
