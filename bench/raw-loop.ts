/**
 * The baseline: a plain onnxruntime-node greedy loop with a KV cache, written directly against the
 * onnxruntime API (none of the engine's classes), on an Optimum-style model. It is the ceiling for the
 * engine's own overhead: same model files, same threads, no HTTP, no scheduling, no worker.
 *
 * Each step feeds the previous step's `present.*` outputs back as `past_key_values.*` (no copy in JS), so
 * a decode step reads the weights once and the cache once, as a KV-cached decoder should.
 */
import * as ort from 'onnxruntime-node';

export interface RawLoopResult {
  batch: number;
  promptTokens: number;
  outputTokens: number;
  /** Whole run: the prefill step plus every decode step. */
  seconds: number;
  /** batch × outputTokens / seconds (prefill included, like an HTTP request's end-to-end time). */
  tokensPerSecond: number;
  /** The first step (the whole prompt at once; it also yields the first output token). */
  prefillSeconds: number;
  /** Wall time of each decode step (steps 2..outputTokens), ms. */
  decodeStepMs: number[];
  /** Tokens generated for row 0 (greedy), for comparing outputs with other runners. */
  row0Tokens: number[];
}

export interface RawLoopOptions {
  batch: number;
  promptTokens: number;
  outputTokens: number;
  /** Prompt given to every row (default: a fixed pattern of `promptTokens` ids). */
  prompt?: number[];
}

export interface RawSessionOptions {
  threads?: number;
  provider?: 'cpu' | 'cuda';
  deviceId?: number;
}

function argmaxRow(data: Float32Array, start: number, vocab: number): number {
  let best = start;
  for (let i = start + 1; i < start + vocab; i++) if (data[i]! > data[best]!) best = i;
  return best - start;
}

/** float16 bit pattern → number (only used for float16 logits, on GPU models). */
function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Every float16 bit pattern's value, built on first use (256 KiB). */
let halfTable: Float32Array | undefined;

function argmaxRowHalf(data: Uint16Array, start: number, vocab: number): number {
  const table = (halfTable ??= Float32Array.from({ length: 65536 }, (_, h) => halfToNumber(h)));
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = table[data[start + i]!]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** Opens a session the way the engine does (graph optimizations on, the given provider and threads). */
export async function openRawSession(onnxPath: string, opts: RawSessionOptions = {}): Promise<ort.InferenceSession> {
  const provider = opts.provider ?? 'cpu';
  return ort.InferenceSession.create(onnxPath, {
    graphOptimizationLevel: 'all',
    executionProviders: [
      provider === 'cuda'
        ? ({ name: 'cuda', deviceId: opts.deviceId ?? 0 } as ort.InferenceSession.ExecutionProviderConfig)
        : 'cpu',
    ],
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  });
}

/** Runs `outputTokens` greedy steps for `batch` copies of a prompt on an open session. */
export async function rawGreedyRun(session: ort.InferenceSession, opts: RawLoopOptions): Promise<RawLoopResult> {
  const meta = session.inputMetadata as unknown as Array<{ name: string; type: string; shape: Array<number | string> }>;
  const pastNames = meta.filter((m) => m.name.startsWith('past_key_values')).map((m) => m.name);
  const kvMeta = meta.find((m) => m.name === pastNames[0])!;
  const [heads, headDim] = [kvMeta.shape[1] as number, kvMeta.shape[3] as number];
  const kvType = kvMeta.type as 'float32' | 'float16';
  const B = opts.batch;
  const prompt = opts.prompt ?? Array.from({ length: opts.promptTokens }, (_, i) => 1000 + i * 7);
  const P = prompt.length;
  let past: Record<string, ort.Tensor> = {};
  for (const n of pastNames) {
    past[n] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [B, heads, 0, headDim]);
  }
  let ids = Array.from({ length: B * P }, (_, i) => prompt[i % P]!);
  let total = 0;
  const decodeStepMs: number[] = [];
  const row0Tokens: number[] = [];
  let prefillSeconds = 0;
  const t0 = performance.now();
  for (let step = 0; step < opts.outputTokens; step++) {
    const ts = performance.now();
    const width = step === 0 ? P : 1;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [B, width]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(B * (total + width)).fill(1n), [B, total + width]),
      position_ids: new ort.Tensor(
        'int64',
        BigInt64Array.from({ length: B * width }, (_, i) => BigInt(total + (i % width))),
        [B, width],
      ),
      ...past,
    };
    const out = await session.run(feeds);
    const logits = out.logits!;
    const [, s, vocab] = logits.dims as number[];
    const data = logits.data as Float32Array | Uint16Array;
    ids = Array.from({ length: B }, (_, r) => {
      const start = (r * s! + s! - 1) * vocab!;
      return data instanceof Float32Array ? argmaxRow(data, start, vocab!) : argmaxRowHalf(data, start, vocab!);
    });
    row0Tokens.push(ids[0]!);
    past = {};
    for (const n of pastNames) past[n] = out[n.replace('past_key_values', 'present')]!;
    total += width;
    const ms = performance.now() - ts;
    if (step === 0) prefillSeconds = ms / 1000;
    else decodeStepMs.push(ms);
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    batch: B,
    promptTokens: P,
    outputTokens: opts.outputTokens,
    seconds,
    tokensPerSecond: (B * opts.outputTokens) / seconds,
    prefillSeconds,
    decodeStepMs,
    row0Tokens,
  };
}

/** Opens a session, runs one greedy loop, releases the session; returns the decode throughput. */
export async function rawGreedyLoop(
  onnxPath: string,
  opts: { batch: number; promptTokens: number; outputTokens: number; threads?: number; provider?: 'cpu' | 'cuda' },
): Promise<RawLoopResult> {
  const session = await openRawSession(onnxPath, { threads: opts.threads, provider: opts.provider });
  try {
    return await rawGreedyRun(session, opts);
  } finally {
    await session.release();
  }
}
