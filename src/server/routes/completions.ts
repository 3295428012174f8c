import type { FastifyInstance } from 'fastify';
import type { GenerationEvent } from '../../runtime/types.ts';
import type { AppDeps } from '../deps.ts';
import { parseCompletionRequest } from '../completion-request.ts';
import { completionChunks, mergeGenerations, textCompletion } from '../completion-response.ts';
import { collectGeneration, connectionSignal, newAnswer, timeoutError } from '../generation-service.ts';
import { streamGeneration } from '../streaming.ts';
import { asBody } from '../validate.ts';

/** POST /v1/completions (legacy text completions, several prompts per request allowed). */
export function registerCompletionRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/completions', async (req, reply) => {
    const c = await parseCompletionRequest(asBody(req.body), deps);
    const { signal, timedOut } = connectionSignal(reply, deps.limits.requestTimeoutMs);
    const streams: AsyncIterable<GenerationEvent>[] = [];
    const local = new AbortController();
    signal.addEventListener('abort', () => local.abort(), { once: true });
    try {
      for (const g of c.generations) streams.push(c.model.engine.generate(g, local.signal));
    } catch (err) {
      local.abort(); // one prompt refused (overloaded): stop the ones already started
      throw err;
    }
    const n = c.generations[0]!.n;
    const promptTokens = c.generations.reduce((a, g) => a + g.promptTokenIds.length, 0);
    const { id, created } = newAnswer('cmpl');
    const echo = (index: number) => (c.echo ? c.promptTexts[Math.floor(index / n)]! : '');
    if (c.stream) {
      return streamGeneration({
        req,
        reply,
        events: mergeGenerations(streams, n),
        choices: n * streams.length,
        choicesPerPrompt: n,
        promptTokens,
        shapes: completionChunks(id, c.model.id, created, c.includeUsage, echo),
        includeUsage: c.includeUsage,
        logprobs: c.logprobs,
        timedOut,
        timeoutMs: deps.limits.requestTimeoutMs,
      });
    }
    const results = await Promise.all(streams.map((s, i) => collectGeneration(s, c.generations[i]!))).catch((err: unknown) => {
      local.abort();
      throw timedOut() ? timeoutError(deps.limits.requestTimeoutMs) : err;
    });
    const choices = results.flatMap((r, p) => r.choices.map((ch) => ({ ...ch, index: p * n + ch.index, prefix: echo(p * n) })));
    const cachedTokens = results.reduce((a, r) => a + r.cachedTokens, 0);
    req.usage = { promptTokens, completionTokens: choices.reduce((a, ch) => a + ch.completionTokens, 0), cachedTokens };
    return textCompletion(id, c.model.id, created, choices, promptTokens, c.logprobs, cachedTokens);
  });
}
