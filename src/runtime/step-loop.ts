import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import type { TokenTable } from '../tokenizer/token-table.ts';
import { kvRefusalMessage, KvStore, type KvPool, type JoinRequest } from './kv/store.ts';
import { PrefixCache, type PrefixCacheStats, type PrefixHit } from './kv/prefix-cache.ts';
import type { OrtKvArray } from './ort/memory.ts';
import type { NativeModel } from './native-model.ts';
import { aloneChunks, Scheduler, type KvVerdict, type SchedRequest, type SchedulerLimits, type StepPlan } from './scheduler.ts';
import { Sequence } from './sequence.ts';
import type { GenerationEvent, GenerationRequest, PromptLogprobs, StepStats } from './types.ts';
import { endWithoutTokens } from './events.ts';
import { attachPromptLogprobs, endAtPrompt, prefillVisitor, PROMPT_LOGPROBS_UNSUPPORTED, PromptLogprobsCollector } from './prompt-logprobs.ts';
import { promptLogprobsChunk, tokenDescriber, type TokenDescriber } from './prompt-logprobs.ts';

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
  /**
   * KV token slots allocated now for running and prefilling sequences (the prefix cache's evictable
   * entries not included), and the most ever allocated at once (cache included: the pool's own peak).
   */
  kvUsedTokens: number;
  kvPeakTokens: number;
  /** The prefix cache's counters and size (absent when caching is off). */
  prefixCache?: PrefixCacheStats;
}

interface Pending {
  id: number;
  request: GenerationRequest;
  /** The cached prefix found when the scheduler last asked (valid until the step's group opens). */
  hit?: PrefixHit<OrtKvArray>;
  /** Prompt tokens served from the prefix cache. */
  cachedTokens: number;
  /** Gathers the prompt logprobs while the prompt is prefilled, when the request asks for them. */
  promptLogprobs?: PromptLogprobsCollector;
}

/**
 * Longest suffix prefilled on a cached past by a model that cannot run a multi-token step on a past
 * (GenAI MultiHeadAttention exports): it runs one token per pass, so a longer suffix prefills whole.
 */
export const MAX_TOKEN_BY_TOKEN_SUFFIX = 32;

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
  /** KV of recent prompts and finished sequences (undefined when prefix caching is off). */
  private readonly cache: PrefixCache<OrtKvArray> | undefined;
  private readonly describe: TokenDescriber;

  constructor(
    private readonly session: NativeModel,
    private readonly pool: KvPool<OrtKvArray>,
    private readonly tokenizer: TextTokenizer | TokenTable,
    limits: SchedulerLimits,
    private readonly report: (r: StepReport) => void,
    opts: { prefixCaching?: boolean } = {},
  ) {
    this.sched = new Scheduler(limits, {
      check: (group, width, chunks, cached) => this.kvVerdict(group, width, chunks, cached),
      cachedPrefix: (r) => this.cachedPrefix(r.id),
    });
    this.decode = KvStore.forDecode(pool);
    this.cache = opts.prefixCaching === false ? undefined : new PrefixCache(pool);
    this.describe = tokenDescriber(tokenizer);
  }

  /** Queues a request. */
  submit(id: number, request: GenerationRequest): void {
    const k = request.promptLogprobs;
    if (k !== undefined && !this.session.spec.promptLogprobs) {
      this.refuse(id, request, PROMPT_LOGPROBS_UNSUPPORTED, 'prompt_logprobs');
      return this.flushReport();
    }
    const promptLogprobs = k === undefined ? undefined : new PromptLogprobsCollector(request.promptTokenIds, k, this.describe);
    this.pending.set(id, { id, request, cachedTokens: 0, promptLogprobs });
    // Every position's logits reach the host: the chunk bounds that memory.
    const maxChunk = promptLogprobs ? promptLogprobsChunk(this.session.spec.vocabSize) : undefined;
    this.sched.enqueue({ id, promptLen: request.promptTokenIds.length, n: request.n, maxTokens: request.maxTokens, maxChunk });
    this.wake?.();
  }

  /**
   * The KV store's price of a prefill group against the budget (the scheduler's admission oracle). The
   * prefix cache's entries are all evictable, so they are not charged, except the one a group copies
   * its cached prefix from (`cached` > 0), which stays until the copy is made.
   */
  private kvVerdict(group: readonly SchedRequest[], width: number, chunks: number, cached = 0): KvVerdict {
    const joins = group.map((r) => this.joinRequest(r));
    const limits = { ...this.sched.limits, maxBatchedTokens: Math.min(this.sched.limits.maxBatchedTokens, group[0]?.maxChunk ?? Infinity) };
    if (KvStore.aloneCost(joins, width, aloneChunks(width, limits), this.pool.geo.inPlace) > this.pool.budgetSlots) return 'never';
    const hit = cached > 0 ? this.pending.get(group[0]!.id)?.hit : undefined;
    const pinned = hit && this.cache ? this.cache.slotsOf(hit) : 0;
    return this.decode.joinCost(joins, width, chunks).peak + pinned <= this.pool.budgetSlots ? 'fits' : 'wait';
  }

  /** Prompt tokens of request `id` the prefix cache can serve now; remembers the hit for its group. */
  private cachedPrefix(id: number): number {
    const p = this.pending.get(id);
    // Cached tokens' logits are never computed, so a request for prompt logprobs prefills its whole prompt.
    if (!this.cache || !p || p.promptLogprobs) return 0;
    const prompt = p.request.promptTokenIds;
    const hit = this.cache.lookup(prompt, p.request.cacheSalt ?? '', prompt.length - 1);
    const tokenByToken = !this.session.spec.chunkedPrefill;
    p.hit = hit && (!tokenByToken || prompt.length - hit.tokens <= MAX_TOKEN_BY_TOKEN_SUFFIX) ? hit : undefined;
    return p.hit?.tokens ?? 0;
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
    for (const id of plan.refused) this.refuseKv(id);
    // A new group takes its KV (and its cached prefix, before anything else may evict it) first.
    if (plan.prefill?.first) this.guardSync([...plan.prefill.group.ids], () => this.openGroup(plan));
    const decodeRows = plan.decode ? this.rows.length : 0;
    if (plan.decode) await this.guard(this.rows.map((s) => s.requestId), () => this.runDecode());
    let prefillTokens = 0;
    if (plan.prefill && this.groupBatch) {
      const ids = [...plan.prefill.group.ids];
      prefillTokens = await this.guard(ids, () => this.runPrefill(plan));
    }
    this.dropFinished();
    this.flushReport({ ms: performance.now() - t0, decodeRows, prefillTokens });
  }

  /** Fails a request the KV budget can never hold, naming the numbers. */
  private refuseKv(id: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const { request } = p;
    const join = this.joinRequest({ promptLen: request.promptTokenIds.length, n: request.n, maxTokens: request.maxTokens });
    const message = kvRefusalMessage(join, aloneChunks(join.promptLen, this.sched.limits), this.pool.geo.inPlace, this.pool.budgetSlots);
    this.refuse(id, request, message, 'max_tokens');
  }

  /** Ends a request that will not run with an invalid_request error naming `param`. */
  private refuse(id: number, request: GenerationRequest, message: string, param: string): void {
    this.events.push({ id, event: { type: 'error', message, code: 'invalid_request', param } });
    for (let i = 0; i < request.n; i++) this.events.push({ id, event: endWithoutTokens(request, i, 'error') });
  }

  /** Runs `fn`; on failure every request in `ids` ends with an error, and the loop goes on. */
  private async guard<T>(ids: number[], fn: () => Promise<T>): Promise<T | 0> {
    try {
      return await fn();
    } catch (err) {
      this.fail(ids, err);
      return 0;
    }
  }

  /** Every request in `ids` still pending ends with the error. */
  private fail(ids: number[], err: unknown): void {
    const message = `engine step failed: ${(err as Error).message}`;
    for (const id of new Set(ids)) {
      if (!this.pending.has(id)) continue;
      this.events.push({ id, event: { type: 'error', message, code: 'internal' } });
      this.abort(id, 'error');
    }
  }

  /** `guard` for synchronous work. */
  private guardSync(ids: number[], fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(ids, err);
    }
  }

  private async runDecode(): Promise<void> {
    const logits = this.session.step(
      this.decode,
      this.rows.map((s) => [s.lastToken]),
    );
    this.rows.forEach((s, r) => this.accept(s, logits[r]!));
  }

  /**
   * Opens the planned group's prefill store; a group starting from a cached prefix copies it in (the
   * entry pinned meanwhile, so the allocation cannot evict it).
   */
  private openGroup(plan: StepPlan): void {
    const p = plan.prefill!;
    this.started.push(...p.group.ids);
    this.groupRows = [...p.group.ids];
    const hit = p.group.cached > 0 ? this.pending.get(p.group.ids[0]!)?.hit : undefined;
    if (p.group.cached > 0 && hit?.tokens !== p.group.cached) throw new Error('the cached prefix planned for this request is gone');
    if (hit) this.cache!.pin(hit);
    try {
      this.groupBatch = KvStore.forPrefill(this.pool, this.groupRows.length, p.group.width, !p.last || hit !== undefined);
      if (hit) this.groupBatch.seed(hit.entry, hit.tokens);
    } finally {
      if (hit) this.cache!.unpin(hit);
    }
    for (const id of p.group.ids) {
      const pending = this.pending.get(id)!;
      this.cache?.record(pending.request.promptTokenIds.length, id === p.group.ids[0] ? hit : undefined);
      pending.cachedTokens = id === p.group.ids[0] ? (hit?.tokens ?? 0) : 0;
      pending.hit = undefined;
    }
  }

  private async runPrefill(plan: StepPlan): Promise<number> {
    const p = plan.prefill!;
    const batch = this.groupBatch!;
    const left = this.session.spec.paddingSide === 'left';
    const starts: number[] = [];
    const chunk = this.groupRows.map((id) => {
      const prompt = this.pending.get(id)!.request.promptTokenIds;
      // Column c of the padded prompt matrix holds a real token iff it is inside the row's span.
      const offset = left ? p.group.width - prompt.length : 0;
      const from = Math.max(p.from - offset, 0);
      const to = Math.max(Math.min(p.to - offset, prompt.length), from);
      starts.push(from);
      return prompt.slice(from, to);
    });
    const visitor = prefillVisitor(this.groupRows.map((id) => this.pending.get(id)!.promptLogprobs), starts);
    // Token by token only after a cache hit, which a request for prompt logprobs never takes.
    const logits = batch.length > 0 && !this.session.spec.chunkedPrefill ? this.stepTokenByToken(batch, chunk[0]!) : this.session.step(batch, chunk, visitor);
    const tokens = chunk.reduce((a, c) => a + c.length, 0);
    this.sched.prefillDone(plan);
    if (p.last) this.startGroup(batch, logits);
    return tokens;
  }

  /** Prefills `tokens` on the one-row store's past one token per pass (models that cannot do more; see MAX_TOKEN_BY_TOKEN_SUFFIX). */
  private stepTokenByToken(batch: KvStore<OrtKvArray>, tokens: number[]): Float32Array[] {
    let logits: Float32Array[] = [];
    for (const t of tokens) logits = this.session.step(batch, [[t]]);
    return logits;
  }

  /**
   * After the last prefill chunk: creates each request's n sequences, merges them into the decode
   * batch, and caches each prompt's KV.
   */
  private startGroup(batch: KvStore<OrtKvArray>, logits: Float32Array[]): void {
    const rowIdx: number[] = [];
    const seqs: Sequence[] = [];
    const doneAtPrompt: number[] = [];
    this.groupRows.forEach((id, r) => {
      const pending = this.pending.get(id)!;
      const req = pending.request;
      const prompt = pending.promptLogprobs?.result();
      if (req.maxTokens === 0) {
        this.endAtPrompt(pending, prompt);
        doneAtPrompt.push(id);
        return;
      }
      for (let i = 0; i < req.n; i++) {
        const s = new Sequence(id, i, req, this.tokenizer, this.session.spec.eosTokenIds, this.session.spec.contextLength);
        // Choices share the prompt's logits row; each samples from its own copy.
        this.accept(s, req.n > 1 ? logits[r]!.slice() : logits[r]!, i === 0 ? prompt : undefined);
        rowIdx.push(r);
        seqs.push(s);
      }
    });
    this.joinRows(batch, rowIdx, seqs);
    this.groupRows.forEach((id, r) => {
      const req = this.pending.get(id)!.request;
      this.cache?.insert(req.promptTokenIds, req.cacheSalt ?? '', batch, r);
    });
    for (const id of doneAtPrompt) this.pending.delete(id);
    batch.release();
    this.groupBatch = undefined;
    this.groupRows = [];
  }

  /** A max_tokens 0 request (echo): its choices end at the prompt, nothing sampled; it leaves the scheduler. */
  private endAtPrompt(pending: Pending, promptLogprobs: PromptLogprobs | undefined): void {
    const { id, request } = pending;
    for (let i = 0; i < request.n; i++) {
      const event = endAtPrompt(request, i, pending.cachedTokens);
      if (i === 0 && promptLogprobs) attachPromptLogprobs([event], promptLogprobs);
      this.events.push({ id, event });
      this.sched.rowFinished(id);
    }
  }

  /** Samples `s`'s next token; choice 0's first events carry the prompt logprobs when given. */
  private accept(s: Sequence, logits: Float32Array, promptLogprobs?: PromptLogprobs): void {
    const events = s.accept(logits);
    if (promptLogprobs) attachPromptLogprobs(events, promptLogprobs);
    for (const event of events) {
      if (event.type === 'end') event.cachedTokens = this.pending.get(s.requestId)?.cachedTokens ?? 0;
      this.events.push({ id: s.requestId, event });
    }
  }

  /**
   * Removes finished rows from the decode batch (one re-pack) and retires finished requests. Each
   * finished row's KV (its prompt and the output tokens fed back) is cached first: the next turn of a
   * conversation starts with them.
   */
  private dropFinished(): void {
    if (!this.rows.some((s) => s.finished)) return;
    const keep: number[] = [];
    this.rows.forEach((s, r) => {
      if (!s.finished) {
        keep.push(r);
        return;
      }
      if (this.cache) {
        const fed = this.decode.lens[r]!;
        this.cache.insert([...s.request.promptTokenIds, ...s.outputIds.slice(0, fed - s.request.promptTokenIds.length)], s.request.cacheSalt ?? '', this.decode, r, fed);
      }
      if (this.sched.rowFinished(s.requestId)) this.pending.delete(s.requestId);
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
      kvUsedTokens: this.pool.allocatedSlots - (this.cache?.evictableSlots ?? 0),
      kvPeakTokens: this.pool.peakSlots,
      prefixCache: this.cache?.stats(),
    });
  }
}

