/**
 * A model run through ONNX Runtime's C API with IO binding (the default runtime for generation and
 * scoring). Per step only the small inputs go in from the host (ids, positions, mask) and only logits
 * come back: past and present KV tensors are bound to the KV store's buffers where the model runs
 * (see kv/store.ts), and graphs that return the last position only write their logits straight into a
 * reused host buffer. Runs are synchronous: the model lives in a worker thread.
 */
import { checkStepShape, describeModel, readModelFolder, writesKvInPlace, type ModelSpec } from './model-loader.ts';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './model-session.ts';
import { halfToFloat32 } from './float16.ts';
import { KvPool, stepMask, type KvGeometry, type KvStore } from './kv/store.ts';
import { HostStaging, OrtKvMemory, type OrtKvArray } from './ort/memory.ts';
import { hostView, NativeSession, NativeValue, type NativeBinding } from './ort/session.ts';

/**
 * Receives every real new token's logits of a step run for prompt logprobs: row `row`'s `index`-th new
 * token (0-based within this step) and the logits after it (a view valid only during the call; not to
 * be modified). Only rows for which `wants` is true are visited.
 */
export interface PositionLogitsVisitor {
  wants(row: number): boolean;
  visit(row: number, index: number, logits: Float32Array): void;
}

/** See the module comment. */
export class NativeModel {
  readonly memory: OrtKvMemory;
  private readonly ids: HostStaging;
  private readonly positions: HostStaging;
  private readonly mask: HostStaging;
  private readonly logits: HostStaging;
  /** logits_positions values, when the graph takes them. */
  private readonly logitsPositions: HostStaging;
  private logitsF32 = new Float32Array(0);
  /** One position's logits widened from float16, for a visitor. */
  private visitF32 = new Float32Array(0);
  /** Rank of the logits output (3: [batch, seq, vocab]; 2: a [batch, labels] head). */
  private readonly logitsRank: number;
  /** A tiny allocation an empty past (0 columns) points at. */
  private readonly emptyPast: OrtKvArray;

  private constructor(
    readonly session: NativeSession,
    readonly spec: ModelSpec,
  ) {
    this.memory = new OrtKvMemory(session, spec.kvType);
    this.ids = new HostStaging(session, 'int64');
    this.positions = new HostStaging(session, 'int64');
    this.mask = new HostStaging(session, 'int64');
    this.logits = new HostStaging(session, spec.logitsType);
    this.logitsPositions = new HostStaging(session, 'int64');
    this.logitsRank = session.outputs.find((o) => o.name === spec.outputs.logits)!.shape.length;
    this.emptyPast = this.memory.alloc(1);
  }

  /** The provider the session actually runs on. */
  get provider(): 'cpu' | 'cuda' {
    return this.session.provider;
  }

  /** Opens a model folder (either layout). CUDA failures are reported clearly, then fail or fall back. */
  static open(dir: string, exec: Partial<ExecutionOptions> = {}, graph?: { bytes: Uint8Array; externalDataDir: string }): NativeModel {
    const opts = { ...DEFAULT_EXECUTION, ...exec };
    // graph: a rewritten copy of the folder's graph, in memory (see scoring/readout-graph.ts).
    const { onnxPath } = readModelFolder(dir);
    const base = { deviceId: opts.deviceId, intraOpThreads: opts.intraOpThreads, cudaMemLimit: opts.cudaMemLimit };
    let session: NativeSession;
    if (opts.provider === 'cuda') {
      try {
        session = NativeSession.open(onnxPath, { ...base, provider: 'cuda' }, graph);
      } catch (err) {
        const why = `CUDA execution provider could not start for ${dir} (device ${opts.deviceId}): ${(err as Error).message}. ` +
          'Install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and make the CUDA 12 / cuDNN 9 libraries visible.';
        if (!opts.cudaFallbackToCpu) throw new Error(why);
        process.emitWarning(`${why} Falling back to CPU.`);
        session = NativeSession.open(onnxPath, { ...base, provider: 'cpu' }, graph);
      }
    } else {
      session = NativeSession.open(onnxPath, { ...base, provider: 'cpu' }, graph);
    }
    try {
      return new NativeModel(session, describeModel(dir, session.inputs, session.outputs));
    } catch (err) {
      session.release();
      throw err;
    }
  }

  /** Geometry of this model's KV stores. */
  get geometry(): KvGeometry {
    const s = this.spec;
    return { numLayers: s.numLayers, numKvHeads: s.numKvHeads, headDim: s.headDim, dtype: s.kvType, side: s.paddingSide, inPlace: writesKvInPlace(s) };
  }

  /** A KV pool over this model's memory holding at most `budgetSlots` token slots. */
  createPool(budgetSlots: number): KvPool<OrtKvArray> {
    return new KvPool(this.memory, this.geometry, budgetSlots);
  }

  /**
   * Runs one step: row r of `store` gets `tokens[r]` new tokens (padded on the model's side; a row may
   * have none only inside a prefill group). The store adopts the present. Returns each row's logits
   * for its last new token — views valid until the next step (rows with no new token get an empty array).
   * With `positions`, every new token's logits are computed (spec.promptLogprobs must hold) and shown to
   * the visitor before the step returns.
   */
  step(store: KvStore<OrtKvArray>, tokens: number[][], positions?: PositionLogitsVisitor): Float32Array[] {
    const spec = this.spec;
    const rows = store.rows;
    const width = Math.max(1, ...tokens.map((t) => t.length));
    const real = tokens.map((t) => t.length);
    checkStepShape(spec, store.length, rows, width);
    store.checkStep(width);
    const binding = this.session.binding();
    try {
      this.bindTokens(binding, store.lens, store.length, tokens, width);
      for (let l = 0; l < spec.numLayers; l++) {
        for (const [kind, pastName, presentName] of [
          ['keys', spec.inputs.pastKey[l]!, spec.outputs.presentKey[l]!],
          ['values', spec.inputs.pastValue[l]!, spec.outputs.presentValue[l]!],
        ] as const) {
          const past = store.past(l, kind);
          const present = store.present(l, kind, width);
          binding.input(pastName, this.kvTensor(past.array, past.dims));
          binding.output(presentName, this.kvTensor(present.array, present.dims));
        }
      }
      const direct = positions ? this.bindAllLogits(binding, rows, width) : this.bindLogits(binding, rows, width);
      binding.run();
      store.adopt(width, real);
      return this.readLogits(binding, direct, rows, width, real, positions);
    } finally {
      binding.release();
    }
  }

  /**
   * Prefill-only forward pass for scoring: no KV is kept (an empty past; the present tensors are left
   * in ONNX Runtime's memory where the model runs and released unread). Returns each row's last-token
   * output row (a view valid until the next call).
   */
  forward(tokens: number[][]): Float32Array[] {
    const spec = this.spec;
    const rows = tokens.length;
    const width = Math.max(1, ...tokens.map((t) => t.length));
    const real = tokens.map((t) => t.length);
    const binding = this.session.binding();
    try {
      this.bindTokens(binding, new Array<number>(rows).fill(0), 0, tokens, width);
      const dims = [rows, spec.numKvHeads, 0, spec.headDim];
      for (let l = 0; l < spec.numLayers; l++) {
        binding.input(spec.inputs.pastKey[l]!, this.kvTensor(this.emptyPast, dims));
        binding.input(spec.inputs.pastValue[l]!, this.kvTensor(this.emptyPast, dims));
        binding.outputTo(spec.outputs.presentKey[l]!, this.session.deviceInfo);
        binding.outputTo(spec.outputs.presentValue[l]!, this.session.deviceInfo);
      }
      const direct = this.bindLogits(binding, rows, width);
      binding.run();
      return this.readLogits(binding, direct, rows, width, real);
    } finally {
      binding.release();
    }
  }

  private kvTensor(array: OrtKvArray, dims: readonly number[]): NativeValue {
    return NativeValue.over(this.session.deviceInfo, array.address, this.spec.kvType, dims);
  }

  /** Writes ids, positions and the mask (over a past of `length` columns, `lens` valid per row) into host staging and binds them. */
  private bindTokens(binding: NativeBinding, lens: readonly number[], length: number, tokens: number[][], width: number): void {
    const spec = this.spec;
    const rows = tokens.length;
    const ids = this.ids.int64(rows * width);
    const pos = this.positions.int64(rows * width);
    ids.fill(0n);
    pos.fill(0n);
    for (let r = 0; r < rows; r++) {
      const t = tokens[r]!;
      const off = r * width + (spec.paddingSide === 'left' ? width - t.length : 0);
      for (let j = 0; j < t.length; j++) {
        ids[off + j] = BigInt(t[j]!);
        pos[off + j] = BigInt(lens[r]! + j);
      }
    }
    const maskWidth = length + width;
    stepMask(spec.paddingSide, lens, length, width, tokens.map((t) => t.length), this.mask.int64(rows * maskWidth));
    binding.input(spec.inputs.inputIds, this.ids.tensor([rows, width]));
    binding.input(spec.inputs.attentionMask, this.mask.tensor([rows, maskWidth]));
    if (spec.inputs.positionIds) binding.input(spec.inputs.positionIds, this.positions.tensor([rows, width]));
  }

  /** Binds logits into host staging when the output holds one row per sequence; else ONNX Runtime allocates it on the host. */
  private bindLogits(binding: NativeBinding, rows: number, width: number): boolean {
    const name = this.spec.outputs.logits;
    if (this.spec.lastLogitsOnly || width === 1) {
      const dims = this.logitsRank === 2 ? [rows, this.spec.vocabSize] : [rows, 1, this.spec.vocabSize];
      binding.output(name, this.logits.tensor(dims));
      return true;
    }
    binding.outputTo(name, this.session.hostInfo);
    return false;
  }

  /**
   * Binds the logits of every column of the step ([rows, width, vocab], allocated by ONNX Runtime on the
   * host): a full-logits graph returns them anyway; a last-position-only graph is fed logits_positions
   * 0..width-1 for every row. Returns false (the logits are read from the fetched value).
   */
  private bindAllLogits(binding: NativeBinding, rows: number, width: number): boolean {
    const spec = this.spec;
    if (!spec.promptLogprobs) throw new Error('this model cannot return the logits of every prompt position');
    if (spec.lastLogitsOnly) {
      const name = spec.inputs.logitsPositions!;
      const values = this.logitsPositions.int64(rows * width);
      for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) values[r * width + j] = BigInt(j);
      binding.input(name, this.logitsPositions.tensor([rows, width]));
    }
    if (width === 1 && !spec.lastLogitsOnly) return this.bindLogits(binding, rows, width);
    binding.outputTo(spec.outputs.logits, this.session.hostInfo);
    return false;
  }

  /** Shows every real new token's logits row of `data` ([rows, seq, V]) to the visitor. */
  private visitPositions(data: Float32Array | Uint16Array, seq: number, real: number[], visitor: PositionLogitsVisitor): void {
    const V = this.spec.vocabSize;
    if (data instanceof Uint16Array && this.visitF32.length < V) this.visitF32 = new Float32Array(V);
    for (let r = 0; r < real.length; r++) {
      if (!visitor.wants(r)) continue;
      // Left padding puts a row's real tokens in the last columns; right padding in the first ones.
      const first = this.spec.paddingSide === 'left' ? seq - real[r]! : 0;
      for (let j = 0; j < real[r]!; j++) {
        const row = data.subarray((r * seq + first + j) * V, (r * seq + first + j + 1) * V);
        visitor.visit(r, j, row instanceof Float32Array ? row : halfToFloat32(row, this.visitF32.subarray(0, V)));
      }
    }
  }

  private readLogits(binding: NativeBinding, direct: boolean, rows: number, width: number, real: number[], positions?: PositionLogitsVisitor): Float32Array[] {
    const V = this.spec.vocabSize;
    let data: Float32Array | Uint16Array;
    let seq = 1;
    let value: NativeValue | undefined;
    if (direct) {
      data = this.spec.logitsType === 'float16' ? this.logits.uint16(rows * V) : this.logits.float32(rows * V);
    } else {
      value = binding.fetch().get(this.spec.outputs.logits)!;
      seq = width;
      const bytes = rows * seq * V * (this.spec.logitsType === 'float16' ? 2 : 4);
      const buf = hostView(value.data(), bytes);
      data = this.spec.logitsType === 'float16' ? new Uint16Array(buf) : new Float32Array(buf);
    }
    if (positions) this.visitPositions(data, seq, real, positions);
    if (this.logitsF32.length < rows * V) this.logitsF32 = new Float32Array(rows * V);
    const out: Float32Array[] = [];
    for (let r = 0; r < rows; r++) {
      if (real[r] === 0) {
        out.push(new Float32Array(0));
        continue;
      }
      // Left padding: the last column is every row's last token; right padding: the row's own last one.
      const p = seq === 1 || this.spec.paddingSide === 'left' ? seq - 1 : real[r]! - 1;
      const row = data.subarray((r * seq + p) * V, (r * seq + p + 1) * V);
      if (direct && row instanceof Float32Array) {
        out.push(row);
        continue;
      }
      const dst = this.logitsF32.subarray(r * V, (r + 1) * V);
      if (row instanceof Float32Array) dst.set(row);
      else dst.set(halfToFloat32(row));
      out.push(dst);
    }
    return out;
  }

  close(): void {
    this.memory.free(this.emptyPast);
    for (const s of [this.ids, this.positions, this.mask, this.logits, this.logitsPositions]) s.release();
    this.session.release();
  }
}
