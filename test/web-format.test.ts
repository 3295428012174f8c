/**
 * The page's pure helpers (src/web/js/format.js, plain browser JavaScript without DOM use) read the
 * server the way the server means it: its ranking and win probabilities equal src/scoring/ranking.ts's
 * on the same numbers, and its Prometheus reader finds the strip's figures in a real /metrics render.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import fc from 'fast-check';
import { rankScores } from '../src/scoring/ranking.ts';
import { Metrics } from '../src/server/metrics.ts';
import type { RequestMetrics } from '../src/runtime/request-timing.ts';
import type { EngineStats } from '../src/runtime/types.ts';
import type { GenerateModel } from '../src/server/deps.ts';
import { WEB_ROOT } from '../src/server/routes/web.ts';

interface Format {
  fixed3(x: unknown): string;
  rankValues(values: number[]): Array<{ index: number; value: number; rank: number; winProbability?: number }>;
  meanLogprob(content: unknown): number;
  parsePrometheus(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>>;
  sumOf(metrics: Map<string, unknown>, name: string): number;
  maxOf(metrics: Map<string, unknown>, name: string): number | undefined;
}

// A runtime import: the module is the browser's, with no type declarations for this project's tsc.
const format = (await import(pathToFileURL(join(WEB_ROOT, 'js', 'format.js')).href)) as Format;

describe("the page's format helpers", () => {
  test('rankValues is the server’s rankScores: same order, ranks and win probabilities (ties included)', () => {
    const score = fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.constantFrom(0, 1.5, -2));
    fc.assert(
      fc.property(fc.array(score, { minLength: 1, maxLength: 12 }), (values) => {
        const page = format.rankValues(values);
        const server = rankScores(values);
        assert.deepEqual(
          page.map((r) => [r.index, r.rank, r.winProbability]),
          server.map((r) => [r.index, r.rank, r.winProbability]),
        );
      }),
    );
  });

  test('an empty answer’s mean logprob (-Infinity) ranks last', () => {
    assert.deepEqual(format.rankValues([-Infinity, -2, -1]).map((r) => r.index), [2, 1, 0]);
    assert.equal(format.meanLogprob([]), -Infinity);
    assert.equal(format.meanLogprob([{ logprob: -1 }, { logprob: -2 }]), -1.5);
  });

  test('fixed3 shows 3 decimals, and a dash for what is not a finite number', () => {
    assert.equal(format.fixed3(1.23456), '1.235');
    assert.equal(format.fixed3(-0.5), '-0.500');
    for (const x of [undefined, null, NaN, Infinity, '1']) assert.equal(format.fixed3(x), '—');
  });

  test('parsePrometheus reads the strip’s figures from a real /metrics render', async () => {
    const stats = { running: 3, waiting: 2, kvUsage: 0.25 } as EngineStats;
    const model = { id: 'chat-a', task: 'generate', engine: { stats: () => stats, generate: () => [] } } as unknown as GenerateModel;
    const metrics = new Metrics({ collectDefault: false });
    metrics.attach(model);
    const done: RequestMetrics = {
      promptTokens: 5, completionTokens: 7, finishReasons: ['length'], ttftSeconds: 0.1, interTokenSeconds: [], e2eSeconds: 1, queueSeconds: 0,
    };
    model.engine.onRequestDone?.(done);
    const parsed = format.parsePrometheus(await metrics.render());
    assert.equal(format.sumOf(parsed, 'nemotron_num_requests_running'), 3);
    assert.equal(format.sumOf(parsed, 'nemotron_num_requests_waiting'), 2);
    assert.equal(format.maxOf(parsed, 'nemotron_kv_cache_usage_perc'), 0.25);
    assert.equal(format.sumOf(parsed, 'nemotron_generation_tokens_total'), 7);
    assert.deepEqual(parsed.get('nemotron_num_requests_running')![0]!.labels, { model_name: 'chat-a' });
    assert.equal(format.maxOf(parsed, 'nemotron_not_a_metric'), undefined);
  });
});
