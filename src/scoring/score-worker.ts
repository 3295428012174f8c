/**
 * Worker-thread entry of a reward model: prefill-only forward passes, batched by ScoreBatcher across
 * requests, each item read out at its last position. A request whose items share a long enough prefix
 * (the prompt, on the native runtime) is a shared job instead: its prefix is computed once and each item
 * scored from it (shared-prefix.ts, shared-scorer.ts). Plain items and shared jobs are served oldest
 * request first: request ids grow with arrival (RewardEngine numbers them in order). Protocol:
 *   main → worker: {type:'score', id, items: number[][]} | {type:'abort', id} | {type:'close'} | {type:'crash'}
 *   worker → main: {type:'ready', spec, provider, readout} | {type:'scored', id, values: number[][]}
 *                  | {type:'score-error', id, message}
 *                  | {type:'batch', pass, ms, rows, tokens, paddedTokens, sharedTokens} | {type:'fatal', message}
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { KvBatch } from '../runtime/kv-cache.ts';
import { folderRewardReadout, readModelFolder, type ModelSpec, type RewardReadout } from '../runtime/model-loader.ts';
import { pruneTokenReadout } from './readout-graph.ts';
import { ModelSession, type ExecutionOptions } from '../runtime/model-session.ts';
import { NativeModel } from '../runtime/native-model.ts';
import { extractReadout, NEMOTRON_REWARD_READOUT } from './readout.ts';
import { ScoreBatcher, type ScoreBatcherLimits, type ScoreItem } from './score-batcher.ts';
import { DEFAULT_SHARE_THRESHOLDS, planGroup, planSharedJob, SHARED_KV_BUDGET_FACTOR, wholeItems, worthSharing, type SharedJob } from './shared-prefix.ts';
import { sharedScoringUnsupported, SharedPrefixScorer, type SharedHooks, type SharedPassStats } from './shared-scorer.ts';

/** Data the main thread hands a reward worker. */
export interface ScoreWorkerInit {
  modelDir: string;
  exec: Partial<ExecutionOptions>;
  limits: ScoreBatcherLimits;
  /** Overrides the readout the model folder describes. */
  readout?: RewardReadout;
  /** Score a request's responses from their shared prompt prefix, computed once (default true; native runtime only). */
  sharePrefix?: boolean;
}

type Inbound =
  | { type: 'score'; id: number; items: number[][] }
  | { type: 'abort'; id: number }
  | { type: 'close' }
  | { type: 'crash' };

interface Pending {
  values: Array<number[] | undefined>;
  remaining: number;
}

/** A prefill-only forward pass: each row's last-position output row. */
interface Forward {
  spec: ModelSpec;
  provider: 'cpu' | 'cuda';
  run(rows: number[][]): Promise<Float32Array[]> | Float32Array[];
  close(): Promise<void> | void;
  /** The native runtime's model (shared-prefix scoring steps on it); absent on the js runtime. */
  native?: NativeModel;
}

/**
 * The C API runtime (default) or the onnxruntime-node session (--score-runtime js). The C API runtime
 * leaves the present tensors where the model ran, and for a token-logit readout runs a copy of the graph
 * that computes only the logits it reads (readout-graph.ts); `readout` is then the one to extract with.
 */
async function openForward(init: ScoreWorkerInit): Promise<Forward & { extract?: RewardReadout }> {
  if (init.exec.scoreRuntime === 'js') {
    const s = await ModelSession.open(init.modelDir, init.exec);
    return { spec: s.spec, provider: s.provider, run: (rows) => s.step(KvBatch.empty(s.geometry, rows.length), rows), close: () => s.close() };
  }
  const readout = init.readout ?? folderRewardReadout(init.modelDir) ?? NEMOTRON_REWARD_READOUT;
  const notes: string[] = [];
  let graph: { bytes: Uint8Array; externalDataDir: string } | undefined;
  let extract: RewardReadout | undefined;
  if (readout.kind === 'token_logit') {
    const { onnxPath } = readModelFolder(init.modelDir);
    const probe = describeLogitsName(init.modelDir);
    const pruned = pruneTokenReadout(onnxPath, probe, [readout.tokenId]);
    if ('reason' in pruned) notes.push(`reward readout computes the full vocabulary: ${pruned.reason}`);
    else {
      graph = pruned;
      extract = { kind: 'token_logit', tokenId: pruned.columns.get(readout.tokenId)! };
      notes.push('reward readout: the output layer computes only the readout token');
    }
  }
  const m = NativeModel.open(init.modelDir, init.exec, graph);
  // The notes travel with the spec to the main thread, which logs them.
  return { spec: { ...m.spec, notes: [...m.spec.notes, ...notes] }, provider: m.provider, run: (rows) => m.forward(rows), close: () => m.close(), extract, native: m };
}

/** The logits output's name (genai_config.json may rename it). */
function describeLogitsName(dir: string): string {
  const genai = readModelFolder(dir).genaiConfig;
  const name: unknown = genai?.model?.decoder?.outputs?.logits;
  return typeof name === 'string' ? name : 'logits';
}


/** The worker's shared-prefix scorer, or why there is none; a start-up note either way. */
function openSharing(init: ScoreWorkerInit, session: Forward): { scorer?: SharedPrefixScorer; note: string } {
  const whole = 'each response is scored whole';
  if (init.sharePrefix === false) return { note: `shared-prompt scoring off (--no-prefix-caching): ${whole}` };
  if (!session.native) return { note: `shared-prompt scoring needs the native runtime: ${whole}` };
  const why = sharedScoringUnsupported(session.native.spec);
  if (why) return { note: `shared-prompt scoring off: ${why}; ${whole}` };
  // The pool bounds the KV of one group's passes; a job that cannot fit even alone is scored whole.
  const kvSlots = SHARED_KV_BUDGET_FACTOR * init.limits.maxBatchTokens;
  const batchedSuffixes = session.native.spec.batchedMultiTokenWithPast;
  return {
    scorer: new SharedPrefixScorer(session.native, { ...init.limits, kvSlots, batchedSuffixes }),
    note:
      `shared-prompt scoring: responses of one request that share >= ${DEFAULT_SHARE_THRESHOLDS.prefix} prompt tokens are scored from one prefill ` +
      `of them when requests together save >= ${DEFAULT_SHARE_THRESHOLDS.saved} tokens (KV pool of ${kvSlots} token slots${batchedSuffixes ? '' : '; one response per pass, as GroupQueryAttention needs'})`,
  };
}

/** A 'batch' message: one forward pass, plain or of a shared group. */
type PassStats = SharedPassStats | ({ pass: 'plain' } & Omit<SharedPassStats, 'pass'>);

/**
 * The worker's queues and loop. Waiting work: plain items (the batcher) and shared jobs (oldest first);
 * each turn serves whichever holds the oldest request, then lets messages (new requests, aborts) in.
 */
class ScoreLoop {
  private readonly batcher: ScoreBatcher;
  /** Shared jobs waiting, oldest first. */
  private shared: SharedJob[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Requests answered by the pass now running: sent after its stats, so metrics count a pass before its answers. */
  private answered: Array<{ id: number; values: number[][] }> = [];
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly hooks: SharedHooks;

  constructor(
    private readonly port: MessagePort,
    private readonly session: Forward,
    private readonly scorer: SharedPrefixScorer | undefined,
    private readonly extractWith: RewardReadout,
    limits: ScoreBatcherLimits,
  ) {
    this.batcher = new ScoreBatcher(limits);
    const pause = () => new Promise<void>((resolve) => setImmediate(resolve));
    this.hooks = {
      alive: (id) => this.pending.has(id),
      scored: (id, index, row) => this.deliver(id, index, row),
      failed: (ids, err) => this.fail(ids, err),
      pass: (stats) => this.report(stats),
      pause,
    };
  }

  onMessage(m: Inbound): void {
    if (m.type === 'score') {
      this.pending.set(m.id, { values: new Array(m.items.length), remaining: m.items.length });
      const job = this.scorer && planSharedJob(m.id, m.items, this.scorer.limits);
      if (job) this.shared.push(job);
      else this.batcher.add(m.id, m.items);
    } else if (m.type === 'abort') {
      this.drop(m.id);
      this.pending.delete(m.id);
    } else if (m.type === 'close') this.closed = true;
    else if (m.type === 'crash') process.exit(70);
    this.wake?.();
  }

  /** Serves waiting work, oldest request first, until closed. */
  async run(): Promise<void> {
    while (!this.closed) {
      if (this.batcher.size === 0 && this.shared.length === 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      const oldestPlain = this.batcher.oldestRequestId;
      if (this.scorer && this.shared.length > 0 && (oldestPlain === undefined || this.shared[0]!.requestId < oldestPlain)) {
        const group = this.shared.splice(0, planGroup(this.shared, this.scorer.limits));
        if (worthSharing(group)) await this.scorer.runGroup(group, this.hooks);
        // Not worth a pass of its own: scored whole, at its place among the plain items.
        else for (const job of group) this.batcher.addInOrder(job.requestId, wholeItems(job));
      } else await this.runPlain(this.batcher.next());
      await this.hooks.pause();
    }
  }

  /** One plain pass: whole conversations, each read out at its last position. */
  private async runPlain(batch: ScoreItem[]): Promise<void> {
    try {
      const t0 = performance.now();
      const rows = await this.session.run(batch.map((i) => i.tokens));
      batch.forEach((item, k) => this.deliver(item.requestId, item.index, rows[k]!));
      const width = Math.max(...batch.map((i) => i.tokens.length));
      const tokens = batch.reduce((a, i) => a + i.tokens.length, 0);
      this.report({ pass: 'plain', ms: performance.now() - t0, rows: batch.length, tokens, paddedTokens: width * batch.length, sharedTokens: 0 });
    } catch (err) {
      this.fail([...new Set(batch.map((i) => i.requestId))], err as Error);
    }
  }

  private report(s: PassStats): void {
    this.port.postMessage({ type: 'batch', ...s });
    this.flushAnswers();
  }

  private flushAnswers(): void {
    for (const a of this.answered) this.port.postMessage({ type: 'scored', id: a.id, values: a.values });
    this.answered = [];
  }

  /** Records an item's readout; answers its request when it was the last one. */
  private deliver(requestId: number, index: number, row: Float32Array): void {
    const p = this.pending.get(requestId);
    if (!p) return; // aborted meanwhile
    p.values[index] = extractReadout(row, this.extractWith);
    if (--p.remaining === 0) {
      this.pending.delete(requestId);
      this.answered.push({ id: requestId, values: p.values as number[][] });
    }
  }

  private drop(id: number): void {
    this.batcher.remove(id);
    this.shared = this.shared.filter((j) => j.requestId !== id);
  }

  /** A failed pass fails the requests it touched; the loop goes on. */
  private fail(ids: number[], err: Error): void {
    this.flushAnswers();
    for (const id of ids) {
      this.drop(id);
      if (this.pending.delete(id)) this.port.postMessage({ type: 'score-error', id, message: err.message });
    }
  }
}

async function main(): Promise<void> {
  const port = parentPort!;
  const init = (workerData as { data: ScoreWorkerInit }).data;
  const session = await openForward(init);
  const sharing = openSharing(init, session);
  const spec: ModelSpec = { ...session.spec, notes: [...session.spec.notes, sharing.note] };
  const readout = init.readout ?? spec.reward ?? NEMOTRON_REWARD_READOUT;
  const loop = new ScoreLoop(port, session, sharing.scorer, session.extract ?? readout, init.limits);
  port.on('message', (m: Inbound) => loop.onMessage(m));
  port.postMessage({ type: 'ready', spec, provider: session.provider, readout });
  await loop.run();
  await session.close();
  port.close();
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
  process.exitCode = 1;
});
