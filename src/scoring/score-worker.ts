/**
 * Worker-thread entry of a reward model: prefill-only forward passes, batched by ScoreBatcher across
 * requests, each item read out at its last position. Protocol:
 *   main → worker: {type:'score', id, items: number[][]} | {type:'abort', id} | {type:'close'} | {type:'crash'}
 *   worker → main: {type:'ready', spec, provider, readout} | {type:'scored', id, values: number[][]}
 *                  | {type:'score-error', id, message} | {type:'batch', ms, rows, tokens, paddedTokens}
 *                  | {type:'fatal', message}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KvBatch } from '../runtime/kv-cache.ts';
import { folderRewardReadout, readModelFolder, type ModelSpec, type RewardReadout } from '../runtime/model-loader.ts';
import { pruneTokenReadout } from './readout-graph.ts';
import { ModelSession, type ExecutionOptions } from '../runtime/model-session.ts';
import { NativeModel } from '../runtime/native-model.ts';
import { extractReadout, NEMOTRON_REWARD_READOUT } from './readout.ts';
import { ScoreBatcher, type ScoreBatcherLimits, type ScoreItem } from './score-batcher.ts';

/** Data the main thread hands a reward worker. */
export interface ScoreWorkerInit {
  modelDir: string;
  exec: Partial<ExecutionOptions>;
  limits: ScoreBatcherLimits;
  /** Overrides the readout the model folder describes. */
  readout?: RewardReadout;
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
  return { spec: { ...m.spec, notes: [...m.spec.notes, ...notes] }, provider: m.provider, run: (rows) => m.forward(rows), close: () => m.close(), extract };
}

/** The logits output's name (genai_config.json may rename it). */
function describeLogitsName(dir: string): string {
  const genai = readModelFolder(dir).genaiConfig;
  const name: unknown = genai?.model?.decoder?.outputs?.logits;
  return typeof name === 'string' ? name : 'logits';
}

async function main(): Promise<void> {
  const port = parentPort!;
  const init = (workerData as { data: ScoreWorkerInit }).data;
  const session = await openForward(init);
  const readout = init.readout ?? session.spec.reward ?? NEMOTRON_REWARD_READOUT;
  const extractWith = session.extract ?? readout;
  const batcher = new ScoreBatcher(init.limits);
  const pending = new Map<number, Pending>();
  let closed = false;
  let wake: (() => void) | undefined;
  port.on('message', (m: Inbound) => {
    if (m.type === 'score') {
      pending.set(m.id, { values: new Array(m.items.length), remaining: m.items.length });
      batcher.add(m.id, m.items);
    } else if (m.type === 'abort') {
      batcher.remove(m.id);
      pending.delete(m.id);
    } else if (m.type === 'close') closed = true;
    else if (m.type === 'crash') process.exit(70);
    wake?.();
  });
  port.postMessage({ type: 'ready', spec: session.spec, provider: session.provider, readout });

  const runBatch = async (batch: ScoreItem[]) => {
    const t0 = performance.now();
    const rows = await session.run(batch.map((i) => i.tokens));
    batch.forEach((item, k) => {
      const p = pending.get(item.requestId);
      if (!p) return; // aborted meanwhile
      p.values[item.index] = extractReadout(rows[k]!, extractWith);
      if (--p.remaining === 0) {
        pending.delete(item.requestId);
        port.postMessage({ type: 'scored', id: item.requestId, values: p.values });
      }
    });
    const width = Math.max(...batch.map((i) => i.tokens.length));
    const tokens = batch.reduce((a, i) => a + i.tokens.length, 0);
    port.postMessage({ type: 'batch', ms: performance.now() - t0, rows: batch.length, tokens, paddedTokens: width * batch.length });
  };

  while (!closed) {
    if (batcher.size === 0) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    const batch = batcher.next();
    try {
      await runBatch(batch);
    } catch (err) {
      // A failed pass fails the requests it touched; the loop goes on.
      for (const id of new Set(batch.map((i) => i.requestId))) {
        batcher.remove(id);
        if (pending.delete(id)) port.postMessage({ type: 'score-error', id, message: (err as Error).message });
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await session.close();
  port.close();
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
  process.exitCode = 1;
});
