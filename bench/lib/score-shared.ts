/**
 * Shared-prompt reward scoring, sharing off vs on, in one run: `/v1/score`'s workload of one prompt with
 * several responses (best_of, reranking, the eval command). Each request is 8 responses of 64–200 tokens
 * to a ~1,000-token prompt, rendered with the chat template as /v1/score renders them. Two RewardEngines
 * (worker threads of this process) hold the same model, one with `sharePrefix: false` (every response
 * scored as a whole conversation, as before) and one with it on (the prompt prefilled once, each response
 * scored from it). Each round scores the same requests with both, request by request, the one that goes
 * first alternating, so load from elsewhere falls on both alike, each after a short idle gap (SETTLE_MS);
 * the figure is the median of the per-round ratios
 * (off seconds / on seconds). Scores of both are compared (they must agree within 1e-4), and the engines'
 * sharedTokens must show that sharing ran.
 */
import type { ChatMessage, TextTokenizer } from '../../src/tokenizer/index.ts';
import { RewardEngine } from '../../src/scoring/reward-engine.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { fillerText } from './score-pairs.ts';
import { median } from './stats.ts';

/** Token lengths of the 8 responses of a request, and of its prompt (the templated user turn). */
export const SHARED_RESPONSE_TOKENS = [64, 200, 120, 90, 170, 140, 75, 190];
export const SHARED_PROMPT_TOKENS = 1000;

export interface SharedScoreOptions {
  modelDir: string;
  /** Different prompts per round (each a request of 8 responses). */
  requests: number;
  rounds: number;
  threads: number;
  provider: 'cpu' | 'cuda';
  progress: (msg: string) => void;
}

/** The comparison's result (BenchResult.sharedScore). */
export interface SharedScoreFigure {
  available: boolean;
  note: string;
  model?: string;
  provider?: 'cpu' | 'cuda';
  /** Per request: prompt tokens (templated user turn), and the tokens each response adds (its assistant header included). */
  promptTokens?: number;
  responseTokens?: { min: number; max: number };
  requests?: number;
  /** Seconds per request, per round. */
  offSeconds?: number[];
  onSeconds?: number[];
  /** Median of the per-round ratios off / on (the target: >= 3). */
  ratio?: number;
  /** Largest |score on − score off| over every response. */
  maxScoreDiff?: number;
  /** Prompt tokens the sharing engine did not recompute, per request. */
  sharedTokensPerRequest?: number;
}

/** Text whose token count is the smallest >= `tokens` (grown a word at a time from an estimate). */
function textOfTokens(count: (text: string) => number, tokens: number, seed: number): string {
  let words = Math.max(1, Math.floor(tokens * 0.7));
  while (count(fillerText(words, seed)) < tokens) words++;
  return fillerText(words, seed);
}

/** One request: tokenized conversations of a ~1,000-token prompt with each of the 8 responses. */
function makeRequest(tok: TextTokenizer, seed: number): { items: number[][]; promptTokens: number } {
  const user = (text: string): ChatMessage[] => [{ role: 'user', content: text }];
  const promptText = textOfTokens((t) => tok.encodeChat(user(t), { addGenerationPrompt: false }).length, SHARED_PROMPT_TOKENS, seed);
  const base = tok.encodeChat(user(promptText), { addGenerationPrompt: false }).length;
  const conv = (r: string) => tok.encodeChat([...user(promptText), { role: 'assistant', content: r }], { addGenerationPrompt: false });
  const items = SHARED_RESPONSE_TOKENS.map((n, k) => conv(textOfTokens((t) => conv(t).length - base, n, seed * 17 + k + 1)));
  return { items, promptTokens: base };
}

/**
 * Idle time before each timed request, not counted. ONNX Runtime's intra-op threads keep spinning for a
 * while after a run: with both engines in one process, the one that runs right after the other shares
 * the cores with the other's spinning threads (measured on the 2-core VM: a shared request took 75 ms
 * with its engine alone, 98 ms right after the other engine's request, 72 ms after 100 ms idle). A server
 * holds one reward engine, so the gap measures what it would see.
 */
const SETTLE_MS = 100;

/** Seconds one engine takes to score one request (after SETTLE_MS idle). */
async function timed(engine: RewardEngine, items: number[][]): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const t0 = performance.now();
  await engine.score(items);
  return (performance.now() - t0) / 1000;
}

/**
 * One round: each request scored by both engines back to back, the one that goes first alternating by
 * request and by round (a burst of load falls on both alike). Seconds per request of each.
 */
async function round(off: RewardEngine, on: RewardEngine, requests: number[][][], r: number): Promise<{ off: number; on: number }> {
  const seconds = { off: 0, on: 0 };
  for (const [i, items] of requests.entries()) {
    const first = (r + i) % 2 === 0 ? 'off' : 'on';
    for (const which of first === 'off' ? (['off', 'on'] as const) : (['on', 'off'] as const)) seconds[which] += await timed(which === 'off' ? off : on, items);
  }
  return { off: seconds.off / requests.length, on: seconds.on / requests.length };
}

/** Runs the comparison (see the module comment); an engine that does not start makes it unavailable. */
export async function runSharedScoreCompare(o: SharedScoreOptions): Promise<SharedScoreFigure> {
  o.progress(`shared-prompt scoring, sharing off vs on: ${o.modelDir}, ${o.requests} requests of 8 responses per round, ${o.rounds} rounds, ${o.provider}…`);
  const tok = await loadTokenizer(o.modelDir);
  const made = Array.from({ length: o.requests }, (_, i) => makeRequest(tok, i + 1));
  const requests = made.map((m) => m.items);
  const exec = { provider: o.provider, ...(o.threads ? { intraOpThreads: o.threads } : {}) };
  const started = await Promise.allSettled([false, true].map((sharePrefix) => RewardEngine.start({ modelDir: o.modelDir, exec, sharePrefix })));
  const engines = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    if (engines.length < 2) {
      const why = started.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : [])).join('; ');
      return { available: false, note: `an engine did not start (${why.slice(0, 300)})` };
    }
    const [off, on] = engines as [RewardEngine, RewardEngine];
    // Warm-up (shapes, arenas), and the check that both score alike.
    const [a, b] = [await Promise.all(requests.map((r) => off.score(r))), await Promise.all(requests.map((r) => on.score(r)))];
    const maxScoreDiff = Math.max(...a.flatMap((req, i) => req.map((s, k) => Math.abs(s.score - b[i]![k]!.score))));
    const shared0 = on.stats().sharedTokens ?? 0;
    const offSeconds: number[] = [];
    const onSeconds: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const s = await round(off, on, requests, r);
      offSeconds.push(s.off);
      onSeconds.push(s.on);
      o.progress(`  round ${r + 1}/${o.rounds}: off ${(offSeconds.at(-1)! * 1000).toFixed(0)} ms, on ${(onSeconds.at(-1)! * 1000).toFixed(0)} ms per request`);
    }
    const ratio = median(offSeconds.map((s, i) => s / onSeconds[i]!));
    const lens = made.flatMap((m) => m.items.map((i) => i.length - m.promptTokens));
    return {
      available: true,
      note: `${o.modelDir}, ${o.requests} requests per round of 8 responses to a ~${SHARED_PROMPT_TOKENS}-token prompt, ${o.rounds} rounds, on ${on.provider}`,
      model: o.modelDir,
      provider: on.provider,
      promptTokens: Math.round(made.reduce((s, m) => s + m.promptTokens, 0) / made.length),
      responseTokens: { min: Math.min(...lens), max: Math.max(...lens) },
      requests: o.requests,
      offSeconds,
      onSeconds,
      ratio,
      maxScoreDiff,
      sharedTokensPerRequest: ((on.stats().sharedTokens ?? 0) - shared0) / (o.rounds * requests.length),
    };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

/** The target's figure: the median of per-round ratios off / on, with the rounds. */
export function sharedScoreRatio(f: SharedScoreFigure): { figure: number; rounds?: number[] } {
  if (!f.available || !f.offSeconds || !f.onSeconds) return { figure: NaN };
  return { figure: f.ratio ?? NaN, rounds: f.offSeconds.map((s, i) => s / f.onSeconds![i]!) };
}

/** The docs line of the comparison. */
export function sharedScoreLine(f: SharedScoreFigure): string {
  if (!f.available) return `- Shared-prompt scoring: not measured (${f.note}).`;
  const ms = (xs: number[] | undefined) => (xs?.length ? (median(xs) * 1000).toFixed(0) : '–');
  return (
    `- Shared-prompt scoring (${f.note}): a request of 8 responses (${f.responseTokens?.min}-${f.responseTokens?.max} tokens each) to a ` +
    `${f.promptTokens}-token prompt takes ${ms(f.offSeconds)} ms with sharing off, ${ms(f.onSeconds)} ms with it on (medians over rounds): ` +
    `${f.ratio?.toFixed(2)}x; ${f.sharedTokensPerRequest} prompt tokens per request not recomputed; largest score difference ${f.maxScoreDiff === 0 ? '0' : f.maxScoreDiff?.toExponential(1)}.`
  );
}
