/**
 * The prefix-caching section of `npm run bench`, against the running server (caching on, its default):
 * - shared prefix: per round, a fresh 2,048-token prefix with a 32-token suffix, then the same prefix with
 *   another 32-token suffix; the figure is the second request's time to first token over the first's
 *   (median of the per-round ratios);
 * - chat replay: a 10-turn conversation replayed turn by turn through /v1/chat/completions (each turn
 *   resends the whole conversation, the previous answers included, as clients do); the figure is the
 *   prompt tokens the server computed (prompt_tokens − cached_tokens, summed) over the prompt tokens it
 *   would have computed without caching (prompt_tokens, summed). Greedy decoding: with caching on or off
 *   the answers, so the prompts, are the same (tests check that), so one run gives both sides.
 */
import { promptIds, streamCompletion } from './load.ts';
import { median } from './stats.ts';

/** Figures of the prefix-caching section. */
export interface PrefixFigure {
  sharedPrefix: {
    prefixTokens: number;
    suffixTokens: number;
    firstTtftMs: number[];
    secondTtftMs: number[];
    /** Per round: second TTFT / first TTFT. */
    ratios: number[];
    /** Per round: prompt tokens the second request found cached. */
    cachedTokens: number[];
  };
  chatReplay: {
    turns: number;
    promptTokens: number[];
    cachedTokens: number[];
    /** Σ(prompt − cached) / Σ prompt. */
    computedShare: number;
  };
}

interface Usage {
  prompt_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

async function post(url: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await r.json()) as Record<string, unknown>;
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/** The server's prefix_cache_hits_total for `model` (the streamed completion carries no cached count of its own). */
async function hitTokens(url: string, model: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const line = text.split('\n').find((l) => l.startsWith('nemotron_prefix_cache_hits_total{') && l.includes(`model_name="${model}"`));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

/** Runs the section; `seedBase` keeps its prompts apart from every other section's. */
export async function runPrefixSection(o: {
  url: string;
  model: string;
  rounds: number;
  prefixTokens?: number;
  suffixTokens?: number;
  turns?: number;
  seedBase?: number;
  progress: (msg: string) => void;
}): Promise<PrefixFigure> {
  const P = o.prefixTokens ?? 2048;
  const S = o.suffixTokens ?? 32;
  const seed = o.seedBase ?? 4500;
  const shared: PrefixFigure['sharedPrefix'] = { prefixTokens: P, suffixTokens: S, firstTtftMs: [], secondTtftMs: [], ratios: [], cachedTokens: [] };
  for (let r = 0; r < o.rounds; r++) {
    const prefix = promptIds(P, seed + r);
    const body = (suffixSeed: number) => ({ model: o.model, prompt: [...prefix, ...promptIds(S, suffixSeed)], max_tokens: 2, temperature: 0, ignore_eos: true });
    const first = await streamCompletion(o.url, body(seed + 100 + r));
    const before = await hitTokens(o.url, o.model);
    const second = await streamCompletion(o.url, body(seed + 200 + r));
    const cached = (await hitTokens(o.url, o.model)) - before;
    for (const t of [first, second]) if (t.error) throw new Error(`prefix section: ${t.error}`);
    shared.firstTtftMs.push(first.ttftMs);
    shared.secondTtftMs.push(second.ttftMs);
    shared.ratios.push(second.ttftMs / first.ttftMs);
    shared.cachedTokens.push(cached);
    o.progress(`  shared ${P}-token prefix, round ${r + 1}/${o.rounds}: TTFT ${first.ttftMs.toFixed(0)} ms → ${second.ttftMs.toFixed(0)} ms (${cached} tokens cached)`);
  }
  const chatReplay = await replayChat(o.url, o.model, o.turns ?? 10);
  o.progress(`  ${chatReplay.turns}-turn chat replay: ${(chatReplay.computedShare * 100).toFixed(1)}% of the prompt tokens computed`);
  return { sharedPrefix: shared, chatReplay };
}

const SYSTEM = 'You are a patient assistant for a team that serves language models on their own GPUs. ' +
  'Answer in short paragraphs, name the settings you mean, and say when you are unsure. ' +
  'The team runs an OpenAI-compatible server with continuous batching, a KV cache kept on the device, ' +
  'reward-model scoring for best-of-n answers, and Prometheus metrics. ';
const QUESTIONS = [
  'How should I size the KV cache budget for eight concurrent chats?',
  'What does the prefix cache keep after a request ends?',
  'Why did the second turn of my chat start faster than the first?',
  'Can two tenants see each other\'s cached prompts?',
  'What happens when the cache is full and a long prompt arrives?',
  'Which metric tells me how many prompt tokens were served from the cache?',
  'Does the reward model share the prompt between the answers it scores?',
  'How do I turn prefix caching off for a benchmark?',
  'Will greedy answers change when caching is on?',
  'What should I watch on the dashboard during a load test?',
];

/** Replays a conversation turn by turn; each turn resends everything so far. */
async function replayChat(url: string, model: string, turns: number): Promise<PrefixFigure['chatReplay']> {
  const messages: Array<{ role: string; content: string }> = [{ role: 'system', content: SYSTEM.repeat(3) }];
  const promptTokens: number[] = [];
  const cachedTokens: number[] = [];
  for (let t = 0; t < turns; t++) {
    messages.push({ role: 'user', content: QUESTIONS[t % QUESTIONS.length]! });
    const r = await post(url, '/v1/chat/completions', { model, messages, max_tokens: 32, temperature: 0, ignore_eos: true });
    const usage = r.usage as Usage;
    promptTokens.push(usage.prompt_tokens);
    cachedTokens.push(usage.prompt_tokens_details?.cached_tokens ?? 0);
    const content = ((r.choices as Array<{ message: { content: string } }>)[0]!.message.content) || '(empty)';
    messages.push({ role: 'assistant', content });
  }
  const total = promptTokens.reduce((a, b) => a + b, 0);
  const computed = total - cachedTokens.reduce((a, b) => a + b, 0);
  return { turns, promptTokens, cachedTokens, computedShare: computed / total };
}

/** The section's two headline figures (medians / shares), for the targets. */
export function prefixHeadlines(f: PrefixFigure | undefined): { ttftRatio: number; ttftRounds: number[]; computedShare: number } {
  return { ttftRatio: f ? median(f.sharedPrefix.ratios) : NaN, ttftRounds: f?.sharedPrefix.ratios ?? [], computedShare: f?.chatReplay.computedShare ?? NaN };
}
