import * as ort from 'onnxruntime-node';
import { checkStepShape, describeModel, readModelFolder, type IoMeta, type ModelSpec } from './model-loader.ts';
import { KvBatch, type KvData, type KvGeometry } from './kv-cache.ts';
import { halfToFloat32 } from './float16.ts';

/** Where and how a model runs. */
export interface ExecutionOptions {
  /** 'cpu' (default) or 'cuda'. */
  provider: 'cpu' | 'cuda';
  /** CUDA device id (ignored on CPU). */
  deviceId: number;
  /** Intra-op threads; 0 lets ONNX Runtime decide. */
  intraOpThreads: number;
  /** When CUDA is asked for but cannot start: fall back to CPU (true) or fail (false). */
  cudaFallbackToCpu: boolean;
  /** CUDA memory arena limit in bytes (0 = none); the native runtime only. */
  cudaMemLimit?: number;
  /** Reward scoring only: the C API runtime (default) or this onnxruntime-node session. */
  scoreRuntime?: 'native' | 'js';
}

export const DEFAULT_EXECUTION: ExecutionOptions = {
  provider: 'cpu',
  deviceId: 0,
  intraOpThreads: 0,
  cudaFallbackToCpu: false,
};

/** A model's ONNX session with its spec; runs batched steps over a KvBatch. */
export class ModelSession {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly spec: ModelSpec,
    /** The provider the session actually runs on. */
    readonly provider: 'cpu' | 'cuda',
  ) {}

  /** Opens a model folder (either layout). CUDA failures are reported clearly, then fail or fall back. */
  static async open(dir: string, exec: Partial<ExecutionOptions> = {}): Promise<ModelSession> {
    const opts = { ...DEFAULT_EXECUTION, ...exec };
    const { onnxPath } = readModelFolder(dir);
    const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
    if (opts.intraOpThreads > 0) base.intraOpNumThreads = opts.intraOpThreads;
    let session: ort.InferenceSession;
    let provider: 'cpu' | 'cuda' = opts.provider;
    if (opts.provider === 'cuda') {
      try {
        session = await ort.InferenceSession.create(onnxPath, {
          ...base,
          executionProviders: [{ name: 'cuda', deviceId: opts.deviceId } as ort.InferenceSession.ExecutionProviderConfig],
        });
      } catch (err) {
        const why = `CUDA execution provider could not start for ${dir} (device ${opts.deviceId}): ${(err as Error).message}. ` +
          'Install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and make the CUDA 12 / cuDNN 9 libraries visible.';
        if (!opts.cudaFallbackToCpu) throw new Error(why);
        process.emitWarning(`${why} Falling back to CPU.`);
        provider = 'cpu';
        session = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
      }
    } else {
      session = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: ['cpu'] });
    }
    const spec = describeModel(dir, session.inputMetadata as unknown as IoMeta[], session.outputMetadata as unknown as IoMeta[]);
    return new ModelSession(session, spec, provider);
  }

  /** Geometry for KV batches of this model. */
  get geometry(): KvGeometry {
    const s = this.spec;
    return { numLayers: s.numLayers, numKvHeads: s.numKvHeads, headDim: s.headDim, dtype: s.kvType, side: s.paddingSide };
  }

  /**
   * Runs one step: each row r of `batch` gets `tokens[r]` new tokens (rows may have fewer than the longest;
   * they are padded on the model's side; a row may have none only inside a prefill group). The batch adopts
   * the present tensors. Returns, per row, the logits of the row's last new token (a view when the model's
   * logits are float32; rows with no new token get an empty array).
   */
  async step(batch: KvBatch, tokens: number[][]): Promise<Float32Array[]> {
    const spec = this.spec;
    const rows = batch.rows;
    const width = Math.max(1, ...tokens.map((t) => t.length));
    const real = tokens.map((t) => t.length);
    checkStepShape(spec, batch.length, rows, width);
    const ids = new BigInt64Array(rows * width);
    const pos = new BigInt64Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const t = tokens[r]!;
      const off = spec.paddingSide === 'left' ? width - t.length : 0;
      for (let j = 0; j < t.length; j++) {
        ids[r * width + off + j] = BigInt(t[j]!);
        pos[r * width + off + j] = BigInt(batch.lens[r]! + j);
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      [spec.inputs.inputIds]: new ort.Tensor('int64', ids, [rows, width]),
      [spec.inputs.attentionMask]: new ort.Tensor('int64', batch.stepMask(width, real), [rows, batch.length + width]),
    };
    if (spec.inputs.positionIds) feeds[spec.inputs.positionIds] = new ort.Tensor('int64', pos, [rows, width]);
    const dims = batch.dims();
    for (let l = 0; l < spec.numLayers; l++) {
      feeds[spec.inputs.pastKey[l]!] = new ort.Tensor(spec.kvType, batch.keys[l]!, dims);
      feeds[spec.inputs.pastValue[l]!] = new ort.Tensor(spec.kvType, batch.values[l]!, dims);
    }
    const out = await this.session.run(feeds);
    const keys: KvData[] = [];
    const values: KvData[] = [];
    for (let l = 0; l < spec.numLayers; l++) {
      keys.push(out[spec.outputs.presentKey[l]!]!.data as KvData);
      values.push(out[spec.outputs.presentValue[l]!]!.data as KvData);
    }
    batch.adopt(keys, values, width, real);
    return this.lastLogits(out[spec.outputs.logits]!, real);
  }

  /** Picks each row's last-real-token logits row out of a [rows, S, vocab] output. */
  private lastLogits(logits: ort.Tensor, real: number[]): Float32Array[] {
    // [rows, labels] (classification head) reads as [rows, 1, labels].
    const d = logits.dims as number[];
    const [rows, seq, vocab] = d.length === 2 ? [d[0], 1, d[1]] : d;
    const data = logits.data as Float32Array | Uint16Array;
    const result: Float32Array[] = [];
    for (let r = 0; r < rows!; r++) {
      if (real[r] === 0) {
        result.push(new Float32Array(0));
        continue;
      }
      // Left padding: the last column is every row's last token. Right padding with full logits: the
      // row's own last position. A last-position-only graph already picked the right position.
      const p = seq === 1 || this.spec.paddingSide === 'left' ? seq! - 1 : real[r]! - 1;
      const start = (r * seq! + p) * vocab!;
      const row = data.subarray(start, start + vocab!);
      result.push(row instanceof Float32Array ? row : halfToFloat32(row));
    }
    return result;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
