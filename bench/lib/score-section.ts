/**
 * Reward scoring throughput of the two runtimes the reward worker can use, in one run: ONNX Runtime's C
 * API with IO binding (`--score-runtime native`, the default) and the onnxruntime-node session kept for
 * comparison (`--score-runtime js`). Two RewardEngines (worker threads of this process) hold the same model
 * side by side and score the same pairs. Within a round the pairs are cut into chunks of CHUNK and each
 * chunk is scored by both runtimes back to back, the one that goes first alternating by chunk and by
 * round, so a burst of load from elsewhere falls on both alike; a round's pairs/s = its pairs / the
 * runtime's summed time. The target is the median of the per-round ratios.
 */
import { RewardEngine } from '../../src/scoring/reward-engine.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { makePairs, pool, PROFILES, type Pair } from './score-pairs.ts';
import { median, summarize } from './stats.ts';
import type { ScoreFigure, ScoreRuntime } from './types.ts';

export interface ScoreCompareOptions {
  /** The reward model folder (models/reward). */
  modelDir: string;
  /** Pairs per round (half short conversations, half medium ones). */
  pairs: number;
  rounds: number;
  /** Pairs in flight in the batched mode. */
  concurrency: number;
  threads: number;
  provider: 'cpu' | 'cuda';
  progress: (msg: string) => void;
}

type Mode = 'concurrent' | 'oneAtATime';
const RUNTIMES: ScoreRuntime[] = ['native', 'js'];
/** Pairs each runtime scores before the other takes its turn (two waves of 16 in flight). */
const CHUNK = 32;

/** Seconds one mode takes over `pairs`. */
async function timedRun(engine: RewardEngine, pairs: Pair[], mode: Mode, concurrency: number): Promise<number> {
  const t0 = performance.now();
  await pool(pairs, mode === 'concurrent' ? concurrency : 1, (p) => engine.score(p.items));
  return (performance.now() - t0) / 1000;
}

/** One round of one mode: every chunk scored by both runtimes in turn; pairs/s of each. */
async function round(engines: Record<ScoreRuntime, RewardEngine>, pairs: Pair[], mode: Mode, concurrency: number, r: number): Promise<Record<ScoreRuntime, number>> {
  const seconds: Record<ScoreRuntime, number> = { native: 0, js: 0 };
  for (let at = 0, k = 0; at < pairs.length; at += CHUNK, k++) {
    const part = pairs.slice(at, at + CHUNK);
    for (const rt of (r + k) % 2 === 0 ? RUNTIMES : [...RUNTIMES].reverse()) seconds[rt] += await timedRun(engines[rt], part, mode, concurrency);
  }
  return { native: pairs.length / seconds.native, js: pairs.length / seconds.js };
}

/** Largest difference between two runtimes' scores of the same conversations. */
async function scoreDifference(engines: Record<ScoreRuntime, RewardEngine>, pairs: Pair[]): Promise<number> {
  const items = pairs.flatMap((p) => p.items);
  const [a, b] = await Promise.all(RUNTIMES.map((rt) => engines[rt].score(items)));
  return Math.max(0, ...a!.map((s, i) => Math.abs(s.score - b![i]!.score)));
}

/** Runs the comparison; a runtime that does not start makes the figure unavailable (with why). */
export async function runScoreCompare(o: ScoreCompareOptions): Promise<ScoreFigure> {
  o.progress(`reward scoring, native vs js runtime: ${o.modelDir}, ${o.pairs} pairs per round, ${o.rounds} rounds, ${o.provider}…`);
  const tok = await loadTokenizer(o.modelDir);
  const half = Math.ceil(o.pairs / 2);
  const pairs = [...makePairs(tok, half, PROFILES.short!), ...makePairs(tok, o.pairs - half, PROFILES.medium!)];
  const exec = { provider: o.provider, ...(o.threads ? { intraOpThreads: o.threads } : {}) };
  const started = await Promise.allSettled(RUNTIMES.map((scoreRuntime) => RewardEngine.start({ modelDir: o.modelDir, exec: { ...exec, scoreRuntime } })));
  const engines = {} as Record<ScoreRuntime, RewardEngine>;
  const failed: string[] = [];
  started.forEach((s, i) => (s.status === 'fulfilled' ? (engines[RUNTIMES[i]!] = s.value) : failed.push(`${RUNTIMES[i]}: ${(s.reason as Error).message}`)));
  try {
    if (failed.length) return { available: false, note: `a runtime did not start (${failed.join('; ').slice(0, 300)})`, pairsPerSecond: {} };
    const rounds: Record<ScoreRuntime, Record<Mode, number[]>> = { native: { concurrent: [], oneAtATime: [] }, js: { concurrent: [], oneAtATime: [] } };
    // Warm-up (shapes, arenas), and a check that both runtimes compute the same scores.
    for (const rt of RUNTIMES) for (const mode of ['concurrent', 'oneAtATime'] as Mode[]) await timedRun(engines[rt], pairs.slice(0, 16), mode, o.concurrency);
    const maxScoreDiff = await scoreDifference(engines, pairs);
    for (let r = 0; r < o.rounds; r++) {
      for (const mode of ['concurrent', 'oneAtATime'] as Mode[]) {
        const pps = await round(engines, pairs, mode, o.concurrency, r);
        for (const rt of RUNTIMES) rounds[rt][mode].push(pps[rt]);
      }
      const last = (rt: ScoreRuntime, m: Mode) => rounds[rt][m].at(-1)!.toFixed(0);
      o.progress(
        `  round ${r + 1}/${o.rounds}: ${o.concurrency} in flight native ${last('native', 'concurrent')} / js ${last('js', 'concurrent')} pairs/s; ` +
          `one at a time native ${last('native', 'oneAtATime')} / js ${last('js', 'oneAtATime')} pairs/s`,
      );
    }
    const conv = summarize(pairs.flatMap((p) => p.items.map((i) => i.length)));
    const pairsPerSecond: Record<string, number> = {};
    for (const rt of RUNTIMES) {
      pairsPerSecond[`${rt}, ${o.concurrency} in flight`] = median(rounds[rt].concurrent);
      pairsPerSecond[`${rt}, one at a time`] = median(rounds[rt].oneAtATime);
    }
    return {
      available: true,
      note:
        `${o.modelDir}, ${o.pairs} pairs (${half} short, ${o.pairs - half} medium; ${conv.min}-${conv.max} tokens per conversation), ` +
        `${o.rounds} rounds, on ${engines.native.provider}`,
      pairsPerSecond,
      compare: {
        model: o.modelDir,
        provider: engines.native.provider,
        pairs: o.pairs,
        concurrency: o.concurrency,
        rounds: o.rounds,
        conversationTokens: { min: conv.min, p50: conv.p50, max: conv.max },
        maxScoreDiff,
        native: rounds.native,
        js: rounds.js,
      },
    };
  } finally {
    await Promise.all(Object.values(engines).map((e) => e.close()));
  }
}
