/**
 * Shared-prompt scoring, the pure part: which requests share a prefix, and how their passes are cut.
 *
 * A score request's items are whole conversations, one per response, all rendered from the same prompt
 * turns, so they usually begin with the same tokens. Scoring them one row each recomputes that prompt n
 * times. A shared job computes it once: a prefix pass prefills the prompt (one row per job, several jobs
 * together), then suffix passes run every response's remaining tokens on a copy of its job's prefix KV
 * (shared-scorer.ts). Causal attention makes the last position's output the same either way (to float
 * rounding): the suffix tokens see the same keys and values at the same positions.
 *
 * Invariants of a job: its prefix has at least `DEFAULT_SHARE_THRESHOLDS.prefix` tokens; every suffix has
 * ≥ 1 token (the prefix stops one token short of the shortest item), because the readout is the output at
 * an item's LAST token, which a suffix pass must compute; `prefix + suffixes[i]` equals the request's
 * item i.
 *
 * Order: jobs wait in arrival order; a group is the oldest job and the ones after it that fit, and the
 * worker serves a group only when its oldest request is older than every waiting plain item (FIFO).
 *
 * Memory (KV token slots of the worker's pool, see kv/store.ts): a group's prefix store holds
 * rows × longest prefix; a suffix pass of k rows, past `cols` columns and `width` new tokens holds two
 * buffers (the graph writes the present beside the past) of k × (cols + width). Planning keeps the sum
 * within the pool's budget, so no pass can fail for memory; a job that could not run even alone is scored
 * the plain way.
 */
import type { ScoreBatcherLimits } from './score-batcher.ts';

/** When sharing is worth it (see `DEFAULT_SHARE_THRESHOLDS`). */
export interface ShareThresholds {
  /** Shortest shared prefix, in tokens. */
  prefix: number;
  /** Fewest prompt tokens sharing must save: (responses − 1) × prefix. */
  saved: number;
}

/**
 * A request shares a prefix of at least 16 tokens; a group shares only when it saves at least 256 token
 * computations in all (`worthSharing`). Sharing runs one pass more than plain scoring (the prefix pass),
 * and a pass costs at least one read of every weight: on a GPU that is what computing a few hundred
 * tokens costs. So a lone short prompt with two responses is cheaper scored whole, while concurrent ones
 * (an evaluation's rows in flight) share one prefix pass between them and save together.
 */
export const DEFAULT_SHARE_THRESHOLDS: ShareThresholds = { prefix: 16, saved: 256 };

/**
 * The shared-scoring pool's budget, in token slots, as a multiple of the batcher's padded-token limit:
 * with the default 8,192 that is 32,768 slots, enough for 8 responses of 200 tokens to a 1,000-token
 * prompt in one suffix pass (2 × 8 × 1,200 + 1,000), and for any one item up to ~10,900 tokens alone.
 * Allocated only while a group runs. A plain pass's present tensors take up to 1× (held by ONNX Runtime).
 */
export const SHARED_KV_BUDGET_FACTOR = 4;

/** One score request scored from a shared prefix. */
export interface SharedJob {
  requestId: number;
  prefix: number[];
  /** Each item's tokens after the prefix (≥ 1 each), in request order. */
  suffixes: number[][];
}

/** Limits a shared group and its passes keep to. */
export interface SharedLimits extends ScoreBatcherLimits {
  /** KV token slots the pool holds (see the module comment). */
  kvSlots: number;
  /** Whether several rows may run a multi-token step on a past together (false: GroupQueryAttention). */
  batchedSuffixes: boolean;
}

/** One row of a suffix pass: item `index` of the group's job `job` (its row in the prefix store). */
export interface SuffixRow {
  job: number;
  index: number;
}

/** Length of the longest prefix every item starts with. */
export function commonPrefixLength(items: readonly (readonly number[])[]): number {
  if (items.length === 0) return 0;
  const first = items[0]!;
  let n = Math.min(...items.map((i) => i.length));
  for (const item of items) {
    let k = 0;
    while (k < n && item[k] === first[k]) k++;
    n = k;
  }
  return n;
}

/**
 * The shared job for a request's items, or undefined when it should be scored the plain way: fewer than
 * two items, a shared prefix shorter than `minPrefix`, or a job that could not fit the pool even alone.
 */
export function planSharedJob(requestId: number, items: number[][], limits: SharedLimits, minPrefix = DEFAULT_SHARE_THRESHOLDS.prefix): SharedJob | undefined {
  if (items.length < 2) return undefined;
  // One token short of the shortest item: every item keeps its last token for the suffix pass.
  const p = Math.min(commonPrefixLength(items), Math.min(...items.map((i) => i.length)) - 1);
  if (p < Math.max(1, minPrefix)) return undefined;
  const job: SharedJob = { requestId, prefix: items[0]!.slice(0, p), suffixes: items.map((i) => i.slice(p)) };
  return aloneSlots(job) <= limits.kvSlots ? job : undefined;
}

/** Prompt tokens a group's sharing saves: (responses − 1) × prefix, summed over its jobs. */
export function groupSavedTokens(group: readonly SharedJob[]): number {
  return group.reduce((a, j) => a + (j.suffixes.length - 1) * j.prefix.length, 0);
}

/** Whether a group is worth its prefix pass (else its requests are scored whole; see the thresholds). */
export function worthSharing(group: readonly SharedJob[], minSaved = DEFAULT_SHARE_THRESHOLDS.saved): boolean {
  return groupSavedTokens(group) >= minSaved;
}

/** The job's items, whole again (prefix + each suffix). */
export function wholeItems(job: SharedJob): number[][] {
  return job.suffixes.map((s) => [...job.prefix, ...s]);
}

/** Longest item of a job. */
function longestItem(job: SharedJob): number {
  return job.prefix.length + Math.max(...job.suffixes.map((s) => s.length));
}

/** Slots a job needs run alone: its prefix store plus one single-row suffix pass of its longest item. */
export function aloneSlots(job: SharedJob): number {
  return job.prefix.length + 2 * longestItem(job);
}

/**
 * How many jobs from the head of `queue` (oldest first) form the next group: the oldest always, then the
 * following ones while the prefix pass stays within the row and padded-token limits and the group's
 * prefix store plus its costliest single-row suffix pass fits the pool (so every suffix row can run).
 */
export function planGroup(queue: readonly SharedJob[], limits: SharedLimits): number {
  if (queue.length === 0) return 0;
  let width = queue[0]!.prefix.length;
  let longest = longestItem(queue[0]!);
  let g = 1;
  while (g < queue.length && g < limits.maxBatchRows) {
    const next = queue[g]!;
    const w = Math.max(width, next.prefix.length);
    const l = Math.max(longest, longestItem(next));
    if ((g + 1) * w > limits.maxBatchTokens || (g + 1) * w + 2 * l > limits.kvSlots) break;
    width = w;
    longest = l;
    g++;
  }
  return g;
}

/** Slots a suffix pass holds: two buffers of rows × (past columns + new tokens). */
export function suffixPassSlots(rows: number, cols: number, width: number): number {
  return 2 * rows * (cols + width);
}

/**
 * Cuts a group's suffix rows into passes. Rows go longest suffix first, so that rows of similar length
 * share a pass; a pass grows while it keeps to the row and padded new-token limits, its KV with the
 * group's prefix store (`prefixSlots`) fits the pool, and (as ScoreBatcher does) no row would be padded
 * to more than twice its length. One row per pass when the model cannot batch multi-token steps on a
 * past. `planGroup` guarantees a single row always fits.
 */
export function planSuffixPasses(group: readonly SharedJob[], prefixSlots: number, limits: SharedLimits): SuffixRow[][] {
  const rows: SuffixRow[] = group.flatMap((job, j) => job.suffixes.map((_, index) => ({ job: j, index })));
  const len = (r: SuffixRow) => group[r.job]!.suffixes[r.index]!.length;
  const cols = (r: SuffixRow) => group[r.job]!.prefix.length;
  rows.sort((a, b) => len(b) - len(a) || a.job - b.job || a.index - b.index);
  const maxRows = limits.batchedSuffixes ? limits.maxBatchRows : 1;
  const passes: SuffixRow[][] = [];
  let pass: SuffixRow[] = [];
  let width = 0;
  let past = 0;
  for (const r of rows) {
    const w = Math.max(width, len(r));
    const c = Math.max(past, cols(r));
    const k = pass.length + 1;
    const fits = k <= maxRows && k * w <= limits.maxBatchTokens && prefixSlots + suffixPassSlots(k, c, w) <= limits.kvSlots && len(r) * 2 >= w;
    if (pass.length > 0 && !fits) {
      passes.push(pass);
      pass = [];
      width = len(r);
      past = cols(r);
    } else {
      width = w;
      past = c;
    }
    pass.push(r);
  }
  if (pass.length > 0) passes.push(pass);
  return passes;
}

/**
 * Prefix tokens a suffix pass did not compute: each row reads its job's prefix from the shared past; the
 * first row of each job is charged with the prefix pass that computed it once. Summed over a job's passes
 * this is (responses − 1) × prefix length.
 */
export function savedTokens(group: readonly SharedJob[], pass: readonly SuffixRow[], firstRowSeen: Set<number>): number {
  let saved = 0;
  for (const r of pass) {
    if (!firstRowSeen.has(r.job)) firstRowSeen.add(r.job);
    else saved += group[r.job]!.prefix.length;
  }
  return saved;
}
