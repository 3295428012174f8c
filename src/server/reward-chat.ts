/**
 * NVIDIA-API-compatible reward answers: POST /v1/chat/completions naming a reward model, with a
 * conversation that ends in an assistant turn, answers a chat completion whose content is
 * `reward:<score>` (attribute heads: `helpfulness:<x>,correctness:<x>,…`) and whose logprobs list
 * `{token: "reward", logprob: <score>}` (one entry per attribute), as NVIDIA's hosted
 * Llama-3.1-Nemotron-70B-Reward answers, so clients written for it work unchanged.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Score } from '../scoring/readout.ts';
import type { TokenizerPool } from '../tokenizer/index.ts';
import { parseMessages } from './chat-request.ts';
import { ChatChunkBuilder, usageOf } from './chat-response.ts';
import type { RewardModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { newAnswer, SYSTEM_FINGERPRINT, tokenBytes } from './generation-service.ts';
import { tokenizeConversations } from './score-request.ts';
import { streamSse } from './sse.ts';
import { type Body, has, optBool } from './validate.ts';

/** The (name, value) pairs a reward answer reports. */
function rewardEntries(s: Score): Array<[string, number]> {
  return s.attributes ? Object.entries(s.attributes) : [['reward', s.score]];
}

/** `reward:<score>` or `helpfulness:<x>,correctness:<y>,…`. */
export function rewardContent(s: Score): string {
  return rewardEntries(s)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
}

/** Answers a chat completion request addressed to a reward model. */
export async function rewardChatCompletion(
  req: FastifyRequest,
  reply: FastifyReply,
  body: Body,
  model: RewardModel,
  maxMessages: number,
  pool?: TokenizerPool,
) {
  if (!has(body, 'messages')) throw invalidRequest(`Missing required parameter: 'messages'`, 'messages');
  const messages = parseMessages(body.messages, maxMessages);
  if (messages.at(-1)?.role !== 'assistant') {
    throw invalidRequest(
      `'${model.id}' is a reward model: 'messages' must end with the assistant turn to score`,
      'messages',
    );
  }
  const [ids] = await tokenizeConversations(model, [messages], 'messages', pool);
  const [score] = await model.scorer.score([ids!]);
  const content = rewardContent(score!);
  const logprobs = rewardEntries(score!).map(([token, logprob]) => ({ token, logprob, bytes: tokenBytes(token), top_logprobs: [] }));
  const { id, created } = newAnswer('chatcmpl');
  const usage = usageOf(ids!.length, logprobs.length);
  req.usage = { promptTokens: ids!.length, completionTokens: logprobs.length };
  if (optBool(body, 'stream', false)) {
    const chunks = new ChatChunkBuilder(id, model.id, created, false);
    return streamSse(req, reply, async (sink) => {
      await sink.send(chunks.role(0));
      const c = chunks.content(0, content, null) as { choices: Array<{ logprobs: unknown }> };
      c.choices[0]!.logprobs = { content: logprobs, refusal: null };
      await sink.send(c);
      await sink.send(chunks.finish(0, 'stop'));
    });
  }
  return {
    id,
    object: 'chat.completion',
    created,
    model: model.id,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, refusal: null },
        logprobs: { content: logprobs, refusal: null },
        finish_reason: 'stop',
      },
    ],
    usage,
  };
}
