import type { FastifyInstance } from 'fastify';
import type { GenerationEvent, PromptLogprobs } from '../../runtime/types.ts';
import type { AppDeps } from '../deps.ts';
import { parseCompletionRequest, type CompletionRequest } from '../completion-request.ts';
import { completionChunks, mergeGenerations, textCompletion, type ChoicePrompt } from '../completion-response.ts';
import { invalidRequest, toApiError } from '../errors.ts';
import { collectGeneration, connectionSignal, newAnswer, timeoutError } from '../generation-service.ts';
import { awaitPromptLogprobs, legacyPromptLogprobs, vllmPromptLogprobs } from '../prompt-logprobs.ts';
import { streamGeneration } from '../streaming.ts';
import { asBody } from '../validate.ts';

/** POST /v1/completions (legacy text completions, several prompts per request allowed). */
export function registerCompletionRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/completions', async (req, reply) => {
    const c = await parseCompletionRequest(asBody(req.body), deps);
    const { signal, timedOut } = connectionSignal(reply, deps.limits.requestTimeoutMs);
    let streams: AsyncIterable<GenerationEvent>[] = [];
    const local = new AbortController();
    signal.addEventListener('abort', () => local.abort(), { once: true });
    const fail = (err: unknown): never => {
      local.abort(); // one prompt refused or failed: stop the ones already started
      throw timedOut() ? timeoutError(deps.limits.requestTimeoutMs) : promptLogprobsError(err, c);
    };
    try {
      for (const g of c.generations) streams.push(c.model.engine.generate(g, local.signal));
    } catch (err) {
      fail(err);
    }
    // Prompt logprobs come before any generated token: read ahead to them, so a refusal is a real status.
    let promptLogprobs: Array<PromptLogprobs | undefined> = [];
    if (c.promptLogprobsField) {
      const read = await Promise.all(streams.map((s) => awaitPromptLogprobs(s))).catch(fail);
      streams = read.map((r) => r.events);
      promptLogprobs = read.map((r) => r.promptLogprobs);
    }
    const n = c.generations[0]!.n;
    const promptTokens = c.generations.reduce((a, g) => a + g.promptTokenIds.length, 0);
    const { id, created } = newAnswer('cmpl');
    const starts = c.generations.map((_, p) => choicePrompt(c, p, promptLogprobs[p]));
    const start = (index: number) => starts[Math.floor(index / n)]!;
    if (c.stream) {
      return streamGeneration({
        req,
        reply,
        events: mergeGenerations(streams, n),
        choices: n * streams.length,
        choicesPerPrompt: n,
        promptTokens,
        shapes: completionChunks(id, c.model.id, created, c.includeUsage, start),
        includeUsage: c.includeUsage,
        logprobs: c.logprobs,
        timedOut,
        timeoutMs: deps.limits.requestTimeoutMs,
      });
    }
    const results = await Promise.all(streams.map((s, i) => collectGeneration(s, c.generations[i]!))).catch(fail);
    const choices = results.flatMap((r, p) => r.choices.map((ch) => ({ ...ch, index: p * n + ch.index, ...start(p * n) })));
    const cachedTokens = results.reduce((a, r) => a + r.cachedTokens, 0);
    req.usage = { promptTokens, completionTokens: choices.reduce((a, ch) => a + ch.completionTokens, 0), cachedTokens };
    return textCompletion(id, c.model.id, created, choices, promptTokens, c.logprobs, cachedTokens);
  });
}

/** What prompt `p`'s choices start with: its echo, and its prompt logprobs in the formats asked for. */
function choicePrompt(c: CompletionRequest, p: number, lp: PromptLogprobs | undefined): ChoicePrompt {
  const prefix = c.echo ? c.promptTexts[p]! : '';
  if (!lp) return { prefix };
  const ids = c.generations[p]!.promptTokenIds;
  const tokenizer = c.model.tokenizer;
  const first = tokenizer.decode(ids.slice(0, 1), { skipSpecialTokens: false });
  return {
    prefix,
    promptLogprobs: c.echoLogprobs ? legacyPromptLogprobs(lp, ids, first, prefix, tokenizer.bosTokenId) : undefined,
    vllmPromptLogprobs: c.vllmPromptLogprobs ? vllmPromptLogprobs(lp) : undefined,
  };
}

/** A model's refusal of prompt logprobs names the field this request used (`logprobs` with echo, or `prompt_logprobs`). */
function promptLogprobsError(err: unknown, c: CompletionRequest): unknown {
  const api = toApiError(err);
  if (api.param !== 'prompt_logprobs' || !c.promptLogprobsField || api.status !== 400) return err;
  return invalidRequest(api.message, c.promptLogprobsField, api.code);
}
