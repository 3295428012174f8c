/**
 * The prefix cache: KV of recent prompts (and of finished sequences' prompt + output) kept in the KV
 * pool after their requests are done, so that a new prompt starting with the same tokens prefills only
 * the rest.
 *
 * Entries. An entry is a one-row KV store (`KvStore.snapshot`) holding the KV of its token sequence,
 * in an allocation of exactly its length, keyed by that sequence and a salt (the request's `cache_salt`;
 * an entry is reused only by a request with the same salt and the same tokens — the model is the one
 * whose worker holds the cache). Causal attention makes the KV of a sequence's first k tokens depend
 * on those k tokens only, so an entry serves any prompt that shares a prefix with it, however long.
 *
 * Matching is by the longest common prefix with each entry of the salt (a linear scan that stops at
 * the first differing token: entries are few — each holds a whole sequence — and the scan costs about
 * the matched length per entry, far below the prefill it saves). An entry covered by a newer one (its
 * tokens a prefix of the new one's) is dropped on insert, so a conversation keeps one entry per branch.
 *
 * Memory. Entries live in the pool, within the budget, and are all evictable: the pool calls `reclaim`
 * when an allocation would pass the budget, and entries go least recently used first. Only an entry
 * being copied from (pinned, for one step) cannot go. So the cache never makes admission fail that
 * would have succeeded without it: admission prices a request as if the cache were empty, plus the
 * pinned entry when it uses one (see the step loop).
 */
import type { KvArray } from './memory.ts';
import { KvBudgetError, KvStore, type KvPool } from './store.ts';

/** One cached sequence. */
interface Entry<A extends KvArray> {
  tokens: readonly number[];
  salt: string;
  store: KvStore<A>;
  lastUse: number;
  pins: number;
}

/** A usable cached prefix: the entry and how many of its first tokens the prompt shares. */
export interface PrefixHit<A extends KvArray = KvArray> {
  readonly entry: KvStore<A>;
  readonly tokens: number;
}

/** Counters and sizes, for metrics. */
export interface PrefixCacheStats {
  /** Prompt tokens looked up, and those found cached (vLLM's prefix_cache_queries / hits). */
  queryTokens: number;
  hitTokens: number;
  /** Entries and token slots held now. */
  entries: number;
  cachedTokens: number;
  evictions: number;
}

/** See the module comment. */
export class PrefixCache<A extends KvArray = KvArray> {
  private entries: Entry<A>[] = [];
  private clock = 0;
  private queryTokens = 0;
  private hitTokens = 0;
  private evictions = 0;

  constructor(
    pool: KvPool<A>,
    /** Shortest shared prefix worth using (shorter matches prefill everything). */
    readonly minTokens = 4,
  ) {
    pool.reclaim = (slots) => this.reclaim(slots);
  }

  /**
   * The longest cached prefix of `tokens` under `salt`, at most `maxTokens` long (a prompt must keep
   * at least one token to compute, for its logits), or undefined when none reaches `minTokens`.
   */
  lookup(tokens: readonly number[], salt: string, maxTokens: number): PrefixHit<A> | undefined {
    let best: Entry<A> | undefined;
    let bestLen = 0;
    for (const e of this.entries) {
      if (e.salt !== salt) continue;
      const n = commonPrefix(e.tokens, tokens, maxTokens);
      if (n > bestLen || (n === bestLen && best && e.lastUse > best.lastUse)) {
        best = e;
        bestLen = n;
      }
    }
    if (!best || bestLen < this.minTokens) return undefined;
    return { entry: best.store, tokens: bestLen };
  }

  /** Counts one admitted prompt's lookup (tokens asked, tokens found), and marks the entry used. */
  record(promptTokens: number, hit: PrefixHit<A> | undefined): void {
    this.queryTokens += promptTokens;
    if (!hit) return;
    this.hitTokens += hit.tokens;
    const e = this.entryOf(hit.entry);
    if (e) e.lastUse = ++this.clock;
  }

  /** Keeps `hit`'s entry from eviction until `unpin` (while it is copied from). */
  pin(hit: PrefixHit<A>): void {
    const e = this.entryOf(hit.entry);
    if (e) e.pins++;
  }

  unpin(hit: PrefixHit<A>): void {
    const e = this.entryOf(hit.entry);
    if (e) e.pins = Math.max(0, e.pins - 1);
  }

  /** Slots of the entry a hit uses (what pinning it keeps from eviction). */
  slotsOf(hit: PrefixHit<A>): number {
    return hit.entry.allocatedSlots;
  }

  /**
   * Caches the first `count` valid tokens of row `row` of `src`, which are `tokens[0..count)`. Skipped
   * when an entry already holds them (that entry is refreshed), or when the pool cannot make room.
   */
  insert(tokens: readonly number[], salt: string, src: KvStore<A>, row: number, count = tokens.length): void {
    if (count < this.minTokens) return;
    const seq = tokens.length === count ? tokens : tokens.slice(0, count);
    for (const e of this.entries) {
      if (e.salt === salt && e.tokens.length >= count && commonPrefix(e.tokens, seq, count) === count) {
        e.lastUse = ++this.clock;
        return;
      }
    }
    // Entries the new one covers go first (they also make room).
    this.drop((e) => e.salt === salt && e.pins === 0 && commonPrefix(e.tokens, seq, e.tokens.length) === e.tokens.length);
    let store: KvStore<A>;
    try {
      store = KvStore.snapshot(src, row, count);
    } catch (err) {
      if (err instanceof KvBudgetError) return;
      throw err;
    }
    this.entries.push({ tokens: [...seq], salt, store, lastUse: ++this.clock, pins: 0 });
  }

  /** Evicts least recently used unpinned entries until `slots` slots are freed (or none is left). */
  reclaim(slots: number): void {
    let freed = 0;
    const order = this.entries.filter((e) => e.pins === 0).sort((a, b) => a.lastUse - b.lastUse);
    const gone = new Set<Entry<A>>();
    for (const e of order) {
      if (freed >= slots) break;
      freed += e.store.allocatedSlots;
      gone.add(e);
    }
    this.evictions += gone.size;
    this.drop((e) => gone.has(e));
  }

  /** Frees every unpinned entry. */
  clear(): void {
    this.drop((e) => e.pins === 0);
  }

  /** Slots held by entries no one is copying from (what the pool may reclaim at once). */
  get evictableSlots(): number {
    return this.entries.reduce((a, e) => a + (e.pins === 0 ? e.store.allocatedSlots : 0), 0);
  }

  stats(): PrefixCacheStats {
    return {
      queryTokens: this.queryTokens,
      hitTokens: this.hitTokens,
      entries: this.entries.length,
      cachedTokens: this.entries.reduce((a, e) => a + e.store.allocatedSlots, 0),
      evictions: this.evictions,
    };
  }

  private entryOf(store: KvStore<A>): Entry<A> | undefined {
    return this.entries.find((e) => e.store === store);
  }

  private drop(which: (e: Entry<A>) => boolean): void {
    this.entries = this.entries.filter((e) => {
      if (!which(e)) return true;
      e.store.release();
      return false;
    });
  }
}

/** Length of the common prefix of `a` and `b`, at most `limit`. */
export function commonPrefix(a: readonly number[], b: readonly number[], limit = Infinity): number {
  const n = Math.min(a.length, b.length, limit);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
