import type { FastifyInstance } from 'fastify';
import { rankScores } from '../../scoring/ranking.ts';
import type { AppDeps } from '../deps.ts';
import { connectionSignal, newAnswer, responseId } from '../generation-service.ts';
import { parseRerankRequest, parseScoreRequest } from '../score-request.ts';
import { asBody } from '../validate.ts';

const usage = (items: number[][]) => {
  const tokens = items.reduce((a, i) => a + i.length, 0);
  return { prompt_tokens: tokens, total_tokens: tokens };
};

/** POST /v1/score and POST /v1/rerank: reward scores of conversations that end with an assistant turn. */
export function registerScoreRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/score', async (req, reply) => {
    const job = await parseScoreRequest(asBody(req.body), deps);
    const scores = await job.model.scorer.score(job.items, connectionSignal(reply, 0).signal);
    const ranks = job.form === 'candidates' ? rankScores(scores.map((s) => s.score)) : undefined;
    req.usage = { promptTokens: usage(job.items).prompt_tokens, completionTokens: 0 };
    const { id, created } = newAnswer('score');
    return {
      id,
      object: 'list',
      created,
      model: job.model.id,
      data: scores.map((s, index) => {
        const r = ranks?.find((x) => x.index === index);
        return {
          object: 'score',
          index,
          score: s.score,
          ...(s.attributes ? { attributes: s.attributes } : {}),
          ...(r ? { rank: r.rank, win_probability: r.winProbability ?? null } : {}),
        };
      }),
      usage: usage(job.items),
    };
  });

  app.post('/v1/rerank', async (req, reply) => {
    const job = await parseRerankRequest(asBody(req.body), deps);
    const scores = await job.model.scorer.score(job.items, connectionSignal(reply, 0).signal);
    const ranked = rankScores(scores.map((s) => s.score)).slice(0, job.topN);
    req.usage = { promptTokens: usage(job.items).prompt_tokens, completionTokens: 0 };
    return {
      id: responseId('rerank'),
      model: job.model.id,
      results: ranked.map((r) => ({
        index: r.index,
        relevance_score: r.score,
        ...(job.returnDocuments ? { document: { text: job.documents[r.index] } } : {}),
      })),
      usage: { total_tokens: usage(job.items).total_tokens },
    };
  });
}
