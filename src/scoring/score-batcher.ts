/**
 * Batching of prefill-only scoring passes. Items (one tokenized conversation each) from any number of
 * requests wait in one FIFO; each forward pass takes a batch whose padded size (rows × longest item)
 * stays within a token budget. Padding-aware: the oldest item is always in the next batch (no
 * starvation), and the rest of the batch is filled with the waiting items closest to it in length, as
 * long as no item would be padded to more than twice its length — short and long conversations are not
 * padded to each other.
 */

/** One conversation to score. */
export interface ScoreItem {
  requestId: number;
  /** Position in its request. */
  index: number;
  tokens: number[];
}

export interface ScoreBatcherLimits {
  /** Padded tokens per forward pass (rows × longest item). */
  maxBatchTokens: number;
  /** Rows per forward pass. */
  maxBatchRows: number;
  /** How many of the oldest waiting items are considered for one batch. */
  window: number;
}

export const DEFAULT_SCORE_LIMITS: ScoreBatcherLimits = { maxBatchTokens: 8192, maxBatchRows: 64, window: 256 };

/** See the module comment. */
export class ScoreBatcher {
  private queue: ScoreItem[] = [];

  constructor(readonly limits: ScoreBatcherLimits = DEFAULT_SCORE_LIMITS) {}

  /** Queues a request's items, in order. */
  add(requestId: number, items: number[][]): void {
    items.forEach((tokens, index) => this.queue.push({ requestId, index, tokens }));
  }

  /**
   * Queues a request's items at its place by arrival: before the items of every younger request (ids
   * grow with arrival, so the queue stays in arrival order). For requests that waited elsewhere first.
   */
  addInOrder(requestId: number, items: number[][]): void {
    const at = this.queue.findIndex((i) => i.requestId > requestId);
    const mine = items.map((tokens, index) => ({ requestId, index, tokens }));
    this.queue.splice(at < 0 ? this.queue.length : at, 0, ...mine);
  }

  /** Drops a request's waiting items (abort). */
  remove(requestId: number): void {
    this.queue = this.queue.filter((i) => i.requestId !== requestId);
  }

  get size(): number {
    return this.queue.length;
  }

  /** The request of the oldest waiting item (undefined when nothing waits). */
  get oldestRequestId(): number | undefined {
    return this.queue[0]?.requestId;
  }

  /** Takes the next batch (empty when nothing waits). An item longer than the budget goes alone. */
  next(): ScoreItem[] {
    if (this.queue.length === 0) return [];
    const window = this.queue.slice(0, this.limits.window);
    const order = window.map((_, i) => i).sort((a, b) => window[a]!.tokens.length - window[b]!.tokens.length || a - b);
    const at = order.indexOf(0); // the oldest item
    let lo = at;
    let hi = at;
    let width = window[0]!.tokens.length;
    const fits = (w: number, rows: number) => rows <= this.limits.maxBatchRows && w * rows <= this.limits.maxBatchTokens;
    // An item joins only if padding it (or the others) to the batch width at most doubles its cost.
    const close = (len: number, w: number) => len * 2 >= w;
    const base = width;
    for (;;) {
      const rows = hi - lo + 2;
      const down = lo > 0 ? window[order[lo - 1]!]!.tokens.length : undefined;
      const up = hi < order.length - 1 ? window[order[hi + 1]!]!.tokens.length : undefined;
      const canDown = down !== undefined && fits(width, rows) && close(down, width);
      const canUp = up !== undefined && fits(Math.max(width, up), rows) && close(window[order[lo]!]!.tokens.length, up);
      if (!canDown && !canUp) break;
      // Grow towards the neighbour closest in length to the oldest item (ties: the shorter one).
      if (canDown && (!canUp || base - down! <= up! - base)) lo--;
      else {
        hi++;
        width = Math.max(width, up!);
      }
    }
    const picked = new Set(order.slice(lo, hi + 1));
    const batch = window.filter((_, i) => picked.has(i));
    this.queue = this.queue.filter((_, i) => !(i < window.length && picked.has(i)));
    return batch;
  }
}
