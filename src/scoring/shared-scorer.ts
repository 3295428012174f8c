/**
 * Shared-prompt scoring, the part that runs the model (the plan is shared-prefix.ts). A group of shared
 * jobs runs as:
 *   1. a prefix pass: one row per job, its prefix prefilled into a KV store (`KvStore.forPrefill`);
 *   2. suffix passes: each pass's store takes a copy of its rows' job prefixes (`absorb` with an index
 *      per row: one prefix row copied to every response of its job, as n sequences share one prompt in
 *      generation), then one step runs every row's suffix on that past and returns each row's output at
 *      its last token, which is the readout.
 * Every store is released when its pass ends, so between groups the pool is empty.
 *
 * Failure semantics match plain scoring: a failed pass fails the requests whose rows it ran (a failed
 * prefix pass, the whole group) and the group goes on with the others; an aborted request's remaining
 * rows are skipped.
 */
import { KvStore, type KvPool } from '../runtime/kv/store.ts';
import type { ModelSpec } from '../runtime/model-loader.ts';
import type { NativeModel } from '../runtime/native-model.ts';
import type { OrtKvArray } from '../runtime/ort/memory.ts';
import { planSuffixPasses, savedTokens, type SharedJob, type SharedLimits, type SuffixRow } from './shared-prefix.ts';

/** One pass of a shared group, as the worker reports it (see ScoreBatchStats). */
export interface SharedPassStats {
  pass: 'prefix' | 'suffix';
  ms: number;
  rows: number;
  tokens: number;
  paddedTokens: number;
  /** Prefix tokens this pass did not compute thanks to sharing (see `savedTokens`). */
  sharedTokens: number;
}

/** What a group run tells its caller. */
export interface SharedHooks {
  /** Whether a request still wants its scores (false once aborted or failed). */
  alive(requestId: number): boolean;
  /** A response's output row at its last token: a view valid only during the call. */
  scored(requestId: number, index: number, row: Float32Array): void;
  /** A pass failed: these requests fail. */
  failed(requestIds: number[], err: Error): void;
  pass(stats: SharedPassStats): void;
  /** Waits between passes, so that messages (aborts) are handled meanwhile. */
  pause(): Promise<void>;
}

/**
 * Why a model cannot score from a shared prefix (undefined when it can). Needs a KV cache and a
 * multi-token step on a past; GroupQueryAttention graphs take that one row at a time, which still works.
 */
export function sharedScoringUnsupported(spec: ModelSpec): string | undefined {
  if (!spec.hasKvCache) return 'the graph has no KV cache inputs';
  if (!spec.chunkedPrefill) return 'the graph cannot run a multi-token step on a past (ONNX Runtime GenAI MultiHeadAttention export)';
  return undefined;
}

/** Runs shared groups on a model, within a KV pool of its own (see the module comment). */
export class SharedPrefixScorer {
  readonly pool: KvPool<OrtKvArray>;

  constructor(
    private readonly model: NativeModel,
    readonly limits: SharedLimits,
  ) {
    this.pool = model.createPool(limits.kvSlots);
  }

  /** Scores a group (planned by `planGroup`): the prefix pass, then the suffix passes. */
  async runGroup(group: SharedJob[], hooks: SharedHooks): Promise<void> {
    const prefixes = this.prefixPass(group, hooks);
    if (!prefixes) return;
    try {
      const firstRowSeen = new Set<number>();
      for (const planned of planSuffixPasses(group, prefixes.allocatedSlots, this.limits)) {
        await hooks.pause();
        const rows = planned.filter((r) => hooks.alive(group[r.job]!.requestId));
        if (rows.length > 0) this.suffixPass(group, prefixes, rows, firstRowSeen, hooks);
      }
    } finally {
      prefixes.release();
    }
  }

  /** Prefills every job's prefix, one row each; undefined (the group failed) when the pass fails. */
  private prefixPass(group: SharedJob[], hooks: SharedHooks): KvStore<OrtKvArray> | undefined {
    const width = Math.max(...group.map((j) => j.prefix.length));
    let prefixes: KvStore<OrtKvArray> | undefined;
    try {
      const t0 = performance.now();
      prefixes = KvStore.forPrefill(this.pool, group.length, width, false);
      this.model.step(prefixes, group.map((j) => j.prefix));
      const tokens = group.reduce((a, j) => a + j.prefix.length, 0);
      hooks.pass({ pass: 'prefix', ms: performance.now() - t0, rows: group.length, tokens, paddedTokens: group.length * width, sharedTokens: 0 });
      return prefixes;
    } catch (err) {
      prefixes?.release();
      hooks.failed(group.map((j) => j.requestId), err as Error);
      return undefined;
    }
  }

  /** One suffix pass over `rows` (all of live requests). */
  private suffixPass(group: SharedJob[], prefixes: KvStore<OrtKvArray>, rows: SuffixRow[], firstRowSeen: Set<number>, hooks: SharedHooks): void {
    const suffixes = rows.map((r) => group[r.job]!.suffixes[r.index]!);
    const store = new KvStore(this.pool);
    const t0 = performance.now();
    try {
      // Each row may grow by its own suffix only: the store's buffers hold exactly this pass.
      store.absorb(prefixes, rows.map((r) => r.job), rows.map((r, k) => group[r.job]!.prefix.length + suffixes[k]!.length));
      const out = this.model.step(store, suffixes);
      rows.forEach((r, k) => hooks.scored(group[r.job]!.requestId, r.index, out[k]!));
    } catch (err) {
      hooks.failed([...new Set(rows.map((r) => group[r.job]!.requestId))], err as Error);
      return;
    } finally {
      store.release();
    }
    const width = Math.max(...suffixes.map((s) => s.length));
    hooks.pass({
      pass: 'suffix',
      ms: performance.now() - t0,
      rows: rows.length,
      tokens: suffixes.reduce((a, s) => a + s.length, 0),
      paddedTokens: rows.length * width,
      sharedTokens: savedTokens(group, rows, firstRowSeen),
    });
  }
}
