import type { ModelSpec } from './model-loader.ts';

/** Limits of one model's engine (vLLM's names in comments). */
export interface WorkerLimits {
  /** Sequences generating at once (--max-num-seqs). */
  maxNumSeqs: number;
  /** Tokens per engine step: decode rows + prefill chunk (--max-num-batched-tokens). */
  maxBatchedTokens: number;
  /** Smallest prefill chunk per step, however many rows decode. */
  minChunk: number;
  /** KV cache budget in tokens; 0 derives it from kvCacheBytes. */
  kvBudgetTokens: number;
  /** KV cache memory budget in bytes, used when kvBudgetTokens is 0. */
  kvCacheBytes: number;
}

export const DEFAULT_LIMITS: WorkerLimits = {
  maxNumSeqs: 64,
  maxBatchedTokens: 512,
  minChunk: 32,
  kvBudgetTokens: 0,
  kvCacheBytes: 2 * 1024 ** 3,
};

/** Bytes one token occupies in the KV cache of this model (keys and values, all layers). */
export function kvBytesPerToken(spec: Pick<ModelSpec, 'numLayers' | 'numKvHeads' | 'headDim' | 'kvType'>): number {
  return 2 * spec.numLayers * spec.numKvHeads * spec.headDim * (spec.kvType === 'float16' ? 2 : 4);
}

/**
 * The KV budget in token slots: explicit, or the memory budget divided by the per-token size. It bounds
 * what the KV pool allocates (kv/pool.ts); a request that could not fit even alone is refused.
 */
export function resolveKvBudget(limits: WorkerLimits, spec: ModelSpec): number {
  if (limits.kvBudgetTokens > 0) return limits.kvBudgetTokens;
  return Math.floor(limits.kvCacheBytes / kvBytesPerToken(spec));
}
