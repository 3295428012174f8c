import type { ModelSpec, RewardReadout } from '../runtime/model-loader.ts';
import type { ExecutionOptions } from '../runtime/model-session.ts';
import { EngineError } from '../runtime/types.ts';
import { WorkerHost } from '../runtime/worker-host.ts';
import { toScore, type Score } from './readout.ts';
import { DEFAULT_SCORE_LIMITS, type ScoreBatcherLimits } from './score-batcher.ts';
import type { ScoreWorkerInit } from './score-worker.ts';

/** How to start a reward engine. */
export interface RewardEngineOptions {
  modelDir: string;
  exec?: Partial<ExecutionOptions>;
  limits?: Partial<ScoreBatcherLimits>;
  /** Overrides the readout the model folder describes (default: its own, else Nemotron's token 0 logit). */
  readout?: RewardReadout;
  /** Most items waiting at once; past it, score() fails 'overloaded'. */
  maxQueuedItems?: number;
  /**
   * Score a request's responses from their shared prompt prefix, prefilled once (default true). Native
   * runtime only; models that cannot run a multi-token step on a past score each response whole.
   */
  sharePrefix?: boolean;
}

/** One forward pass of the reward worker. */
export interface ScoreBatchStats {
  /**
   * plain: whole conversations; prefix: the shared prompts of a group of requests, one row each; suffix:
   * responses run on a copy of their request's prompt KV.
   */
  pass: 'plain' | 'prefix' | 'suffix';
  ms: number;
  rows: number;
  /** Tokens computed (a suffix pass: the responses' tokens after the shared prefix). */
  tokens: number;
  paddedTokens: number;
  /**
   * Prompt tokens this pass did not recompute thanks to sharing: summed over a request's passes,
   * (responses − 1) × shared prefix length. 0 for plain and prefix passes.
   */
  sharedTokens: number;
}

/** One completed score request. */
export interface ScoreRequestStats {
  items: number;
  tokens: number;
  seconds: number;
  scores: number[];
}

/** Reward engine state, for /metrics and tests. */
export interface RewardEngineStats {
  /** Score requests in flight. */
  pendingRequests: number;
  /** Items (conversations) in flight. */
  pendingItems: number;
  batches: number;
  /** Prompt tokens not recomputed thanks to shared-prompt scoring, since start (see ScoreBatchStats); optional for fakes. */
  sharedTokens?: number;
  alive: boolean;
  restarts: number;
}

interface ReadyMessage {
  type: 'ready';
  spec: ModelSpec;
  provider: 'cpu' | 'cuda';
  readout: RewardReadout;
}

interface PendingScore {
  items: number;
  resolve(scores: Score[]): void;
  reject(err: Error): void;
}

/**
 * The main-thread face of a reward model: `score(conversations)` → one Score per tokenized conversation.
 * The model runs in its own worker thread (score-worker.ts), which batches the items of all concurrent
 * requests into prefill-only forward passes, and scores a request's responses that share their prompt
 * from one prefill of it (`sharePrefix`, shared-prefix.ts).
 */
export class RewardEngine {
  spec!: ModelSpec;
  provider: 'cpu' | 'cuda' = 'cpu';
  readout!: RewardReadout;
  /** Called after every forward pass (metrics). */
  onBatch?: (b: ScoreBatchStats) => void;
  /** Called when a score request completes (metrics). */
  onScored?: (r: ScoreRequestStats) => void;
  private readonly host: WorkerHost<ReadyMessage>;
  private readonly pending = new Map<number, PendingScore>();
  private nextId = 1;
  private pendingItems = 0;
  private batches = 0;
  private sharedTokens = 0;
  private readonly maxQueuedItems: number;

  private constructor(opts: RewardEngineOptions) {
    this.maxQueuedItems = opts.maxQueuedItems ?? 4096;
    const init: ScoreWorkerInit = {
      modelDir: opts.modelDir,
      exec: opts.exec ?? {},
      limits: { ...DEFAULT_SCORE_LIMITS, ...opts.limits },
      readout: opts.readout,
      sharePrefix: opts.sharePrefix ?? true,
    };
    this.host = new WorkerHost<ReadyMessage>(
      './scoring/score-worker.ts',
      init,
      {
        onMessage: (m) => this.onMessage(m),
        onCrash: () => this.failAll('the reward model worker crashed; the request was not completed'),
        onRestarted: (r) => this.onReady(r),
      },
      opts.modelDir,
    );
  }

  /** Starts the worker and waits until the model is loaded. */
  static async start(opts: RewardEngineOptions): Promise<RewardEngine> {
    const engine = new RewardEngine(opts);
    engine.onReady(await engine.host.start());
    return engine;
  }

  /**
   * Scores tokenized conversations (each rendered with the chat template, no generation prompt).
   * Rejects with EngineError('overloaded') at once when too many items wait.
   */
  score(items: number[][], signal?: AbortSignal): Promise<Score[]> {
    if (!this.host.alive) return Promise.reject(new EngineError('the reward model is not available', 'worker_crashed'));
    if (this.pendingItems + items.length > this.maxQueuedItems && this.pendingItems > 0) {
      return Promise.reject(new EngineError(`reward model overloaded: ${this.pendingItems} conversations waiting`, 'overloaded'));
    }
    if (items.length === 0) return Promise.resolve([]);
    const id = this.nextId++;
    this.pendingItems += items.length;
    const t0 = performance.now();
    const tokens = items.reduce((a, i) => a + i.length, 0);
    return new Promise<Score[]>((resolve, reject) => {
      const done = (scores: Score[]) => {
        this.onScored?.({ items: items.length, tokens, seconds: (performance.now() - t0) / 1000, scores: scores.map((x) => x.score) });
        resolve(scores);
      };
      this.pending.set(id, { items: items.length, resolve: done, reject });
      this.host.post({ type: 'score', id, items });
      signal?.addEventListener(
        'abort',
        () => {
          if (!this.settle(id)) return;
          this.host.post({ type: 'abort', id });
          reject(new EngineError('scoring aborted', 'internal'));
        },
        { once: true },
      );
    });
  }

  stats(): RewardEngineStats {
    return {
      pendingRequests: this.pending.size,
      pendingItems: this.pendingItems,
      batches: this.batches,
      sharedTokens: this.sharedTokens,
      alive: this.host.alive,
      restarts: this.host.restarts,
    };
  }

  /** Test hook: the worker exits abruptly between passes, as a fatal error would. */
  simulateWorkerCrash(): void {
    this.host.post({ type: 'crash' });
  }

  async close(): Promise<void> {
    this.failAll('the server is shutting down');
    await this.host.close();
  }

  private onReady(r: ReadyMessage): void {
    this.spec = r.spec;
    this.provider = r.provider;
    this.readout = r.readout;
  }

  private onMessage(m: { type: string } & Record<string, unknown>): void {
    if (m.type === 'batch') {
      const b = m as unknown as ScoreBatchStats;
      this.batches++;
      this.sharedTokens += b.sharedTokens;
      this.onBatch?.(b);
      return;
    }
    const id = m.id as number;
    const p = this.pending.get(id);
    if (!p || !this.settle(id)) return;
    if (m.type === 'scored') p.resolve((m.values as number[][]).map((v) => toScore(v, this.readout)));
    else if (m.type === 'score-error') p.reject(new EngineError(`scoring failed: ${String(m.message)}`, 'internal'));
  }

  /** Forgets a pending request; false when it was already settled. */
  private settle(id: number): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    this.pendingItems -= p.items;
    return true;
  }

  private failAll(message: string): void {
    for (const [id, p] of [...this.pending]) {
      this.settle(id);
      p.reject(new EngineError(message, 'worker_crashed'));
    }
  }
}
