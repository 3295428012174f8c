/**
 * The KV store: a batch of sequences' KV cache, kept where the model runs, bounded by a budget.
 *
 * Layout. Per layer, keys and values are each a flat array holding the batch as one dense tensor
 * [rows, kvHeads, columns, headDim] at offset 0 — exactly what the graph takes as `past_key_values.N.*`.
 * Two modes, by what the graph can do:
 * - ping-pong (Optimum Concat, GenAI MultiHeadAttention; every prefill group): `present` = past + the
 *   step's new columns, a new tensor, so the store keeps TWO buffers of equal capacity: the past is read
 *   from one while the graph writes the present into the other, which becomes the next past. Columns =
 *   `length`, the same for every row. The graph's own concatenation is the only copy, on the device.
 * - in place (GroupQueryAttention decode stores): the same buffer is bound as past and present
 *   (past_present_share_buffer) and the kernel writes each row's new token at its own position, so one
 *   buffer of fixed `stride` columns suffices and a step copies nothing.
 * No step allocates, and nothing is read on the host.
 *
 * Invariant (no holes): with left padding a row's valid tokens are its last `lens[r]` columns; with
 * right padding its first `lens[r]` columns. In ping-pong mode every step appends the same number of
 * columns to every row, each row's new tokens padded on the geometry's side.
 *
 * Memory. A slot = one row × one column (all layers, keys and values). Capacity is set when membership
 * changes, so that steps never need more: ping-pong, 2 × rows × (length + the most tokens any row may
 * still add); in place, rows × the longest any row may grow. It is charged to the pool when allocated,
 * and the pool refuses anything past its budget. Joins and leaves re-pack rows on the device
 * (KvMemory.copy): in place when the layout allows, else into the idle buffer, else into a new
 * allocation (made before the old one is freed: a re-size peaks at old + new). The dense batch's
 * padding is part of the cost, and admission charges it (`joinCost`).
 */
import type { KvArray } from './memory.ts';
import { KvBudgetError, type KvBuffer, type KvPool } from './pool.ts';
import { stepMask } from './mask.ts';

export { KvBudgetError, KvPool, type KvBuffer, type KvGeometry } from './pool.ts';
export { stepMask } from './mask.ts';

/** A tensor view for binding: an array and the dims of the tensor at its start. */
export interface KvView<A extends KvArray = KvArray> {
  array: A;
  dims: [number, number, number, number];
}

/** What admission needs to know of a request joining the decode batch. */
export interface JoinRequest {
  promptLen: number;
  n: number;
  /** Longest the sequence's KV may grow: min(prompt + max_tokens, context). */
  finalLen: number;
}

/** See the module comment. */
export class KvStore<A extends KvArray = KvArray> {
  /** Valid tokens per row. */
  lens: number[] = [];
  /** Longest each row may grow to (its KV never needs more). */
  finals: number[] = [];
  /** Columns (past length) of every row. */
  length = 0;
  private bufs: [KvBuffer<A> | undefined, KvBuffer<A> | undefined] = [undefined, undefined];
  private cur: 0 | 1 = 0;
  /** In-place mode: columns per row in the buffer. */
  private stride = 0;

  constructor(
    readonly pool: KvPool<A>,
    /** In-place mode (see the module comment); ping-pong otherwise. */
    readonly inPlace = false,
  ) {
    if (inPlace && pool.geo.side !== 'right') throw new Error('in-place KV stores need right padding (GroupQueryAttention)');
  }

  /** A decode store: in place when the model's graph allows it. */
  static forDecode<A extends KvArray>(pool: KvPool<A>): KvStore<A> {
    return new KvStore(pool, pool.geo.inPlace);
  }

  /** A store for a prefill group of `rows` prompts, the longest `width` tokens, run in one chunk or several. */
  static forPrefill<A extends KvArray>(pool: KvPool<A>, rows: number, width: number, chunked: boolean): KvStore<A> {
    const s = new KvStore(pool);
    s.lens = new Array<number>(rows).fill(0);
    s.finals = new Array<number>(rows).fill(width);
    // A single chunk has an empty past: only the buffer it writes is needed.
    s.bufs = [chunked ? pool.alloc(rows * width) : undefined, pool.alloc(rows * width)];
    return s;
  }

  get rows(): number {
    return this.lens.length;
  }

  /** Slots this store holds allocated (both buffers). */
  get allocatedSlots(): number {
    return (this.bufs[0]?.slots ?? 0) + (this.bufs[1]?.slots ?? 0);
  }

  /** Capacity of each buffer, in slots. */
  get capacity(): number {
    return Math.min(this.bufs[0]?.slots ?? Infinity, this.bufs[1]?.slots ?? Infinity);
  }

  /** Columns of the tensor the buffer holds now. */
  private get cols(): number {
    return this.inPlace ? this.stride : this.length;
  }

  /** The past tensors of `layer` (keys or values) for the next step. */
  past(layer: number, kind: 'keys' | 'values'): KvView<A> {
    const buf = this.bufs[this.cur] ?? this.bufs[1 - this.cur]!;
    return { array: buf[kind][layer]!, dims: [this.rows, this.pool.geo.numKvHeads, this.cols, this.pool.geo.headDim] };
  }

  /** Where the graph writes the present tensors of a step adding `added` columns. */
  present(layer: number, kind: 'keys' | 'values', added: number): KvView<A> {
    if (this.inPlace) return this.past(layer, kind);
    const buf = this.bufs[1 - this.cur]!;
    return { array: buf[kind][layer]!, dims: [this.rows, this.pool.geo.numKvHeads, this.length + added, this.pool.geo.headDim] };
  }

  /**
   * Makes sure a step adding `added` columns fits: allocates the idle twin after a re-size, and throws
   * when the buffers are too small (admission guarantees they are not).
   */
  checkStep(added: number): void {
    if (this.inPlace) {
      const buf = this.bufs[0];
      if (!buf || this.length + added > this.stride || buf.slots < this.rows * this.stride) {
        throw new KvBudgetError(`KV store holds ${this.stride} columns for ${buf ? buf.slots / Math.max(this.stride, 1) : 0} rows; the step needs ${this.length + added} for ${this.rows}`);
      }
      return;
    }
    const need = this.rows * (this.length + added);
    const current = this.bufs[this.cur];
    if (!this.bufs[1 - this.cur] && current) this.bufs[1 - this.cur] = this.pool.alloc(current.slots);
    const target = this.bufs[1 - this.cur];
    if (!target || target.slots < need) {
      throw new KvBudgetError(`KV store holds ${target?.slots ?? 0} slots per buffer; the step needs ${need}`);
    }
  }

  /**
   * The attention mask for a step that adds `added` columns, where row r has `real[r]` real new tokens
   * (padded on the geometry's side within the added columns).
   */
  stepMask(added: number, real: number[], out?: BigInt64Array): BigInt64Array {
    return stepMask(this.pool.geo.side, this.lens, this.length, added, real, out);
  }

  /** After a step: the present becomes the past. */
  adopt(added: number, real: number[]): void {
    if (!this.inPlace) this.cur = (1 - this.cur) as 0 | 1;
    this.length += added;
    this.lens = this.lens.map((l, r) => l + real[r]!);
  }

  /**
   * Adds rows taken from `group` (row indices, in order; an index may repeat, which is how `n`
   * sequences share one prefilled prompt), each with the longest length it may reach.
   */
  absorb(group: KvStore<A>, rowIdx: number[], finals: number[]): void {
    const lens = [...this.lens, ...rowIdx.map((r) => group.lens[r]!)];
    const allFinals = [...this.finals, ...finals];
    const length = Math.max(0, ...lens);
    if (this.inPlace) {
      this.absorbInPlace(group, rowIdx, Math.max(length + 1, ...allFinals));
    } else this.absorbPingPong(group, rowIdx, length, lens.length * columnsNeeded(length, lens, allFinals));
    this.lens = lens;
    this.finals = allFinals;
    this.length = length;
  }

  private absorbInPlace(group: KvStore<A>, rowIdx: number[], stride: number): void {
    const rows = this.rows + rowIdx.length;
    const buf = this.bufs[0];
    if (buf && stride <= this.stride && buf.slots >= rows * this.stride) {
      this.copyRows(group, rowIdx, buf, this.stride, this.rows);
      return;
    }
    const dst = this.pool.alloc(rows * stride);
    this.copyRows(this, this.lens.map((_, i) => i), dst, stride, 0);
    this.copyRows(group, rowIdx, dst, stride, this.rows);
    this.pool.free(buf);
    this.bufs = [dst, undefined];
    this.stride = stride;
  }

  private absorbPingPong(group: KvStore<A>, rowIdx: number[], length: number, need: number): void {
    const src = this.bufs[this.cur];
    if (length === this.length && src && src.slots >= need) {
      // Same column count: existing rows stay where they are; the new ones go after them.
      this.copyRows(group, rowIdx, src, length, this.rows);
    } else {
      const dst = this.target(need);
      this.copyRows(this, this.lens.map((_, i) => i), dst, length, 0);
      this.copyRows(group, rowIdx, dst, length, this.rows);
      this.install(dst);
    }
  }

  /** Keeps only `rowIdx` (in order), trimming columns no kept row uses; frees everything when none is kept. */
  keep(rowIdx: number[]): void {
    const lens = rowIdx.map((r) => this.lens[r]!);
    const finals = rowIdx.map((r) => this.finals[r]!);
    if (lens.length === 0) {
      this.release();
      return;
    }
    const length = Math.max(...lens);
    const src = this.bufs[this.cur]!;
    const ascending = rowIdx.every((r, i) => i === 0 || r > rowIdx[i - 1]!);
    if (this.inPlace) {
      const stride = Math.max(length + 1, ...finals);
      if (ascending && lens.length * stride * 4 > src.slots) {
        // Same stride: compact rows in place (each moves to a lower or equal offset).
        this.copyRows(this, rowIdx, src, this.stride, 0);
      } else {
        const dst = this.pool.alloc(lens.length * stride);
        this.copyRows(this, rowIdx, dst, stride, 0);
        this.pool.free(src);
        this.bufs = [dst, undefined];
        this.stride = stride;
      }
    } else this.keepPingPong(rowIdx, length, lens.length * columnsNeeded(length, lens, finals), ascending);
    this.lens = lens;
    this.finals = finals;
    this.length = length;
  }

  private keepPingPong(rowIdx: number[], length: number, need: number, ascending: boolean): void {
    const src = this.bufs[this.cur]!;
    if (length === this.length && ascending && need * 4 > src.slots) {
      // Same column count: compact rows in place (each moves to a lower or equal offset).
      this.copyRows(this, rowIdx, src, length, 0);
    } else {
      // Shrinks the allocation when it has become much larger than needed.
      const dst = need * 4 <= src.slots ? this.target(need, true) : this.target(need);
      this.copyRows(this, rowIdx, dst, length, 0);
      this.install(dst);
    }
  }

  /**
   * A new one-row store holding the first `count` valid tokens of row `row` of `src`, in an allocation
   * of exactly `count` slots (a prefix cache entry). Throws KvBudgetError when the pool cannot hold it.
   */
  static snapshot<A extends KvArray>(src: KvStore<A>, row: number, count: number): KvStore<A> {
    const s = new KvStore(src.pool);
    const buf = src.pool.alloc(count);
    s.copyRows(src, [row], buf, count, 0, [count]);
    s.bufs = [buf, undefined];
    s.lens = [count];
    s.finals = [count];
    s.length = count;
    return s;
  }

  /**
   * Makes this one-row prefill store (made with `chunked` true) start from the first `count` tokens of
   * `entry`'s row 0: its past becomes that prefix, and the rest of the prompt is prefilled on it.
   */
  seed(entry: KvStore<A>, count: number): void {
    const buf = this.bufs[this.cur];
    if (this.rows !== 1 || this.length !== 0 || !buf || buf.slots < count) throw new Error('only an empty one-row chunked prefill store can be seeded');
    this.copyRows(entry, [0], buf, count, 0, [count]);
    this.lens = [count];
    this.length = count;
  }

  /** Frees both buffers. */
  release(): void {
    this.pool.free(this.bufs[0]);
    this.pool.free(this.bufs[1]);
    this.bufs = [undefined, undefined];
    this.cur = 0;
    this.stride = 0;
    this.lens = [];
    this.finals = [];
    this.length = 0;
  }

  /**
   * The buffer a re-pack writes into: the idle one when it holds `need` slots (and no shrink is asked),
   * else a new allocation made after freeing the idle one.
   */
  private target(need: number, shrink = false): KvBuffer<A> {
    const idle = this.bufs[1 - this.cur];
    if (idle && idle.slots >= need && !shrink) return idle;
    this.pool.free(idle);
    this.bufs[1 - this.cur] = undefined;
    return this.pool.alloc(need);
  }

  /**
   * Makes `dst` (holding the re-packed rows) current. After a re-size the idle buffer is gone: its twin
   * is allocated by the next step (`checkStep`), once the caller has freed the prefill group.
   */
  private install(dst: KvBuffer<A>): void {
    if (this.bufs[this.cur] === dst) return;
    if (this.bufs[1 - this.cur] === dst) {
      this.cur = (1 - this.cur) as 0 | 1;
      return;
    }
    this.pool.free(this.bufs[this.cur]);
    this.pool.free(this.bufs[1 - this.cur]);
    this.bufs = [undefined, undefined];
    this.bufs[this.cur] = dst;
  }

  /**
   * Copies the valid columns of `rowIdx` rows of `src` (or the first `counts[k]` of them) into `dst` (laid
   * out with `dstLength` columns) from row `dstRow0`. With left padding it zeroes the written rows' padding: memory may hold anything (NaN
   * included), and a masked column still enters attention (Concat / MultiHeadAttention) as probability
   * 0 × value. Right padding is GroupQueryAttention's, which never reads past a row's length.
   */
  private copyRows(src: KvStore<A>, rowIdx: number[], dst: KvBuffer<A>, dstLength: number, dstRow0: number, counts?: number[]): void {
    const { numKvHeads: H, headDim: D, side, numLayers } = this.pool.geo;
    const from = src.bufs[src.cur];
    const mem = this.pool.memory;
    for (let layer = 0; layer < numLayers; layer++) {
      for (const kind of ['keys', 'values'] as const) {
        const a = from?.[kind][layer];
        const b = dst[kind][layer]!;
        rowIdx.forEach((r, k) => {
          // The row's first `len` valid tokens (all of them unless `counts` says fewer).
          const len = from ? (counts?.[k] ?? src.lens[r]!) : 0;
          const srcCol = side === 'left' ? src.cols - src.lens[r]! : 0;
          const dstCol = side === 'left' ? dstLength - len : 0;
          for (let h = 0; h < H; h++) {
            const row = ((dstRow0 + k) * H + h) * dstLength * D;
            const d = row + dstCol * D;
            const s = ((r * H + h) * src.cols + srcCol) * D;
            if (len > 0 && (a !== b || s !== d)) mem.copy(b, d, a!, s, len * D);
            if (side === 'left') {
              mem.zero(b, row, dstCol * D);
              mem.zero(b, d + len * D, (dstLength - dstCol - len) * D);
            }
          }
        });
      }
    }
  }

  /**
   * What letting `group` join costs, in slots: the peak the pool reaches while it prefills (in `chunks`
   * steps) and joins, and what stays allocated after. An upper bound: rows decoding now may finish
   * meanwhile, and the join re-sizes to what is really needed then.
   */
  joinCost(group: readonly JoinRequest[], width: number, chunks: number): { peak: number; after: number } {
    const prefill = group.length * width * (chunks > 1 ? 2 : 1);
    const rowsAfter = this.rows + group.reduce((a, g) => a + g.n, 0);
    const now = this.allocatedSlots;
    if (this.inPlace) {
      const stride = Math.max(...this.finals, ...group.map((g) => g.finalLen));
      const buf = this.bufs[0];
      if (buf && this.rows > 0 && stride <= this.stride && buf.slots >= rowsAfter * this.stride) return { peak: now + prefill, after: now };
      return { peak: now + prefill + rowsAfter * stride, after: rowsAfter * stride };
    }
    let columns: number;
    const newRem = Math.max(1, ...group.map((g) => g.finalLen - g.promptLen));
    const maxPrompt = Math.max(0, ...group.map((g) => g.promptLen));
    if (this.rows > 0) {
      // Rows decoding now never need more than `reach` columns (each step adds a column and uses a
      // token), and have at most `chunks` more columns when the group joins.
      const reach = columnsNeeded(this.length, this.lens, this.finals);
      columns = Math.max(reach, Math.max(Math.min(this.length + chunks, reach), maxPrompt) + newRem);
    } else {
      columns = maxPrompt + newRem;
    }
    const need = rowsAfter * columns;
    const current = this.rows > 0 ? this.capacity : 0;
    if (need <= current) return { peak: now + prefill, after: now };
    // The idle buffer is freed, the new one filled from the old one and the group; its twin is made
    // at the next step, after the group is freed.
    return { peak: Math.max(now + prefill, current + need + prefill, 2 * need), after: 2 * need };
  }

  /** Slots `group` needs in an empty engine: more than the budget means it can never run. */
  static aloneCost(group: readonly JoinRequest[], width: number, chunks: number, inPlace: boolean): number {
    const prefill = group.length * width * (chunks > 1 ? 2 : 1);
    const rows = group.reduce((a, g) => a + g.n, 0);
    if (inPlace) return prefill + rows * Math.max(...group.map((g) => g.finalLen));
    const columns = Math.max(0, ...group.map((g) => g.promptLen)) + Math.max(1, ...group.map((g) => g.finalLen - g.promptLen));
    return Math.max(rows * columns + prefill, 2 * rows * columns);
  }
}

/** Columns a batch needs until every row has reached its final length. */
function columnsNeeded(length: number, lens: number[], finals: number[]): number {
  let rem = 1;
  for (let i = 0; i < lens.length; i++) rem = Math.max(rem, finals[i]! - lens[i]!);
  return length + rem;
}

/** Why a request can never run under a KV budget of `budgetSlots` token slots. */
export function kvRefusalMessage(join: JoinRequest, chunks: number, inPlace: boolean, budgetSlots: number): string {
  const need = KvStore.aloneCost([join], join.promptLen, chunks, inPlace);
  return (
    `the prompt (${join.promptLen} tokens) plus max_tokens for ${join.n} sequence(s) needs ${need} KV cache token slots, ` +
    `more than the KV cache budget holds (${budgetSlots}); lower max_tokens or n, or raise --kv-cache-memory`
  );
}
