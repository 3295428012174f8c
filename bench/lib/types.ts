/** The shape of one benchmark run's JSON file (bench/results/*.json, bench/latest/*.json). */
import type { Bandwidth, MachineInfo, ModelBytes } from './machine.ts';
import type { LevelResult } from './load.ts';
import type { EventLoopDelay } from './server.ts';
import type { Summary } from './stats.ts';
import type { SharedScoreFigure } from './score-shared.ts';
import type { PrefixFigure } from './prefix-section.ts';

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

/** The reward worker's runtimes: ONNX Runtime's C API with IO binding, or the onnxruntime-node session. */
export type ScoreRuntime = 'native' | 'js';

export interface ScoreFigure {
  available: boolean;
  note: string;
  /** Median pairs/s by runtime and mode ("native, 16 in flight", "js, one at a time", …). */
  pairsPerSecond: Record<string, number>;
  /** Schema 1 only (bench/score.ts run as a child): one at a time, batched, batched / one at a time. */
  oneAtATime?: number;
  batched?: number;
  ratio?: number;
  /** Schema 2: the native and js runtimes on the same pairs, in alternating rounds. */
  compare?: {
    model: string;
    provider: 'cpu' | 'cuda';
    pairs: number;
    concurrency: number;
    rounds: number;
    conversationTokens: { min: number; p50: number; max: number };
    /** Largest |native score − js score| over the same conversations (same model: ~0). */
    maxScoreDiff: number;
    /** Pairs/s per round: `concurrency` pairs in flight, and one pair at a time. */
    native: { concurrent: number[]; oneAtATime: number[] };
    js: { concurrent: number[]; oneAtATime: number[] };
  };
}

/**
 * Decode cost on the device (GPU runs only; `measured: false` on CPU). Step times come from the HTTP
 * runs: the median gap between tokens of a stream (ITL p50) is one decode step of the batch it ran in.
 */
export interface DeviceFigures {
  measured: boolean;
  note: string;
  /** Stated, not measured: the GPU's memory bandwidth the roofline assumes, bytes/s. */
  bandwidthBytesPerSecond: number;
  bandwidthSource: string;
  /** Weights read per batch-1 decode step / bandwidth, ms. */
  rooflineMs: number;
  /** HTTP, one stream / 16 streams: ITL p50, ms. */
  stepMsBatch1?: number;
  stepMsBatch16?: number;
  /** 1000 / per-stream tokens/s (prefill included), ms. */
  perStreamMsBatch1?: number;
  perStreamMsBatch16?: number;
  /** Batch-1 decode tokens/s (1000 / stepMsBatch1) as a percentage of the roofline's tokens/s. */
  rooflinePercent?: number;
  /** The raw onnxruntime-node loop's median decode step at batch 1 and 16, ms. */
  rawStepMsBatch1?: number;
  rawStepMsBatch16?: number;
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

/** The current result schema: 2 = the device-resident KV cache targets (1 = the onnxruntime-node engine's). */
export const RESULT_SCHEMA = 2;

/** Schema 1: `concurrency` = HTTP streams; schema 2: `concurrency` = the raw loop's batch. */
export interface KvCopyShare {
  concurrency: number;
  kvBytesPerStep: number;
  copyMs: number;
  stepMs: number;
  share: number;
}

export interface BenchResult {
  schema: 1 | 2;
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
  /** Shared-prompt scoring: 8 responses to a 1,000-token prompt, sharing off vs on (absent when skipped). */
  sharedScore?: SharedScoreFigure;
  /** Prefix caching: a shared 2,048-token prefix's TTFT, and a replayed chat's computed prompt share. */
  prefix?: PrefixFigure | { error: string };
  /**
   * GPU: host↔device copy bandwidth, and what copying the KV cache both ways each decode step costs the
   * raw onnxruntime-node loop (it has no device IO binding; the server keeps the KV on the device).
   */
  gpuCopy?: { sizes: Array<{ bytes: number; roundTripMs: number; bytesMovedPerSecond: number }>; kvShare: KvCopyShare[] } | { error: string };
  /** Schema 2: decode step times and the HBM roofline (not measured on CPU). */
  device?: DeviceFigures;
  /** The issue's acceptance targets. */
  targets: TargetResult[];
  /** Schema 2: other ratios, informational (no target). */
  ratios?: TargetResult[];
  notes: string[];
}
