import { writesKvInPlace, type ModelSpec } from './model-loader.ts';
import type { ExecutionOptions } from './model-session.ts';
import type { StepReport } from './step-loop.ts';
import { endWithoutTokens } from './events.ts';
import { kvRefusalMessage, KvStore } from './kv/store.ts';
import { aloneChunks } from './scheduler.ts';
import { PROMPT_LOGPROBS_UNSUPPORTED } from './prompt-logprobs.ts';
import { DEFAULT_LIMITS, type WorkerLimits } from './limits.ts';
import { EventChannel } from './channel.ts';
import type { WorkerInit } from './worker.ts';
import { WorkerHost } from './worker-host.ts';
import { RequestTiming, type RequestMetrics } from './request-timing.ts';
import type { PrefixCacheStats } from './kv/prefix-cache.ts';
import {
  EngineError,
  type EngineStats,
  type GenerationEvent,
  type GenerationRequest,
  type StepStats,
} from './types.ts';

/** How to start an engine for one model. */
export interface EngineOptions {
  modelDir: string;
  tokenizerDir?: string;
  exec?: Partial<ExecutionOptions>;
  limits?: Partial<WorkerLimits>;
  /**
   * Requests allowed in flight beyond max-num-seqs (--max-num-queued-reqs); past it, generate fails
   * 'overloaded' at once. Which requests run is decided in the worker (scheduler + KV store).
   */
  maxNumQueuedReqs?: number;
  /** Restart the worker after a crash (default true). */
  restartOnCrash?: boolean;
  /** Automatic prefix caching (default on; --no-prefix-caching). */
  prefixCaching?: boolean;
}

interface Tracked {
  id: number;
  request: GenerationRequest;
  channel: EventChannel<GenerationEvent>;
  ended: Set<number>;
  timing: RequestTiming;
}

/** The worker's ready message. */
interface ReadyMessage {
  type: 'ready';
  spec: ModelSpec;
  provider: 'cpu' | 'cuda';
  kvBudgetTokens: number;
}

/**
 * The main-thread face of one model's engine. The model runs in a worker thread (see worker.ts), whose
 * scheduler alone decides which requests run (sequences and KV memory). This class only bounds the
 * requests in flight (max-num-seqs + max-num-queued-reqs; past that, 'overloaded' at once), refuses a
 * request the KV budget could never hold, routes the worker's events to each request's async iterable,
 * and restarts a crashed worker.
 */
export class Engine {
  spec!: ModelSpec;
  provider: 'cpu' | 'cuda' = 'cpu';
  /** Called after every engine step (for metrics). */
  onStep?: (step: StepStats) => void;
  /** Called when a request ends, with its token counts and timings (for metrics). */
  onRequestDone?: (m: RequestMetrics) => void;
  private readonly host: WorkerHost<ReadyMessage>;
  private closing = false;
  private nextId = 1;
  private readonly tracked = new Map<number, Tracked>();
  /** Requests accepted while the worker was down, sent when it is ready again. */
  private unsent: Tracked[] = [];
  private readonly limits: WorkerLimits;
  private readonly maxQueued: number;
  private last: Omit<StepReport, 'events' | 'step' | 'started'> = { running: 0, waiting: 0, kvUsedTokens: 0, kvPeakTokens: 0 };
  /** Prefix-cache counters of workers that have crashed (a restarted worker counts from zero). */
  private cacheBase = { queryTokens: 0, hitTokens: 0, evictions: 0 };
  private kvBudgetTokens = 0;
  private readonly recentStepMs: number[] = [];
  private steps = 0;

  private constructor(private readonly opts: EngineOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxQueued = opts.maxNumQueuedReqs ?? 256;
    const init: WorkerInit = { modelDir: opts.modelDir, tokenizerDir: opts.tokenizerDir, exec: opts.exec ?? {}, limits: this.limits, prefixCaching: opts.prefixCaching };
    this.host = new WorkerHost<ReadyMessage>(
      './runtime/worker.ts',
      init,
      {
        onMessage: (m) => {
          if (m.type === 'report') this.onReport(m as unknown as StepReport);
        },
        onCrash: () => this.onCrash(),
        onRestarted: (r) => this.onReady(r),
      },
      opts.modelDir,
      opts.restartOnCrash !== false,
    );
  }

  /** Starts the worker and waits until the model is loaded. */
  static async start(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    engine.onReady(await engine.host.start());
    return engine;
  }

  private get alive(): boolean {
    return this.host.alive;
  }

  private onReady(r: ReadyMessage): void {
    this.spec = r.spec;
    this.provider = r.provider;
    this.kvBudgetTokens = r.kvBudgetTokens;
    const unsent = this.unsent;
    this.unsent = [];
    for (const t of unsent) if (this.tracked.has(t.id)) this.host.post({ type: 'generate', id: t.id, request: t.request });
  }

  /**
   * Starts generating. Throws EngineError('overloaded') at once when the waiting queue is full and
   * EngineError('engine_closed') after close(). Events of all n sequences arrive on the iterable; it ends
   * after every sequence's 'end' event. Aborting `signal` or leaving the iteration early aborts the request.
   */
  generate(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent> {
    if (this.closing) throw new EngineError('the engine is shutting down', 'engine_closed');
    if (request.promptLogprobs !== undefined && !this.spec.promptLogprobs) {
      throw new EngineError(PROMPT_LOGPROBS_UNSUPPORTED, 'invalid_request', 'prompt_logprobs');
    }
    if (request.n > this.limits.maxNumSeqs) {
      throw new EngineError(`n=${request.n} exceeds max-num-seqs=${this.limits.maxNumSeqs}`, 'invalid_request');
    }
    const join = {
      promptLen: request.promptTokenIds.length,
      n: request.n,
      finalLen: Math.min(request.promptTokenIds.length + request.maxTokens, this.spec.contextLength),
    };
    const chunks = aloneChunks(join.promptLen, { maxBatchedTokens: this.limits.maxBatchedTokens, chunkedPrefill: this.spec.chunkedPrefill });
    const inPlace = writesKvInPlace(this.spec);
    if (KvStore.aloneCost([join], join.promptLen, chunks, inPlace) > this.kvBudgetTokens) {
      throw new EngineError(kvRefusalMessage(join, chunks, inPlace, this.kvBudgetTokens), 'invalid_request', 'max_tokens');
    }
    if (this.tracked.size >= this.limits.maxNumSeqs + this.maxQueued) {
      throw new EngineError(
        `server overloaded: ${this.last.running} sequences running and ${this.tracked.size} requests in flight`,
        'overloaded',
      );
    }
    const id = this.nextId++;
    const t: Tracked = {
      id,
      request,
      ended: new Set(),
      timing: new RequestTiming(),
      channel: new EventChannel<GenerationEvent>(() => this.abort(id)),
    };
    this.tracked.set(id, t);
    // While a crashed worker restarts, requests wait here and are sent when it is ready.
    if (this.alive) this.host.post({ type: 'generate', id, request });
    else this.unsent.push(t);
    if (signal) {
      if (signal.aborted) this.abort(id);
      else signal.addEventListener('abort', () => this.abort(id), { once: true });
    }
    return t.channel;
  }

  /** Aborts a request by its engine id (the iterable's early return and signals call this). */
  abort(id: number): void {
    const t = this.tracked.get(id);
    if (!t) return;
    const u = this.unsent.indexOf(t);
    if (u < 0) {
      this.host.post({ type: 'abort', id });
      return;
    }
    this.unsent.splice(u, 1);
    for (let i = 0; i < t.request.n; i++) this.deliver(t, endWithoutTokens(t.request, i, 'abort'));
  }

  /** A snapshot of running/waiting/KV and step timings. */
  stats(): EngineStats {
    return {
      running: this.last.running,
      waiting: this.last.waiting,
      kvUsedTokens: this.last.kvUsedTokens,
      kvBudgetTokens: this.kvBudgetTokens,
      kvPeakTokens: this.last.kvPeakTokens,
      kvUsage: this.kvBudgetTokens > 0 ? this.last.kvUsedTokens / this.kvBudgetTokens : 0,
      prefixCache: this.prefixCacheStats(),
      recentStepMs: [...this.recentStepMs],
      steps: this.steps,
      alive: this.alive,
      restarts: this.host.restarts,
    };
  }

  /** The prefix cache's counters since start (monotonic across worker restarts), or undefined when off. */
  private prefixCacheStats(): PrefixCacheStats | undefined {
    if (this.opts.prefixCaching === false) return undefined;
    const c = this.last.prefixCache ?? { queryTokens: 0, hitTokens: 0, evictions: 0, entries: 0, cachedTokens: 0 };
    const b = this.cacheBase;
    return { ...c, queryTokens: b.queryTokens + c.queryTokens, hitTokens: b.hitTokens + c.hitTokens, evictions: b.evictions + c.evictions };
  }

  /** Aborts everything still queued or running and stops the worker. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of [...this.unsent]) this.abort(t.id);
    await this.host.close();
  }

  /**
   * Makes the worker thread exit abruptly between two steps, as a fatal error in it would; the engine
   * then fails that worker's requests and restarts it. For tests of crash recovery. (Terminating a worker
   * from outside while onnxruntime runs in it aborts the whole process, so tests must not do that.)
   */
  simulateWorkerCrash(): void {
    this.host.post({ type: 'crash' });
  }

  /** Requests in flight (forwarded or queued). */
  get inFlight(): number {
    return this.tracked.size;
  }

  /** The worker died: its requests end with an error; the host restarts it. */
  private onCrash(): void {
    for (const t of [...this.tracked.values()]) {
      if (this.unsent.includes(t)) continue;
      t.channel.push({ type: 'error', message: 'the model worker crashed; the request was not completed', code: 'worker_crashed' });
      for (let i = 0; i < t.request.n; i++) if (!t.ended.has(i)) this.deliver(t, endWithoutTokens(t.request, i, 'error'));
    }
    const c = this.last.prefixCache;
    if (c) this.cacheBase = { queryTokens: this.cacheBase.queryTokens + c.queryTokens, hitTokens: this.cacheBase.hitTokens + c.hitTokens, evictions: this.cacheBase.evictions + c.evictions };
    this.last = { running: 0, waiting: 0, kvUsedTokens: 0, kvPeakTokens: 0 };
  }

  private onReport(r: StepReport): void {
    this.last = {
      running: r.running,
      waiting: r.waiting,
      kvUsedTokens: r.kvUsedTokens,
      kvPeakTokens: Math.max(this.last.kvPeakTokens, r.kvPeakTokens),
      prefixCache: r.prefixCache,
    };
    if (r.step) {
      this.steps++;
      this.recentStepMs.push(r.step.ms);
      if (this.recentStepMs.length > 64) this.recentStepMs.shift();
      this.onStep?.(r.step);
    }
    for (const id of r.started) this.tracked.get(id)?.timing.started();
    for (const { id, event } of r.events) {
      const t = this.tracked.get(id);
      if (t) this.deliver(t, event);
    }
  }

  private deliver(t: Tracked, event: GenerationEvent): void {
    if (event.type === 'end') {
      if (t.ended.has(event.index)) return;
      t.ended.add(event.index);
      t.timing.ended(event.finishReason, event.completionTokens);
    } else if (event.type === 'token') t.timing.token(event.index);
    t.channel.push(event);
    if (t.ended.size === t.request.n) {
      this.onRequestDone?.(t.timing.summary(t.request.promptTokenIds.length));
      this.tracked.delete(t.id);
      t.channel.end();
    }
  }

}
