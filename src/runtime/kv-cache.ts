/**
 * The onnxruntime-node session's KV batch: used only by `ModelSession` (the `--score-runtime js` scorer,
 * kept for comparison, and tests' reference passes). Generation keeps its KV in the KV store
 * (kv/store.ts) where the model runs; this class copies through JS buffers.
 *
 * A batch's KV cache kept between steps.
 *
 * Layout: per layer one key and one value array of shape [rows, kvHeads, length, headDim] — exactly
 * what the graph takes as `past_key_values.N.*` — plus each row's valid token count. After a step the
 * graph's `present.N.*` outputs are adopted as the next past. Rows never join or leave: re-packing is
 * the KV store's (kv/store.ts).
 */
import { stepMask } from './kv/store.ts';

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

  /** Shape of each past tensor. */
  dims(): number[] {
    return [this.rows, this.geo.numKvHeads, this.length, this.geo.headDim];
  }

  /**
   * The attention mask for a step that adds `added` columns, where row r has `real[r]` real new tokens
   * (padded on the geometry's side within the added columns).
   */
  stepMask(added: number, real: number[]): BigInt64Array {
    return stepMask(this.geo.side, this.lens, this.length, added, real);
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
}
