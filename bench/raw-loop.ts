/**
 * The baseline: a plain onnxruntime-node greedy loop with a KV cache, written directly against the
 * onnxruntime API (none of the engine's classes), on an Optimum-style model. It is the ceiling for the
 * engine's own overhead: same model files, same threads, no HTTP, no scheduling, no worker.
 */
import * as ort from 'onnxruntime-node';

export interface RawLoopResult {
  batch: number;
  promptTokens: number;
  outputTokens: number;
  seconds: number;
  tokensPerSecond: number;
}

function argmaxRow(data: Float32Array, start: number, vocab: number): number {
  let best = start;
  for (let i = start + 1; i < start + vocab; i++) if (data[i]! > data[best]!) best = i;
  return best - start;
}

/** Runs `outputTokens` greedy steps for `batch` copies of a prompt; returns the decode throughput. */
export async function rawGreedyLoop(
  onnxPath: string,
  opts: { batch: number; promptTokens: number; outputTokens: number; threads?: number; provider?: 'cpu' | 'cuda' },
): Promise<RawLoopResult> {
  const session = await ort.InferenceSession.create(onnxPath, {
    graphOptimizationLevel: 'all',
    executionProviders: [opts.provider ?? 'cpu'],
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  });
  const meta = session.inputMetadata as unknown as Array<{ name: string; type: string; shape: Array<number | string> }>;
  const pastNames = meta.filter((m) => m.name.startsWith('past_key_values')).map((m) => m.name);
  const kvMeta = meta.find((m) => m.name === pastNames[0])!;
  const [heads, headDim] = [kvMeta.shape[1] as number, kvMeta.shape[3] as number];
  const kvType = kvMeta.type as 'float32' | 'float16';
  const B = opts.batch;
  let past: Record<string, ort.Tensor> = {};
  for (const n of pastNames) {
    past[n] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [B, heads, 0, headDim]);
  }
  let ids = Array.from({ length: B * opts.promptTokens }, (_, i) => 1000 + (i % opts.promptTokens) * 7);
  let total = 0;
  const t0 = performance.now();
  for (let step = 0; step < opts.outputTokens; step++) {
    const width = step === 0 ? opts.promptTokens : 1;
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
    const data = logits.data as Float32Array;
    ids = Array.from({ length: B }, (_, r) => argmaxRow(data, (r * s! + s! - 1) * vocab!, vocab!));
    past = {};
    for (const n of pastNames) past[n] = out[n.replace('past_key_values', 'present')]!;
    total += width;
  }
  const seconds = (performance.now() - t0) / 1000;
  await session.release();
  return {
    batch: B,
    promptTokens: opts.promptTokens,
    outputTokens: opts.outputTokens,
    seconds,
    tokensPerSecond: (B * opts.outputTokens) / seconds,
  };
}
