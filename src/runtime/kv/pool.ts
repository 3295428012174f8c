/**
 * The KV pool: every KV allocation of one model goes through it, and it holds them within the budget
 * (`--kv-cache-memory`). Stores (store.ts) allocate buffers from it only when their membership changes.
 */
import type { KvArray, KvDType, KvMemory } from './memory.ts';

/** Shape facts shared by every store of one model. */
export interface KvGeometry {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  dtype: KvDType;
  side: 'left' | 'right';
  /**
   * Whether the graph can write its present into the past's buffer (GroupQueryAttention's
   * past_present_share_buffer): decode stores then keep one buffer and steps write in place.
   */
  inPlace: boolean;
}

/** Raised when an allocation would pass the KV budget (admission should have prevented it). */
export class KvBudgetError extends Error {
  override name = 'KvBudgetError';
}

/** One allocation: per layer a key and a value array of `slots` token slots. */
export interface KvBuffer<A extends KvArray = KvArray> {
  readonly slots: number;
  readonly keys: A[];
  readonly values: A[];
}

/** Every KV allocation of one model goes through its pool, which holds it within the budget. */
export class KvPool<A extends KvArray = KvArray> {
  /** Token slots allocated now, and the most ever allocated at once. */
  allocatedSlots = 0;
  peakSlots = 0;
  /** Allocations made (buffers), for tests that check steps allocate nothing. */
  allocations = 0;

  /**
   * Frees evictable allocations (the prefix cache's) when an allocation would pass the budget; called
   * with the slots missing. The pool then checks the budget again.
   */
  reclaim: ((slots: number) => void) | undefined = undefined;

  constructor(
    readonly memory: KvMemory<A>,
    readonly geo: KvGeometry,
    /** Token slots the budget allows. */
    readonly budgetSlots: number,
  ) {}

  /** Elements of one layer's key (or value) array per token slot. */
  get slotElements(): number {
    return this.geo.numKvHeads * this.geo.headDim;
  }

  alloc(slots: number): KvBuffer<A> {
    if (this.allocatedSlots + slots > this.budgetSlots) this.reclaim?.(this.allocatedSlots + slots - this.budgetSlots);
    if (this.allocatedSlots + slots > this.budgetSlots) {
      throw new KvBudgetError(`KV allocation of ${slots} slots would pass the budget (${this.allocatedSlots} of ${this.budgetSlots} in use)`);
    }
    const n = Math.max(slots, 1) * this.slotElements;
    const buf: KvBuffer<A> = {
      slots,
      keys: Array.from({ length: this.geo.numLayers }, () => this.memory.alloc(n)),
      values: Array.from({ length: this.geo.numLayers }, () => this.memory.alloc(n)),
    };
    this.allocatedSlots += slots;
    this.peakSlots = Math.max(this.peakSlots, this.allocatedSlots);
    this.allocations++;
    return buf;
  }

  free(buf: KvBuffer<A> | undefined): void {
    if (!buf) return;
    for (const a of [...buf.keys, ...buf.values]) this.memory.free(a);
    this.allocatedSlots -= buf.slots;
  }
}
