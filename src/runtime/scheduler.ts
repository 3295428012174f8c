/**
 * The step scheduler: a pure state machine that decides, before each engine step, which waiting
 * requests start prefilling and which prefill chunk runs beside the decode rows. It knows nothing of
 * tensors or HTTP, so it is tested with plain numbers. Admission is decided here and nowhere else.
 *
 * States of a request:
 *
 *   waiting ──admit (group)──▶ prefilling ──last chunk──▶ running ──all rows done──▶ (gone)
 *      │  └──refuse (can never fit)──▶ (gone)  │                     │
 *      └─────────────────────── cancel ────────┴─────────────────────┘
 *
 * - waiting → prefilling: one prefill group at a time, formed FIFO from the head of the queue while
 *   running + prefilling sequences + n <= maxNumSeqs and the KV store can hold the group: the `kv`
 *   oracle prices the group against what the store really allocates (its prefill buffers, the decode
 *   batch re-sized for it) and answers fits / wait / never. The head blocks the rest (no overtaking);
 *   a head that could not fit even in an empty engine is refused (the step loop fails it clearly).
 *   A group of several requests must fit in a single chunk (rows × longest prompt <= the step's
 *   prefill budget); a request whose prompt is longer than that forms a group alone and is prefilled
 *   in chunks over several steps. This suits both KV styles: GroupQueryAttention exports cannot run a
 *   batched multi-token step on a past, so only a group of one ever continues on a past.
 * - Prefix cache: a head whose prompt starts with cached tokens (`cachedPrefix`) forms a group alone
 *   whose prefill starts after them, if it fits with them; otherwise it is priced as if nothing were
 *   cached. A later request with at least half its prompt cached does not join another's group: it
 *   leads its own at the next step.
 * - A request with `maxChunk` (prompt logprobs: every position's logits come back to the host, so the
 *   chunk bounds that memory) leads a group alone and is prefilled at most maxChunk tokens per step
 *   (unless the model cannot chunk, when its prompt runs whole).
 * - prefilling → running: after its last chunk; its n rows join the decode batch at the next step.
 * - Every step decodes one token for each running row. The step's token budget (maxBatchedTokens) is
 *   shared: decode rows first, the rest goes to the prefill chunk (at least minChunk tokens, so a busy
 *   decode batch cannot starve prefill). A long prompt delays running streams by one chunk per step.
 */

/** Limits the scheduler enforces. */
export interface SchedulerLimits {
  maxNumSeqs: number;
  /** Tokens processed per step (decode rows + prefill chunk). */
  maxBatchedTokens: number;
  /** Smallest prefill chunk per step, whatever the decode rows use. */
  minChunk: number;
  /** False when the model cannot continue a prefill on a past: every prompt then runs in one chunk. */
  chunkedPrefill?: boolean;
}

/** Prefill chunks a prompt of `promptLen` tokens takes when nothing else runs (the fewest it ever takes). */
export function aloneChunks(promptLen: number, limits: Pick<SchedulerLimits, 'maxBatchedTokens' | 'chunkedPrefill'>): number {
  return limits.chunkedPrefill === false ? 1 : Math.max(1, Math.ceil(promptLen / limits.maxBatchedTokens));
}

/** The KV store's answer to "can this group start prefilling now?". */
export type KvVerdict = 'fits' | 'wait' | 'never';

/** Prices a prefill group against the KV budget (implemented by the step loop over its KV store). */
export interface KvAdmission {
  /**
   * The verdict for `group` (padded to `width`, prefilled in `chunks` steps); `cached` > 0 when its
   * single request starts from that many cached prompt tokens.
   */
  check(group: readonly SchedRequest[], width: number, chunks: number, cached?: number): KvVerdict;
  /** Prompt tokens of `req` the prefix cache holds and would serve now (0: none, or caching is off). */
  cachedPrefix?(req: SchedRequest): number;
}


/** What the scheduler needs to know of a request. */
export interface SchedRequest {
  id: number;
  promptLen: number;
  n: number;
  maxTokens: number;
  /** Most prompt tokens per prefill chunk; such a request prefills in a group of its own. */
  maxChunk?: number;
}

/** A prefill group in progress. */
export interface PrefillGroup {
  ids: number[];
  /** Longest prompt in the group (the padded width). */
  width: number;
  /** Columns already prefilled. */
  done: number;
  /** Columns taken from the prefix cache (a group of one request), where `done` started. */
  cached: number;
  /** Most columns per chunk (a group of one request with maxChunk). */
  maxChunk?: number;
}

/** The plan of one step. */
export interface StepPlan {
  /** Whether the decode batch runs this step. */
  decode: boolean;
  /** The prefill chunk to run: columns [from, to) of the group's padded prompts. */
  prefill?: { group: PrefillGroup; from: number; to: number; first: boolean; last: boolean };
  /** Requests refused this step: they could not fit the KV budget even alone. */
  refused: number[];
}

/** See the module comment for the state machine. */
export class Scheduler {
  private readonly waiting: SchedRequest[] = [];
  private group: PrefillGroup | undefined;
  private readonly requests = new Map<number, SchedRequest>();
  /** Rows (sequences) still generating per running request. */
  private readonly runningRows = new Map<number, number>();

  constructor(
    readonly limits: SchedulerLimits,
    private readonly kv: KvAdmission,
  ) {}

  /** Queues a request (FIFO). */
  enqueue(req: SchedRequest): void {
    this.requests.set(req.id, req);
    this.waiting.push(req);
  }

  /** Sequences prefilling or running. */
  get activeSeqs(): number {
    let n = this.runningSeqs;
    for (const id of this.group?.ids ?? []) n += this.requests.get(id)!.n;
    return n;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get runningSeqs(): number {
    let n = 0;
    for (const rows of this.runningRows.values()) n += rows;
    return n;
  }

  /** True when nothing is waiting, prefilling or running. */
  get idle(): boolean {
    return this.requests.size === 0;
  }

  /** Plans the next step; forms a prefill group from the waiting queue as room allows. */
  plan(): StepPlan {
    const decodeRows = this.runningSeqs;
    const plan: StepPlan = { decode: decodeRows > 0, refused: [] };
    const budget = Math.max(this.limits.minChunk, this.limits.maxBatchedTokens - decodeRows);
    if (!this.group) this.group = this.formGroup(budget, plan.refused);
    const g = this.group;
    if (g) {
      const perRow = this.limits.chunkedPrefill === false ? g.width : Math.max(1, Math.min(g.maxChunk ?? Infinity, Math.floor(budget / g.ids.length)));
      const to = Math.min(g.width, g.done + perRow);
      plan.prefill = { group: g, from: g.done, to, first: g.done === g.cached, last: to === g.width };
    }
    return plan;
  }

  /** FIFO group formation; heads that can never fit are moved to `refused`. */
  private formGroup(budget: number, refused: number[]): PrefillGroup | undefined {
    while (this.waiting.length > 0) {
      const head = this.waiting[0]!;
      if (this.activeSeqs + head.n > this.limits.maxNumSeqs) return undefined;
      const hit = this.fromCache(head, budget);
      if (hit) return hit;
      const perChunk = Math.min(budget, head.maxChunk ?? Infinity);
      const chunks = this.limits.chunkedPrefill === false ? 1 : Math.ceil(head.promptLen / perChunk);
      const verdict = this.kv.check([head], head.promptLen, chunks);
      if (verdict === 'wait') return undefined;
      if (verdict === 'never') {
        this.waiting.shift();
        this.requests.delete(head.id);
        refused.push(head.id);
        continue;
      }
      const members = [head];
      let width = head.promptLen;
      let seqs = this.activeSeqs + head.n;
      if (width <= budget && head.maxChunk === undefined) {
        for (const r of this.waiting.slice(1)) {
          if (r.maxChunk !== undefined) break;
          const w = Math.max(width, r.promptLen);
          if (w * (members.length + 1) > budget || seqs + r.n > this.limits.maxNumSeqs) break;
          // A request with most of its prompt cached waits to lead its own group.
          if ((this.kv.cachedPrefix?.(r) ?? 0) * 2 >= r.promptLen) break;
          if (this.kv.check([...members, r], w, 1) !== 'fits') break;
          members.push(r);
          width = w;
          seqs += r.n;
        }
      }
      this.waiting.splice(0, members.length);
      return { ids: members.map((m) => m.id), width, done: 0, cached: 0, maxChunk: head.maxChunk };
    }
    return undefined;
  }

  /**
   * A group of `head` alone, starting from its cached prefix, when the cache holds one and the group
   * fits with it; else undefined (the head is then priced as if nothing were cached, so the cache never
   * makes it wait or fail).
   */
  private fromCache(head: SchedRequest, budget: number): PrefillGroup | undefined {
    const cached = this.kv.cachedPrefix?.(head) ?? 0;
    if (cached <= 0) return undefined;
    // The cached past counts as one more chunk: the prefill store keeps both of its buffers.
    const chunks = (this.limits.chunkedPrefill === false ? 1 : Math.ceil((head.promptLen - cached) / budget)) + 1;
    if (this.kv.check([head], head.promptLen, chunks, cached) !== 'fits') return undefined;
    this.waiting.shift();
    return { ids: [head.id], width: head.promptLen, done: cached, cached };
  }

  /** Records that the planned prefill chunk ran; after the last chunk its requests are running. */
  prefillDone(plan: StepPlan): number[] {
    const p = plan.prefill;
    if (!p) return [];
    p.group.done = p.to;
    if (!p.last) return [];
    if (this.group === p.group) this.group = undefined;
    const started = p.group.ids.filter((id) => this.requests.has(id));
    for (const id of started) this.runningRows.set(id, this.requests.get(id)!.n);
    return started;
  }

  /** One row (sequence) of a running request finished. Returns true when the whole request is done. */
  rowFinished(id: number): boolean {
    const rows = this.runningRows.get(id);
    if (rows === undefined) return false;
    if (rows > 1) {
      this.runningRows.set(id, rows - 1);
      return false;
    }
    this.release(id);
    return true;
  }

  /** Removes a request in any state (abort or failure). Returns the state it was in. */
  cancel(id: number): 'waiting' | 'prefilling' | 'running' | 'unknown' {
    if (!this.requests.has(id)) return 'unknown';
    const wi = this.waiting.findIndex((r) => r.id === id);
    if (wi >= 0) {
      this.waiting.splice(wi, 1);
      this.requests.delete(id);
      return 'waiting';
    }
    let state: 'prefilling' | 'running' = 'running';
    if (this.group?.ids.includes(id)) {
      this.group.ids = this.group.ids.filter((x) => x !== id);
      if (this.group.ids.length === 0) this.group = undefined;
      state = 'prefilling';
    }
    this.release(id);
    return state;
  }

  private release(id: number): void {
    this.runningRows.delete(id);
    this.requests.delete(id);
  }
}
