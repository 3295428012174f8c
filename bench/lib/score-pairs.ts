/**
 * The reward-scoring workload shared by `npm run bench:score` (bench/score.ts) and the scoring section of
 * `npm run bench` (score-section.ts): deterministic prompts with two replies each, tokenized as /v1/score
 * renders them, and a small pool runner that keeps N requests in flight.
 */
import type { ChatMessage, TextTokenizer } from '../../src/tokenizer/index.ts';

const WORDS = (
  'the model reads a prompt and two replies then scores each one a higher score means a better answer ' +
  'batching shares forward passes between requests so the weights are read once for many rows while a ' +
  'single request pays the whole cost alone every time it runs on the processor'
).split(' ');

/** `words` words of filler text, the same for the same seed. */
export function fillerText(words: number, seed: number): string {
  return Array.from({ length: words }, (_, k) => WORDS[(seed * 31 + k * 7 + ((k * k) % 11)) % WORDS.length]).join(' ');
}

/** One prompt with a chosen and a rejected reply: two conversations to score. */
export interface Pair {
  prompt: string;
  replies: [string, string];
  /** Tokenized conversations [prompt + chosen, prompt + rejected], as /v1/score renders them. */
  items: [number[], number[]];
  promptTokens: number;
}

/** Word counts of prompts and replies, cycled through the pairs. */
export interface LengthProfile {
  prompt: number[];
  reply: number[];
}

/** The length profiles, by name. */
export const PROFILES: Record<string, LengthProfile> = {
  // Short chat turns, like data/reward-sample.jsonl: ~45-75 tokens per templated conversation.
  short: { prompt: [4, 8, 12], reply: [3, 10, 20] },
  // Longer ones: ~65-215 tokens.
  medium: { prompt: [16, 48, 96], reply: [12, 40, 80] },
  // ~250-550 tokens.
  long: { prompt: [120, 200, 300], reply: [100, 160, 240] },
};

/** `n` deterministic pairs of one length profile. */
export function makePairs(tok: TextTokenizer, n: number, profile: LengthProfile): Pair[] {
  const { prompt: pw, reply: rw } = profile;
  return Array.from({ length: n }, (_, i) => {
    const prompt = fillerText(pw[i % pw.length]!, i);
    const replies: [string, string] = [fillerText(rw[i % rw.length]!, i + 1), fillerText(rw[(i + 1) % rw.length]!, i + 2)];
    const conv = (r: string): ChatMessage[] => [{ role: 'user', content: prompt }, { role: 'assistant', content: r }];
    const items: [number[], number[]] = [tok.encodeChat(conv(replies[0]), { addGenerationPrompt: false }), tok.encodeChat(conv(replies[1]), { addGenerationPrompt: false })];
    return { prompt, replies, items, promptTokens: tok.encodeChat([{ role: 'user', content: prompt }], { addGenerationPrompt: false }).length };
  });
}

/** Runs `each` over the pairs with `c` in flight at once. */
export async function pool<T>(pairs: readonly T[], c: number, each: (p: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(c, pairs.length) }, async () => {
      while (next < pairs.length) await each(pairs[next++]!);
    }),
  );
}
