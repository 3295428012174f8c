/**
 * best_of in chat completions: k candidates generated from one shared prompt prefill (the engine's
 * n = k), scored together by the reward model in batched passes, and the n best returned, best first,
 * each choice carrying its `reward`. Without a reward model the candidates are ranked by mean token
 * logprob, and the answer says so in `ranked_by`. Usage counts all k completions.
 *
 * With `stream: true` nothing can be sent before the ranking, so the winners are streamed once ranking
 * is done: role, the whole text in one content chunk, the finish chunk (carrying `reward`), then usage.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rankScores } from '../scoring/ranking.ts';
import type { TokenizerPool } from '../tokenizer/index.ts';
import { parseChatRequest, type ChatRequest } from './chat-request.ts';
import { ChatChunkBuilder, chatCompletion } from './chat-response.ts';
import type { AppDeps, RewardModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { collectGeneration, connectionSignal, newAnswer, timeoutError, type ChoiceResult } from './generation-service.ts';
import { findModel } from './registry.ts';
import { tokenizeConversations } from './score-request.ts';
import { streamSse } from './sse.ts';
import { type Body, checkNumber, optString } from './validate.ts';

/** The reward model best_of ranks with: `reward_model` if named, else the only one served, else none. */
function rankingModel(body: Body, deps: AppDeps): RewardModel | undefined {
  const named = optString(body, 'reward_model');
  if (named !== undefined) return findModel(deps, named, 'reward');
  const rewards = deps.models.filter((m): m is RewardModel => m.task === 'reward');
  return rewards.length === 1 ? rewards[0] : undefined;
}

interface RankedChoice extends ChoiceResult {
  value: number;
}

/** Scores and orders the candidates; returns them best first with the value they were ranked by. */
async function rank(
  chat: ChatRequest,
  candidates: ChoiceResult[],
  reward: RewardModel | undefined,
  signal: AbortSignal,
  pool: TokenizerPool | undefined,
): Promise<RankedChoice[]> {
  let values: number[];
  if (reward) {
    const convs = candidates.map((c) => [...chat.messages, { role: 'assistant', content: c.text }]);
    const items = await tokenizeConversations(reward, convs, 'best_of', pool);
    values = (await reward.scorer.score(items, signal)).map((s) => s.score);
  } else {
    values = candidates.map((c) => (c.completionTokens > 0 ? c.cumulativeLogprob / c.completionTokens : -Infinity));
  }
  return rankScores(values).map((r) => ({ ...candidates[r.index]!, value: r.score }));
}

/** Handles a chat completion with `best_of`. */
export async function bestOfCompletion(req: FastifyRequest, reply: FastifyReply, body: Body, deps: AppDeps) {
  const chat = await parseChatRequest(body, deps);
  const n = chat.generation.n;
  const k = checkNumber(body.best_of, 'best_of', { integer: true, min: 1, max: deps.limits.maxBestOf });
  if (k < n) throw invalidRequest(`'best_of' (${k}) must be at least 'n' (${n})`, 'best_of');
  const reward = rankingModel(body, deps);
  const promptLen = chat.generation.promptTokenIds.length;
  if (reward && promptLen + chat.generation.maxTokens > reward.maxScoreTokens) {
    throw invalidRequest(
      `best_of ranks by the reward model '${reward.id}', which accepts ${reward.maxScoreTokens} tokens, but the prompt ` +
        `(${promptLen} tokens) plus max_tokens (${chat.generation.maxTokens}) may reach ${promptLen + chat.generation.maxTokens}`,
      'max_tokens',
      'context_length_exceeded',
    );
  }
  const generation = { ...chat.generation, n: k, cumulativeLogprob: true };
  deps.metrics?.bestOf(chat.model.id, k);
  const { signal, timedOut } = connectionSignal(reply, deps.limits.requestTimeoutMs);
  const events = chat.model.engine.generate(generation, signal);
  const result = await collectGeneration(events, generation).catch((err: unknown) => {
    throw timedOut() ? timeoutError(deps.limits.requestTimeoutMs) : err;
  });
  const winners = (await rank(chat, result.choices, reward, signal, deps.tokenizerPool)).slice(0, n).map((c, index) => ({ ...c, index }));
  const rankedBy = reward ? 'reward' : 'mean_logprob';
  const valueKey = reward ? 'reward' : 'mean_logprob';
  req.usage = { promptTokens: result.promptTokens, completionTokens: result.completionTokens, cachedTokens: result.cachedTokens };
  const { id, created } = newAnswer('chatcmpl');
  if (chat.stream) return streamWinners(req, reply, chat, winners, { id, created, valueKey, rankedBy, k, reward, usage: result });
  const answer = chatCompletion(id, chat.model.id, created, { ...result, choices: winners }, chat.logprobs, chat.toolNames, chat.maxToolCalls);
  return {
    ...answer,
    choices: answer.choices.map((c, i) => ({ ...c, [valueKey]: winners[i]!.value })),
    best_of: k,
    ranked_by: rankedBy,
    ...(reward ? { reward_model: reward.id } : {}),
  };
}

interface StreamInfo {
  id: string;
  created: number;
  valueKey: string;
  rankedBy: string;
  k: number;
  reward?: RewardModel;
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number };
}

/** Streams the ranked winners through the one SSE path (error frame then `[DONE]` after the headers). */
function streamWinners(req: FastifyRequest, reply: FastifyReply, chat: ChatRequest, winners: RankedChoice[], info: StreamInfo) {
  const chunks = new ChatChunkBuilder(info.id, chat.model.id, info.created, chat.includeUsage);
  return streamSse(req, reply, async (sink) => {
    for (const c of winners) {
      await sink.send(chunks.role(c.index));
      await sink.send(chunks.content(c.index, c.text, chat.logprobs ? c.tokens : null));
      const fin = chunks.finish(c.index, c.finishReason === 'length' ? 'length' : 'stop') as { choices: Array<Record<string, unknown>> };
      fin.choices[0]![info.valueKey] = c.value;
      Object.assign(fin, { best_of: info.k, ranked_by: info.rankedBy, ...(info.reward ? { reward_model: info.reward.id } : {}) });
      await sink.send(fin);
    }
    if (chat.includeUsage) await sink.send(chunks.usage(info.usage.promptTokens, info.usage.completionTokens, info.usage.cachedTokens));
  });
}
