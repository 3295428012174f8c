/**
 * The step scheduler: a pure state machine that decides, before each engine step, which admitted
 * requests start prefilling and which prefill chunk runs beside the decode rows. It knows nothing of
 * tensors or HTTP, so it is tested with plain numbers.
 *
 * States of a request:
 *
 *   waiting ──admit──▶ admitted ──group──▶ prefilling ──last chunk──▶ running ──all rows done──▶ (gone)
 *      │                  │                    │                        │
 *      └──────────────────┴──── cancel ────────┴────────────────────────┘
 *
 * - waiting → admitted: FIFO; while running + prefilling + admitted sequences + n <= maxNumSeqs and the
 *   KV reservation (n × (prompt + max_tokens), capped by the context length) fits the KV budget. The head
 *   of the queue blocks the rest (no overtaking), so admission is FIFO.
 * - admitted → prefilling: one prefill group at a time. A group of several requests must fit in a single
 *   chunk (rows × longest prompt <= the step's prefill budget); a request whose prompt is longer than
 *   that forms a group alone and is prefilled in chunks over several steps. This suits both KV styles:
 *   GroupQueryAttention exports cannot run a batched multi-token step on a past, so only a group of one
 *   ever continues on a past.
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
  /** KV tokens that may be reserved at once. */
  kvBudgetTokens: number;
  /** Model context length; caps a request's KV reservation. */
  contextLength: number;
  /** Smallest prefill chunk per step, whatever the decode rows use. */
  minChunk: number;
}

/** What the scheduler needs to know of a request. */
export interface SchedRequest {
  id: number;
  promptLen: number;
  n: number;
  maxTokens: number;
}

/** A prefill group in progress. */
export interface PrefillGroup {
  ids: number[];
  /** Longest prompt in the group (the padded width). */
  width: number;
  /** Columns already prefilled. */
  done: number;
}

/** The plan of one step. */
export interface StepPlan {
  /** Whether the decode batch runs this step. */
  decode: boolean;
  /** The prefill chunk to run: columns [from, to) of the group's padded prompts. */
  prefill?: { group: PrefillGroup; from: number; to: number; last: boolean };
}

/** See the module comment for the state machine. */
export class Scheduler {
  private readonly waiting: SchedRequest[] = [];
  private readonly admitted: SchedRequest[] = [];
  private group: PrefillGroup | undefined;
  private readonly requests = new Map<number, SchedRequest>();
  /** Rows (sequences) still generating per running request. */
  private readonly runningRows = new Map<number, number>();
  private reserved = 0;

  constructor(readonly limits: SchedulerLimits) {}

  /** Queues a request (FIFO). */
  enqueue(req: SchedRequest): void {
    this.requests.set(req.id, req);
    this.waiting.push(req);
  }

  /** KV tokens a request reserves on admission. */
  reservation(req: SchedRequest): number {
    return req.n * Math.min(req.promptLen + req.maxTokens, this.limits.contextLength);
  }

  /** Sequences admitted, prefilling or running. */
  get activeSeqs(): number {
    let n = 0;
    for (const r of this.admitted) n += r.n;
    for (const id of this.group?.ids ?? []) n += this.requests.get(id)!.n;
    for (const rows of this.runningRows.values()) n += rows;
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

  get reservedTokens(): number {
    return this.reserved;
  }

  /** True when nothing is waiting, prefilling or running. */
  get idle(): boolean {
    return this.requests.size === 0;
  }

  /** Plans the next step; admits waiting requests and forms a prefill group as needed. */
  plan(): StepPlan {
    this.admit();
    const decodeRows = this.runningSeqs;
    const plan: StepPlan = { decode: decodeRows > 0 };
    const budget = Math.max(this.limits.minChunk, this.limits.maxBatchedTokens - decodeRows);
    if (!this.group) this.group = this.formGroup(budget);
    const g = this.group;
    if (g) {
      const perRow = Math.max(1, Math.floor(budget / g.ids.length));
      const to = Math.min(g.width, g.done + perRow);
      plan.prefill = { group: g, from: g.done, to, last: to === g.width };
    }
    return plan;
  }

  private admit(): void {
    while (this.waiting.length > 0) {
      const head = this.waiting[0]!;
      const need = this.reservation(head);
      if (this.activeSeqs + head.n > this.limits.maxNumSeqs) break;
      if (this.reserved + need > this.limits.kvBudgetTokens && this.activeSeqs > 0) break;
      this.waiting.shift();
      this.reserved += need;
      this.admitted.push(head);
    }
  }

  private formGroup(budget: number): PrefillGroup | undefined {
    if (this.admitted.length === 0) return undefined;
    const ids = [this.admitted[0]!.id];
    let width = this.admitted[0]!.promptLen;
    if (width <= budget) {
      for (const r of this.admitted.slice(1)) {
        const w = Math.max(width, r.promptLen);
        if (w * (ids.length + 1) > budget) break;
        ids.push(r.id);
        width = w;
      }
    }
    this.admitted.splice(0, ids.length);
    return { ids, width, done: 0 };
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
  cancel(id: number): 'waiting' | 'admitted' | 'prefilling' | 'running' | 'unknown' {
    if (!this.requests.has(id)) return 'unknown';
    const wi = this.waiting.findIndex((r) => r.id === id);
    if (wi >= 0) {
      this.waiting.splice(wi, 1);
      this.requests.delete(id);
      return 'waiting';
    }
    let state: 'admitted' | 'prefilling' | 'running' = 'running';
    const ai = this.admitted.findIndex((r) => r.id === id);
    if (ai >= 0) {
      this.admitted.splice(ai, 1);
      state = 'admitted';
    } else if (this.group?.ids.includes(id)) {
      this.group.ids = this.group.ids.filter((x) => x !== id);
      if (this.group.ids.length === 0) this.group = undefined;
      state = 'prefilling';
    }
    this.release(id);
    return state;
  }

  private release(id: number): void {
    const req = this.requests.get(id);
    if (!req) return;
    this.reserved -= this.reservation(req);
    this.runningRows.delete(id);
    this.requests.delete(id);
  }
}
