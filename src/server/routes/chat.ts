import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../deps.ts';
import { modelNamed } from '../registry.ts';
import { awaitPromptLogprobs, vllmPromptLogprobs } from '../prompt-logprobs.ts';
import type { PromptLogprobs } from '../../runtime/types.ts';
import { parseChatRequest } from '../chat-request.ts';
import { ChatChunkBuilder, chatCompletion, toolCallChunks } from '../chat-response.ts';
import { collectGeneration, connectionSignal, newAnswer, timeoutError } from '../generation-service.ts';
import { streamGeneration } from '../streaming.ts';
import { asBody, has } from '../validate.ts';
import { bestOfCompletion } from '../best-of.ts';
import { rewardChatCompletion } from '../reward-chat.ts';

/** POST /v1/chat/completions. Validation and template rendering happen before any SSE header. */
export function registerChatRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/chat/completions', async (req, reply) => {
    const body = asBody(req.body);
    // A reward model named here answers NVIDIA-API-style: the score of the conversation's last turn.
    const named = typeof body.model === 'string' ? modelNamed(deps.models, body.model) : undefined;
    if (named?.task === 'reward') return rewardChatCompletion(req, reply, body, named, deps.limits.maxMessages, deps.tokenizerPool);
    if (has(body, 'best_of')) return bestOfCompletion(req, reply, body, deps);
    const chat = await parseChatRequest(body, deps);
    const { signal, timedOut } = connectionSignal(reply, deps.limits.requestTimeoutMs);
    // The engine refuses an overloaded request here, before anything is sent: a real 429.
    let events = chat.model.engine.generate(chat.generation, signal);
    const { id, created } = newAnswer('chatcmpl');
    if (chat.stream) {
      const shapes = new ChatChunkBuilder(id, chat.model.id, created, chat.includeUsage);
      const tools = chat.toolNames ? toolCallChunks(shapes, chat.toolNames, chat.maxToolCalls) : undefined;
      return streamGeneration({
        req,
        reply,
        events,
        choices: chat.generation.n,
        promptTokens: chat.generation.promptTokenIds.length,
        shapes: {
          open: (i) => shapes.role(i),
          content: (i, text, tokens) => (tools ? tools.content(i, text, tokens) : shapes.content(i, text, tokens)),
          finish: (i, r) => (tools ? tools.finish(i, r) : shapes.finish(i, r)),
          usage: (p, c, cached) => shapes.usage(p, c, cached),
        },
        includeUsage: chat.includeUsage,
        logprobs: chat.logprobs,
        timedOut,
        timeoutMs: deps.limits.requestTimeoutMs,
      });
    }
    const fail = (err: unknown): never => {
      throw timedOut() ? timeoutError(deps.limits.requestTimeoutMs) : err;
    };
    // Prompt logprobs come before any generated token: read ahead to them, so a refusal is a real 400.
    let promptLogprobs: PromptLogprobs | undefined;
    if (chat.generation.promptLogprobs !== undefined) ({ events, promptLogprobs } = await awaitPromptLogprobs(events).catch(fail));
    const result = await collectGeneration(events, chat.generation).catch(fail);
    req.usage = { promptTokens: result.promptTokens, completionTokens: result.completionTokens, cachedTokens: result.cachedTokens };
    const answer = chatCompletion(id, chat.model.id, created, result, chat.logprobs, chat.toolNames, chat.maxToolCalls);
    return promptLogprobs ? { ...answer, prompt_logprobs: vllmPromptLogprobs(promptLogprobs) } : answer;
  });
}
