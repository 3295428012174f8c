import { Worker } from 'node:worker_threads';
import type { ModelSpec } from './model-loader.ts';
import type { ExecutionOptions } from './model-session.ts';
import type { StepReport } from './step-loop.ts';
import { DEFAULT_LIMITS, type WorkerLimits } from './limits.ts';
import { EventChannel } from './channel.ts';
import type { WorkerInit } from './worker.ts';
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
  /** Requests allowed to wait for a free slot (--max-num-queued-reqs); past it, generate fails 'overloaded'. */
  maxNumQueuedReqs?: number;
  /** Restart the worker after a crash (default true). */
  restartOnCrash?: boolean;
}

interface Tracked {
  id: number;
  request: GenerationRequest;
  channel: EventChannel<GenerationEvent>;
  ended: Set<number>;
  forwarded: boolean;
  enqueuedAt: number;
}

const WORKER_URL = new URL('./worker-entry.mjs', import.meta.url);

/**
 * The main-thread face of one model's engine. The model runs in a worker thread (see worker.ts); this
 * class admits requests FIFO up to maxNumSeqs running sequences, keeps a bounded waiting queue, routes
 * the worker's events to each request's async iterable, and restarts a crashed worker.
 */
export class Engine {
  spec!: ModelSpec;
  provider: 'cpu' | 'cuda' = 'cpu';
  /** Called after every engine step (for metrics). */
  onStep?: (step: StepStats) => void;
  private worker!: Worker;
  private alive = false;
  private closing = false;
  private nextId = 1;
  private readonly tracked = new Map<number, Tracked>();
  private readonly queue: Tracked[] = [];
  private forwardedSeqs = 0;
  private readonly limits: WorkerLimits;
  private readonly maxQueued: number;
  private last: Omit<StepReport, 'events' | 'step'> = { running: 0, waiting: 0, kvUsedTokens: 0 };
  private kvBudgetTokens = 0;
  private readonly recentStepMs: number[] = [];
  private steps = 0;
  private restarts = 0;
  private ready!: Promise<void>;

  private constructor(private readonly opts: EngineOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.maxQueued = opts.maxNumQueuedReqs ?? 256;
  }

  /** Starts the worker and waits until the model is loaded. */
  static async start(opts: EngineOptions): Promise<Engine> {
    const engine = new Engine(opts);
    engine.spawn();
    await engine.ready;
    return engine;
  }

  /**
   * Starts generating. Throws EngineError('overloaded') at once when the waiting queue is full and
   * EngineError('engine_closed') after close(). Events of all n sequences arrive on the iterable; it ends
   * after every sequence's 'end' event. Aborting `signal` or leaving the iteration early aborts the request.
   */
  generate(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent> {
    if (this.closing) throw new EngineError('the engine is shutting down', 'engine_closed');
    if (request.n > this.limits.maxNumSeqs) {
      throw new EngineError(`n=${request.n} exceeds max-num-seqs=${this.limits.maxNumSeqs}`, 'invalid_request');
    }
    const canRun = this.queue.length === 0 && this.forwardedSeqs + request.n <= this.limits.maxNumSeqs && this.alive;
    if (!canRun && this.queue.length >= this.maxQueued) {
      throw new EngineError(
        `server overloaded: ${this.forwardedSeqs} sequences running and ${this.queue.length} requests waiting`,
        'overloaded',
      );
    }
    const id = this.nextId++;
    const t: Tracked = {
      id,
      request,
      ended: new Set(),
      forwarded: false,
      enqueuedAt: performance.now(),
      channel: new EventChannel<GenerationEvent>(() => this.abort(id)),
    };
    this.tracked.set(id, t);
    this.queue.push(t);
    this.drain();
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
    if (t.forwarded) {
      this.worker.postMessage({ type: 'abort', id });
      return;
    }
    this.queue.splice(this.queue.indexOf(t), 1);
    for (let i = 0; i < t.request.n; i++) this.deliver(t, endEvent(t.request, i, 'abort'));
  }

  /** A snapshot of running/waiting/KV and step timings. */
  stats(): EngineStats {
    return {
      running: this.last.running,
      waiting: this.queue.length + this.last.waiting,
      kvUsedTokens: this.last.kvUsedTokens,
      kvBudgetTokens: this.kvBudgetTokens,
      kvUsage: this.kvBudgetTokens > 0 ? this.last.kvUsedTokens / this.kvBudgetTokens : 0,
      recentStepMs: [...this.recentStepMs],
      steps: this.steps,
      alive: this.alive,
      restarts: this.restarts,
    };
  }

  /** Aborts everything still queued or running and stops the worker. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of [...this.queue]) this.abort(t.id);
    if (!this.alive) {
      await this.worker.terminate();
      return;
    }
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Makes the worker thread exit abruptly between two steps, as a fatal error in it would; the engine
   * then fails that worker's requests and restarts it. For tests of crash recovery. (Terminating a worker
   * from outside while onnxruntime runs in it aborts the whole process, so tests must not do that.)
   */
  simulateWorkerCrash(): void {
    this.worker.postMessage({ type: 'crash' });
  }

  /** Requests in flight (forwarded or queued). */
  get inFlight(): number {
    return this.tracked.size;
  }

  private spawn(): void {
    const init: WorkerInit = {
      modelDir: this.opts.modelDir,
      tokenizerDir: this.opts.tokenizerDir,
      exec: this.opts.exec ?? {},
      limits: this.limits,
    };
    this.worker = new Worker(WORKER_URL, { workerData: init });
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (m: { type: string } & Record<string, any>) => {
        if (m.type === 'ready') {
          this.spec = m.spec as ModelSpec;
          this.provider = m.provider;
          this.kvBudgetTokens = m.kvBudgetTokens;
          this.alive = true;
          resolve();
          this.drain();
        } else if (m.type === 'report') this.onReport(m as unknown as StepReport);
        else if (m.type === 'fatal') reject(new Error(`model worker for ${this.opts.modelDir} failed: ${m.message}`));
      });
      this.worker.on('error', (err) => reject(err));
      this.worker.on('exit', (code) => this.onExit(code, reject));
    });
    // The ready promise is awaited by start(); a later crash must not become an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  private onExit(code: number, reject: (err: Error) => void): void {
    const wasAlive = this.alive;
    this.alive = false;
    if (this.closing) return;
    reject(new Error(`model worker for ${this.opts.modelDir} exited with code ${code} before it was ready`));
    for (const t of [...this.tracked.values()]) {
      if (!t.forwarded) continue;
      t.channel.push({ type: 'error', message: 'the model worker crashed; the request was not completed', code: 'worker_crashed' });
      for (let i = 0; i < t.request.n; i++) if (!t.ended.has(i)) this.deliver(t, endEvent(t.request, i, 'error'));
    }
    this.last = { running: 0, waiting: 0, kvUsedTokens: 0 };
    if (wasAlive && this.opts.restartOnCrash !== false) {
      this.restarts++;
      this.spawn();
    }
  }

  private onReport(r: StepReport): void {
    this.last = { running: r.running, waiting: r.waiting, kvUsedTokens: r.kvUsedTokens };
    if (r.step) {
      this.steps++;
      this.recentStepMs.push(r.step.ms);
      if (this.recentStepMs.length > 64) this.recentStepMs.shift();
      this.onStep?.(r.step);
    }
    for (const { id, event } of r.events) {
      const t = this.tracked.get(id);
      if (t) this.deliver(t, event);
    }
  }

  private deliver(t: Tracked, event: GenerationEvent): void {
    if (event.type === 'end') {
      if (t.ended.has(event.index)) return;
      t.ended.add(event.index);
    }
    t.channel.push(event);
    if (t.ended.size === t.request.n) {
      this.tracked.delete(t.id);
      if (t.forwarded) this.forwardedSeqs -= t.request.n;
      t.channel.end();
      this.drain();
    }
  }

  /** Forwards queued requests, FIFO, while running sequences stay within maxNumSeqs. */
  private drain(): void {
    while (this.alive && this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.forwardedSeqs + head.request.n > this.limits.maxNumSeqs) break;
      this.queue.shift();
      head.forwarded = true;
      this.forwardedSeqs += head.request.n;
      this.worker.postMessage({ type: 'generate', id: head.id, request: head.request });
    }
  }
}

function endEvent(request: GenerationRequest, index: number, reason: 'abort' | 'error'): GenerationEvent {
  return {
    type: 'end',
    index,
    finishReason: reason,
    text: '',
    promptTokens: request.promptTokenIds.length,
    completionTokens: 0,
    cumulativeLogprob: 0,
  };
}
