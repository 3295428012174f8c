import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import type { TokenTable } from '../tokenizer/token-table.ts';
import { kvRefusalMessage, KvStore, type KvPool, type JoinRequest } from './kv/store.ts';
import type { OrtKvArray } from './ort/memory.ts';
import type { NativeModel } from './native-model.ts';
import { aloneChunks, Scheduler, type KvVerdict, type SchedRequest, type SchedulerLimits, type StepPlan } from './scheduler.ts';
import { Sequence } from './sequence.ts';
import type { GenerationEvent, GenerationRequest, StepStats } from './types.ts';
import { endWithoutTokens } from './events.ts';

/** An event addressed to one request. */
export interface AddressedEvent {
  id: number;
  event: GenerationEvent;
}

/** What the loop reports after each step (and after aborts): events and the step's figures. */
export interface StepReport {
  events: AddressedEvent[];
  /** Requests whose prefill began since the last report (their queue time ends here). */
  started: number[];
  step?: StepStats;
  running: number;
  waiting: number;
  /** KV token slots allocated now (what the budget bounds), and the most ever allocated at once. */
  kvUsedTokens: number;
  kvPeakTokens: number;
}

interface Pending {
  id: number;
  request: GenerationRequest;
}

/**
 * The per-model step loop (runs inside the model's worker thread): one decode batch whose KV store is
 * kept across steps, plus at most one prefill group in progress. Each step: plan (Scheduler), run the
 * decode batch one token, run one prefill chunk, sample, then re-pack the decode store only if rows
 * joined or left. Row r of `rows` is row r of the decode store: both change only through `joinRows`
 * and `keepRows`. Failures of a step fail that step's sequences only.
 */
export class StepLoop {
  private readonly sched: Scheduler;
  private readonly pending = new Map<number, Pending>();
  private readonly decode: KvStore<OrtKvArray>;
  /** Sequence of each decode-store row, in row order. */
  private rows: Sequence[] = [];
  private groupBatch: KvStore<OrtKvArray> | undefined;
  /** Request id of each prefill-group row. */
  private groupRows: number[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private events: AddressedEvent[] = [];
  private started: number[] = [];

  constructor(
    private readonly session: NativeModel,
    private readonly pool: KvPool<OrtKvArray>,
    private readonly tokenizer: TextTokenizer | TokenTable,
    limits: SchedulerLimits,
    private readonly report: (r: StepReport) => void,
  ) {
    this.sched = new Scheduler(limits, { check: (group, width, chunks) => this.kvVerdict(group, width, chunks) });
    this.decode = KvStore.forDecode(pool);
  }

  /** Queues a request. */
  submit(id: number, request: GenerationRequest): void {
    this.pending.set(id, { id, request });
    this.sched.enqueue({ id, promptLen: request.promptTokenIds.length, n: request.n, maxTokens: request.maxTokens });
    this.wake?.();
  }

  /** The KV store's price of a prefill group against the budget (the scheduler's admission oracle). */
  private kvVerdict(group: readonly SchedRequest[], width: number, chunks: number): KvVerdict {
    const joins = group.map((r) => this.joinRequest(r));
    if (KvStore.aloneCost(joins, width, aloneChunks(width, this.sched.limits), this.pool.geo.inPlace) > this.pool.budgetSlots) return 'never';
    return this.decode.joinCost(joins, width, chunks).peak <= this.pool.budgetSlots ? 'fits' : 'wait';
  }

  private joinRequest(r: { promptLen: number; n: number; maxTokens: number }): JoinRequest {
    return { promptLen: r.promptLen, n: r.n, finalLen: Math.min(r.promptLen + r.maxTokens, this.session.spec.contextLength) };
  }

  /** Removes a request wherever it is; its unfinished sequences end with finish reason 'abort'. */
  abort(id: number, reason: 'abort' | 'error' = 'abort'): void {
    const state = this.sched.cancel(id);
    if (state === 'unknown') return;
    const p = this.pending.get(id)!;
    this.pending.delete(id);
    if (state === 'running') {
      const keep: number[] = [];
      this.rows.forEach((s, r) => {
        if (s.requestId !== id) keep.push(r);
        else if (!s.finished) this.events.push({ id, event: s.abort(reason) });
      });
      this.keepRows(keep);
    } else {
      if (state === 'prefilling' && this.groupBatch) {
        const keep = this.groupRows.flatMap((rid, r) => (rid === id ? [] : [r]));
        this.groupBatch.keep(keep);
        this.groupRows = keep.map((r) => this.groupRows[r]!);
        if (keep.length === 0) this.groupBatch = undefined;
      }
      for (let i = 0; i < p.request.n; i++) this.events.push({ id, event: endWithoutTokens(p.request, i, reason) });
    }
    this.flushReport();
  }

  /** Keeps only decode rows `keep` (in order), in the store and in `rows` together. */
  private keepRows(keep: number[]): void {
    if (keep.length === this.rows.length) return;
    this.decode.keep(keep);
    this.rows = keep.map((r) => this.rows[r]!);
  }

  /** Adds rows `rowIdx` of the finished prefill group, with their sequences, to the decode batch. */
  private joinRows(group: KvStore<OrtKvArray>, rowIdx: number[], seqs: Sequence[]): void {
    this.decode.absorb(group, rowIdx, seqs.map((s) => this.joinRequest({ promptLen: s.request.promptTokenIds.length, n: 1, maxTokens: s.request.maxTokens }).finalLen));
    this.rows = [...this.rows, ...seqs];
  }

  /** Stops the loop after the current step; unfinished requests end with 'abort'. */
  close(): void {
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.abort(id);
    this.wake?.();
  }

  /** Runs steps until closed, sleeping while idle. */
  async run(): Promise<void> {
    while (!this.closed) {
      if (this.sched.idle) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      await this.step();
      // Let queued messages (new requests, aborts) in between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs one step: the decode batch, then one prefill chunk. */
  async step(): Promise<void> {
    const t0 = performance.now();
    const plan = this.sched.plan();
    for (const id of plan.refused) this.refuse(id);
    const decodeRows = plan.decode ? this.rows.length : 0;
    if (plan.decode) await this.guard(this.rows.map((s) => s.requestId), () => this.runDecode());
    let prefillTokens = 0;
    if (plan.prefill) {
      const ids = [...plan.prefill.group.ids];
      prefillTokens = await this.guard(ids, () => this.runPrefill(plan));
    }
    this.dropFinished();
    this.flushReport({ ms: performance.now() - t0, decodeRows, prefillTokens });
  }

  /** Fails a request the KV budget can never hold, naming the numbers. */
  private refuse(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const { request } = p;
    const join = this.joinRequest({ promptLen: request.promptTokenIds.length, n: request.n, maxTokens: request.maxTokens });
    const message = kvRefusalMessage(join, aloneChunks(join.promptLen, this.sched.limits), this.pool.geo.inPlace, this.pool.budgetSlots);
    this.events.push({ id, event: { type: 'error', message, code: 'invalid_request', param: 'max_tokens' } });
    for (let i = 0; i < request.n; i++) this.events.push({ id, event: endWithoutTokens(request, i, 'error') });
  }

  /** Runs `fn`; on failure every request in `ids` ends with an error, and the loop goes on. */
  private async guard<T>(ids: number[], fn: () => Promise<T>): Promise<T | 0> {
    try {
      return await fn();
    } catch (err) {
      const message = `engine step failed: ${(err as Error).message}`;
      for (const id of new Set(ids)) {
        if (!this.pending.has(id)) continue;
        this.events.push({ id, event: { type: 'error', message, code: 'internal' } });
        this.abort(id, 'error');
      }
      return 0;
    }
  }

  private async runDecode(): Promise<void> {
    const logits = this.session.step(
      this.decode,
      this.rows.map((s) => [s.lastToken]),
    );
    this.rows.forEach((s, r) => this.accept(s, logits[r]!));
  }

  private async runPrefill(plan: StepPlan): Promise<number> {
    const p = plan.prefill!;
    if (p.from === 0) {
      this.started.push(...p.group.ids);
      this.groupRows = [...p.group.ids];
      this.groupBatch = KvStore.forPrefill(this.pool, this.groupRows.length, p.group.width, !p.last);
    }
    const batch = this.groupBatch!;
    const left = this.session.spec.paddingSide === 'left';
    const chunk = this.groupRows.map((id) => {
      const prompt = this.pending.get(id)!.request.promptTokenIds;
      // Column c of the padded prompt matrix holds a real token iff it is inside the row's span.
      const offset = left ? p.group.width - prompt.length : 0;
      const from = Math.max(p.from - offset, 0);
      const to = Math.max(Math.min(p.to - offset, prompt.length), from);
      return prompt.slice(from, to);
    });
    const logits = this.session.step(batch, chunk);
    const tokens = chunk.reduce((a, c) => a + c.length, 0);
    this.sched.prefillDone(plan);
    if (p.last) this.startGroup(batch, logits);
    return tokens;
  }

  /** After the last prefill chunk: creates each request's n sequences and merges them into the decode batch. */
  private startGroup(batch: KvStore<OrtKvArray>, logits: Float32Array[]): void {
    const rowIdx: number[] = [];
    const seqs: Sequence[] = [];
    this.groupRows.forEach((id, r) => {
      const req = this.pending.get(id)!.request;
      for (let i = 0; i < req.n; i++) {
        const s = new Sequence(id, i, req, this.tokenizer, this.session.spec.eosTokenIds, this.session.spec.contextLength);
        // Choices share the prompt's logits row; each samples from its own copy.
        this.accept(s, req.n > 1 ? logits[r]!.slice() : logits[r]!);
        rowIdx.push(r);
        seqs.push(s);
      }
    });
    this.joinRows(batch, rowIdx, seqs);
    batch.release();
    this.groupBatch = undefined;
    this.groupRows = [];
  }

  private accept(s: Sequence, logits: Float32Array): void {
    for (const event of s.accept(logits)) this.events.push({ id: s.requestId, event });
  }

  /** Removes finished rows from the decode batch (one re-pack) and retires finished requests. */
  private dropFinished(): void {
    if (!this.rows.some((s) => s.finished)) return;
    const keep: number[] = [];
    this.rows.forEach((s, r) => {
      if (!s.finished) keep.push(r);
      else if (this.sched.rowFinished(s.requestId)) this.pending.delete(s.requestId);
    });
    this.keepRows(keep);
  }

  private flushReport(step?: StepStats): void {
    if (this.events.length === 0 && !step) return;
    const events = this.events;
    const started = this.started;
    this.events = [];
    this.started = [];
    this.report({
      events,
      started,
      step,
      running: this.sched.runningSeqs,
      waiting: this.sched.waitingCount,
      kvUsedTokens: this.pool.allocatedSlots,
      kvPeakTokens: this.pool.peakSlots,
    });
  }
}

