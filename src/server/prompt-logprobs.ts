/**
 * Prompt logprobs on the wire, for any endpoint that asks the engine for them (GenerationRequest
 * `promptLogprobs`): the request field, the two answer formats, and reading them off an event stream.
 *
 * - OpenAI's legacy completions with `echo` and `logprobs`: the prompt's tokens lead `tokens`,
 *   `token_logprobs` (the first one null: it has no context) and `top_logprobs` (null first; then the
 *   alternatives with the prompt token itself added, OpenAI's "up to logprobs + 1 entries"), and
 *   `text_offset` indexes the echoed text. The BOS token is listed as a token but never shown as text, so
 *   its offset is 0 and it takes no room.
 * - vLLM's `prompt_logprobs: k`: per choice, a list with null first, then for each prompt token a map
 *   token id → {logprob, rank, decoded_token} holding the token itself and its k most likely alternatives.
 *
 * The engine attaches a request's prompt logprobs once, to choice 0's first token or end event;
 * {@link awaitPromptLogprobs} reads ahead to it (so a refusal is still a real HTTP status before SSE
 * headers) and hands back a stream that replays what it read.
 */
import type { GenerationEvent, PromptLogprobs, PromptTokenLogprob } from '../runtime/types.ts';
import { finiteLogprob } from './chat-response.ts';
import { engineEventError } from './generation-service.ts';
import { type Body, maybeNumber } from './validate.ts';

/** Most alternatives per prompt position (as for `logprobs`). */
export const MAX_PROMPT_LOGPROBS = 20;

/** vLLM's `prompt_logprobs` field: alternatives per prompt token (0..20), or undefined when absent or null. */
export function parsePromptLogprobs(body: Body): number | undefined {
  return maybeNumber(body, 'prompt_logprobs', { integer: true, min: 0, max: MAX_PROMPT_LOGPROBS });
}

/** One prompt position in vLLM's format. */
export type VllmPromptLogprob = Record<string, { logprob: number; rank: number; decoded_token: string }>;

/** vLLM's `prompt_logprobs` of one choice. */
export function vllmPromptLogprobs(lp: PromptLogprobs): Array<VllmPromptLogprob | null> {
  return lp.map((e) => {
    if (!e) return null;
    const out: VllmPromptLogprob = {};
    e.top.forEach((t, i) => (out[String(t.tokenId)] = { logprob: finiteLogprob(t.logprob), rank: i + 1, decoded_token: t.token ?? '' }));
    out[String(e.tokenId)] = { logprob: finiteLogprob(e.logprob), rank: e.rank, decoded_token: e.token };
    return out;
  });
}

/** The legacy completions logprobs of an echoed prompt (see the module comment). */
export interface LegacyPromptLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

/**
 * The legacy arrays for a prompt; `firstToken` is the first prompt token's text (the engine gives none
 * for position 0), `bosTokenId` the token never shown as text, `text` the echoed prompt. Offsets count
 * the shown tokens' texts; when those spell the text with something more in front (a SentencePiece
 * tokenizer's leading space, which decoding drops), they are shifted back by it (clamped at 0).
 */
export function legacyPromptLogprobs(
  lp: PromptLogprobs,
  promptIds: readonly number[],
  firstToken: string,
  text: string,
  bosTokenId?: number,
): LegacyPromptLogprobs {
  const tokens = lp.map((e) => (e ? e.token : firstToken));
  const shown = tokens.filter((_, i) => promptIds[i] !== bosTokenId).join('');
  let offset = shown.length > text.length && shown.endsWith(text) ? text.length - shown.length : 0;
  const out: LegacyPromptLogprobs = { tokens, token_logprobs: [], top_logprobs: [], text_offset: [] };
  lp.forEach((e: PromptTokenLogprob | null, i) => {
    out.token_logprobs.push(e ? finiteLogprob(e.logprob) : null);
    out.top_logprobs.push(e ? Object.fromEntries([...e.top.map((t) => [t.token ?? '', finiteLogprob(t.logprob)] as const), [e.token, finiteLogprob(e.logprob)]]) : null);
    out.text_offset.push(Math.max(0, offset));
    if (promptIds[i] !== bosTokenId) offset += tokens[i]!.length;
  });
  return out;
}

/** A stream that yields `read` first, then the rest of `iterator` (returning it when left early). */
async function* replay(read: GenerationEvent[], iterator: AsyncIterator<GenerationEvent>): AsyncIterable<GenerationEvent> {
  try {
    yield* read;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
  } finally {
    await iterator.return?.();
  }
}

/**
 * Reads `events` up to the event carrying the prompt logprobs; returns them with a stream that replays
 * everything. An error event on the way throws its API error (a 400 for a model that cannot give them);
 * a stream that ends without them (aborted) gives undefined.
 */
export async function awaitPromptLogprobs(
  events: AsyncIterable<GenerationEvent>,
): Promise<{ events: AsyncIterable<GenerationEvent>; promptLogprobs: PromptLogprobs | undefined }> {
  const iterator = events[Symbol.asyncIterator]();
  const read: GenerationEvent[] = [];
  try {
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      const e = r.value;
      if (e.type === 'error') throw engineEventError(e);
      read.push(e);
      if (e.promptLogprobs) return { events: replay(read, iterator), promptLogprobs: e.promptLogprobs };
    }
  } catch (err) {
    await iterator.return?.();
    throw err;
  }
  return { events: replay(read, iterator), promptLogprobs: undefined };
}
