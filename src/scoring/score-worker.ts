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
import { parentPort, workerData } from 'node:worker_threads';
import { KvBatch } from '../runtime/kv-cache.ts';
import { folderRewardReadout, readModelFolder, type ModelSpec, type RewardReadout } from '../runtime/model-loader.ts';
import { pruneTokenReadout } from './readout-graph.ts';
import { ModelSession, type ExecutionOptions } from '../runtime/model-session.ts';
import { NativeModel } from '../runtime/native-model.ts';
import { extractReadout, NEMOTRON_REWARD_READOUT } from './readout.ts';
import { ScoreBatcher, type ScoreBatcherLimits, type ScoreItem } from './score-batcher.ts';
import { DEFAULT_SHARE_THRESHOLDS, planGroup, planSharedJob, SHARED_KV_BUDGET_FACTOR, wholeItems, worthSharing, type SharedJob } from './shared-prefix.ts';
import { sharedScoringUnsupported, SharedPrefixScorer, type SharedPassStats } from './shared-scorer.ts';

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

async function main(): Promise<void> {
  const port = parentPort!;
  const init = (workerData as { data: ScoreWorkerInit }).data;
  const session = await openForward(init);
  const sharing = openSharing(init, session);
  const spec: ModelSpec = { ...session.spec, notes: [...session.spec.notes, sharing.note] };
  const readout = init.readout ?? spec.reward ?? NEMOTRON_REWARD_READOUT;
  const extractWith = session.extract ?? readout;
  const batcher = new ScoreBatcher(init.limits);
  /** Shared jobs waiting, oldest first. */
  let shared: SharedJob[] = [];
  const pending = new Map<number, Pending>();
  let closed = false;
  let wake: (() => void) | undefined;
  const report = (s: PassStats) => port.postMessage({ type: 'batch', ...s });
  const deliver = (requestId: number, index: number, row: Float32Array) => {
    const p = pending.get(requestId);
    if (!p) return; // aborted meanwhile
    p.values[index] = extractReadout(row, extractWith);
    if (--p.remaining === 0) {
      pending.delete(requestId);
      port.postMessage({ type: 'scored', id: requestId, values: p.values });
    }
  };
  const drop = (id: number) => {
    batcher.remove(id);
    shared = shared.filter((j) => j.requestId !== id);
  };
  // A failed pass fails the requests it touched; the loop goes on.
  const fail = (ids: number[], err: Error) => {
    for (const id of ids) {
      drop(id);
      if (pending.delete(id)) port.postMessage({ type: 'score-error', id, message: err.message });
    }
  };
  port.on('message', (m: Inbound) => {
    if (m.type === 'score') {
      pending.set(m.id, { values: new Array(m.items.length), remaining: m.items.length });
      const job = sharing.scorer && planSharedJob(m.id, m.items, sharing.scorer.limits);
      if (job) shared.push(job);
      else batcher.add(m.id, m.items);
    } else if (m.type === 'abort') {
      drop(m.id);
      pending.delete(m.id);
    } else if (m.type === 'close') closed = true;
    else if (m.type === 'crash') process.exit(70);
    wake?.();
  });
  port.postMessage({ type: 'ready', spec, provider: session.provider, readout });

  const runPlain = async (batch: ScoreItem[]) => {
    const t0 = performance.now();
    const rows = await session.run(batch.map((i) => i.tokens));
    batch.forEach((item, k) => deliver(item.requestId, item.index, rows[k]!));
    const width = Math.max(...batch.map((i) => i.tokens.length));
    const tokens = batch.reduce((a, i) => a + i.tokens.length, 0);
    report({ pass: 'plain', ms: performance.now() - t0, rows: batch.length, tokens, paddedTokens: width * batch.length, sharedTokens: 0 });
  };
  const pause = () => new Promise<void>((resolve) => setImmediate(resolve));
  const hooks = { alive: (id: number) => pending.has(id), scored: deliver, failed: fail, pass: report, pause };

  while (!closed) {
    if (batcher.size === 0 && shared.length === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    const oldestPlain = batcher.oldestRequestId;
    if (sharing.scorer && shared.length > 0 && (oldestPlain === undefined || shared[0]!.requestId < oldestPlain)) {
      const group = shared.splice(0, planGroup(shared, sharing.scorer.limits));
      if (worthSharing(group)) await sharing.scorer.runGroup(group, hooks);
      // Not worth a pass of its own: scored whole, at its place among the plain items.
      else for (const job of group) batcher.addInOrder(job.requestId, wholeItems(job));
    } else {
      const batch = batcher.next();
      try {
        await runPlain(batch);
      } catch (err) {
        fail([...new Set(batch.map((i) => i.requestId))], err as Error);
      }
    }
    await pause();
  }
  await session.close();
  port.close();
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
  process.exitCode = 1;
});
