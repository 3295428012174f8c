/**
 * The onnxruntime-node session's KV batch: used only by `ModelSession` (the `--score-runtime js` scorer,
 * kept for comparison, and tests' reference passes). Generation keeps its KV in the KV store
 * (kv/store.ts) where the model runs; this class copies through JS buffers.
 *
 * A batch's KV cache kept between steps.
 *
 * Layout: per layer one key and one value array of shape [rows, kvHeads, length, headDim] — exactly
 * what the graph takes as `past_key_values.N.*` — plus each row's valid token count. After a step the
 * graph's `present.N.*` outputs are adopted as the next past without copying. Rows are copied only when
 * membership changes (a sequence joins or leaves): `select` and `concat` re-pack, trimming columns no
 * row uses any more (TGI's filter/concatenate).
 *
 * Invariant (no holes): with left padding a row's valid tokens are its last `lens[r]` columns; with right
 * padding its first `lens[r]` columns. Steps keep it because every step either appends one token to every
 * row, or runs a chunk of a prefill group whose prompts are padded on the same side.
 */

/** Element storage: float32, or float16 bit patterns. */
export type KvData = Float32Array | Uint16Array;

/** Shape facts shared by every batch of one model. */
export interface KvGeometry {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  dtype: 'float32' | 'float16';
  side: 'left' | 'right';
}

function alloc(dtype: KvGeometry['dtype'], n: number): KvData {
  return dtype === 'float16' ? new Uint16Array(n) : new Float32Array(n);
}

/** KV cache of a batch of sequences; see the module comment for the layout. */
export class KvBatch {
  /** Columns (past length) of every row. */
  length: number;
  /** Valid tokens per row. */
  lens: number[];
  keys: KvData[];
  values: KvData[];

  constructor(readonly geo: KvGeometry, length: number, lens: number[], keys?: KvData[], values?: KvData[]) {
    this.length = length;
    this.lens = lens;
    const size = lens.length * geo.numKvHeads * length * geo.headDim;
    this.keys = keys ?? Array.from({ length: geo.numLayers }, () => alloc(geo.dtype, size));
    this.values = values ?? Array.from({ length: geo.numLayers }, () => alloc(geo.dtype, size));
  }

  /** An empty cache (no past) for `rows` sequences. */
  static empty(geo: KvGeometry, rows: number): KvBatch {
    return new KvBatch(geo, 0, new Array<number>(rows).fill(0));
  }

  get rows(): number {
    return this.lens.length;
  }

  /** Tokens held, summed over rows (what "KV usage" counts). */
  get usedTokens(): number {
    return this.lens.reduce((a, b) => a + b, 0);
  }

  /** Shape of each past tensor. */
  dims(): number[] {
    return [this.rows, this.geo.numKvHeads, this.length, this.geo.headDim];
  }

  /**
   * The attention mask for a step that adds `added` columns, where row r has `real[r]` real new tokens
   * (padded on the geometry's side within the added columns).
   */
  stepMask(added: number, real: number[]): BigInt64Array {
    const width = this.length + added;
    const mask = new BigInt64Array(this.rows * width);
    for (let r = 0; r < this.rows; r++) {
      const base = r * width;
      if (this.geo.side === 'left') {
        // Past valid columns are the last lens[r] of the past; new real tokens the last real[r] columns.
        for (let c = this.length - this.lens[r]!; c < this.length; c++) mask[base + c] = 1n;
        for (let c = width - real[r]!; c < width; c++) mask[base + c] = 1n;
      } else {
        // Right padding: valid past and new tokens are contiguous from column 0.
        const end = this.lens[r]! + real[r]!;
        for (let c = 0; c < end; c++) mask[base + c] = 1n;
      }
    }
    return mask;
  }

  /** Takes the graph's present tensors as the new past after a step that added `added` columns. */
  adopt(keys: KvData[], values: KvData[], added: number, real: number[]): void {
    const expected = this.rows * this.geo.numKvHeads * (this.length + added) * this.geo.headDim;
    if (keys[0] && keys[0].length !== expected) {
      throw new Error(`present tensor has ${keys[0].length} elements, expected ${expected}`);
    }
    this.keys = keys;
    this.values = values;
    this.length += added;
    this.lens = this.lens.map((l, r) => l + real[r]!);
  }

  /**
   * A new batch holding the given rows (in order; a row may repeat, which is how `n` sequences share
   * one prefilled prompt), re-packed to the longest selected row.
   */
  select(rowIdx: number[]): KvBatch {
    const lens = rowIdx.map((r) => this.lens[r]!);
    const length = lens.length ? Math.max(...lens) : 0;
    const out = new KvBatch(this.geo, length, lens);
    copyRows(this, rowIdx, out, 0);
    return out;
  }

  /** Concatenates two batches of the same geometry into one re-packed batch (a's rows first). */
  static concat(a: KvBatch, b: KvBatch): KvBatch {
    const lens = [...a.lens, ...b.lens];
    const length = lens.length ? Math.max(...lens) : 0;
    const out = new KvBatch(a.geo, length, lens);
    copyRows(a, a.lens.map((_, i) => i), out, 0);
    copyRows(b, b.lens.map((_, i) => i), out, a.rows);
    return out;
  }
}

/** Copies the valid columns of `rowIdx` rows of `src` into `dst` starting at row `dstRow0`. */
function copyRows(src: KvBatch, rowIdx: number[], dst: KvBatch, dstRow0: number): void {
  const { numKvHeads: H, headDim: D, side } = src.geo;
  for (let layer = 0; layer < src.geo.numLayers; layer++) {
    for (const which of ['keys', 'values'] as const) {
      const from = src[which][layer]!;
      const to = dst[which][layer]!;
      rowIdx.forEach((r, k) => {
        const len = src.lens[r]!;
        if (len === 0) return;
        const srcCol = side === 'left' ? src.length - len : 0;
        const dstCol = side === 'left' ? dst.length - len : 0;
        for (let h = 0; h < H; h++) {
          const s = ((r * H + h) * src.length + srcCol) * D;
          const d = (((dstRow0 + k) * H + h) * dst.length + dstCol) * D;
          to.set(from.subarray(s, s + len * D), d);
        }
      });
    }
  }
}
