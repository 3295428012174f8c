import { DEFAULT_SAMPLING_PARAMS } from '../../src/runtime/sampling.ts';
import type { GenerationEvent, GenerationRequest } from '../../src/runtime/types.ts';

/** A greedy request with every field filled; override what a test needs. */
export function greedyRequest(promptTokenIds: number[], over: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    promptTokenIds,
    n: 1,
    maxTokens: 12,
    sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 0 },
    stop: [],
    stopTokenIds: [],
    ignoreEos: true,
    includeStopStrInOutput: false,
    skipSpecialTokens: true,
    ...over,
  };
}

/** Collects every event of a generation. */
export async function collect(events: AsyncIterable<GenerationEvent>): Promise<GenerationEvent[]> {
  const out: GenerationEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** Token ids of sequence `index`, in order. */
export function tokenIds(events: GenerationEvent[], index = 0): number[] {
  return events.flatMap((e) => (e.type === 'token' && e.index === index ? [e.tokenId] : []));
}

/** Full text of sequence `index` (token deltas plus the end event's flushed text). */
export function textOf(events: GenerationEvent[], index = 0): string {
  return events.map((e) => (e.type !== 'error' && e.index === index ? e.text : '')).join('');
}

/** Deterministic pseudo-random prompt of `len` token ids below `vocab` (avoiding special ids). */
export function prompt(len: number, seed: number, vocab = 32000): number[] {
  let x = seed * 2654435761 >>> 0;
  return Array.from({ length: len }, () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return 100 + (x % (vocab - 200));
  });
}
