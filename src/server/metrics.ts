/**
 * Every Prometheus metric of the server, created here and nowhere else. Names follow vLLM's
 * (`vllm:num_requests_running` → `nemotron_num_requests_running`, …) under this project's prefix, with a
 * `model_name` label, so dashboards built for vLLM map across. The runtime emits plain numbers (engine
 * hooks: onStep, onRequestDone; scorer hooks: onBatch, onScored); this module turns them into metrics.
 */
import client, { type Registry } from 'prom-client';
import type { RequestMetrics } from '../runtime/request-timing.ts';
import type { EngineStats, StepStats } from '../runtime/types.ts';
import type { PrefixCacheStats } from '../runtime/kv/prefix-cache.ts';
import type { ScoreRequestStats } from '../scoring/reward-engine.ts';
import type { ServedModel } from './deps.ts';

/** The prefix of every metric name. */
export const METRIC_PREFIX = 'nemotron_';

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const REQUEST_BUCKETS = [0.01, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
const STEP_BUCKETS = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096, 8192];
const REWARD_BUCKETS = [-50, -30, -20, -15, -10, -5, -2, -1, 0, 1, 2, 5, 10, 15, 20, 30, 50];

/** The server's metrics. */
export class Metrics {
  readonly registry: Registry;
  private readonly models: ServedModel[] = [];
  private readonly m;

  constructor(opts: { collectDefault?: boolean } = {}) {
    this.registry = new client.Registry();
    const r = [this.registry];
    const name = (n: string) => METRIC_PREFIX + n;
    const gauge = (n: string, help: string, collect: (g: client.Gauge<'model_name'>) => void) =>
      new client.Gauge({ name: name(n), help, labelNames: ['model_name'], registers: r, collect() { collect(this); } });
    const counter = <L extends string>(n: string, help: string, labels: L[]) =>
      new client.Counter<L>({ name: name(n), help, labelNames: labels, registers: r });
    const histogram = <L extends string>(n: string, help: string, buckets: number[], labels: L[]) =>
      new client.Histogram<L>({ name: name(n), help, buckets, labelNames: labels, registers: r });
    const engines = () => this.models.flatMap((s) => (s.task === 'generate' ? [[s.id, s.engine.stats()] as const] : []));
    const scorers = () => this.models.flatMap((s) => (s.task === 'reward' ? [[s.id, s.scorer.stats()] as const] : []));
    // Counters the runtime keeps itself (monotonic across worker restarts), exposed at each scrape.
    const collectedCounter = (n: string, help: string, read: () => Array<readonly [string, number | undefined]>) =>
      new client.Counter({
        name: name(n),
        help,
        labelNames: ['model_name'],
        registers: r,
        collect() {
          this.reset();
          for (const [id, v] of read()) if (v !== undefined) this.inc({ model_name: id }, v);
        },
      });
    const engineCounter = (n: string, help: string, read: (st: EngineStats) => number | undefined) =>
      collectedCounter(n, help, () => engines().map(([id, st]) => [id, read(st)] as const));
    const cacheGauge = (n: string, help: string, read: (c: PrefixCacheStats) => number) =>
      gauge(n, help, (g) => engines().forEach(([id, st]) => st.prefixCache && g.set({ model_name: id }, read(st.prefixCache))));
    this.m = {
      running: gauge('num_requests_running', 'Sequences generating now.', (g) => engines().forEach(([id, st]) => g.set({ model_name: id }, st.running))),
      waiting: gauge('num_requests_waiting', 'Requests accepted and waiting to start.', (g) => engines().forEach(([id, st]) => g.set({ model_name: id }, st.waiting))),
      kvUsage: gauge('kv_cache_usage_perc', 'KV cache usage, fraction of the KV budget (1 = full).', (g) => engines().forEach(([id, st]) => g.set({ model_name: id }, st.kvUsage))),
      prefixQueries: engineCounter('prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.', (st) => st.prefixCache?.queryTokens),
      prefixHits: engineCounter('prefix_cache_hits_total', 'Prompt tokens served from the prefix cache (not prefilled).', (st) => st.prefixCache?.hitTokens),
      prefixEvictions: engineCounter('prefix_cache_evictions_total', 'Prefix cache entries evicted to make room.', (st) => st.prefixCache?.evictions),
      scoreShared: collectedCounter(
        'score_shared_prompt_tokens_total',
        'Prompt tokens the reward model did not recompute: responses scored from one prefill of their shared prompt.',
        () => scorers().map(([id, st]) => [id, st.sharedTokens ?? 0] as const),
      ),
      prefixTokens: cacheGauge('prefix_cache_tokens', 'KV token slots held by the prefix cache (evictable).', (c) => c.cachedTokens),
      prefixEntries: cacheGauge('prefix_cache_entries', 'Cached sequences (entries) in the prefix cache.', (c) => c.entries),
      promptTokens: counter('prompt_tokens_total', 'Prompt tokens processed.', ['model_name']),
      generationTokens: counter('generation_tokens_total', 'Tokens generated.', ['model_name']),
      success: counter('request_success_total', 'Finished sequences by finish reason.', ['model_name', 'finished_reason']),
      ttft: histogram('time_to_first_token_seconds', 'Time to first token.', LATENCY_BUCKETS, ['model_name']),
      itl: histogram('inter_token_latency_seconds', 'Time between consecutive tokens of a sequence.', LATENCY_BUCKETS, ['model_name']),
      e2e: histogram('e2e_request_latency_seconds', 'End-to-end request latency.', REQUEST_BUCKETS, ['model_name']),
      queue: histogram('request_queue_time_seconds', 'Time a request waited before its prefill began.', REQUEST_BUCKETS, ['model_name']),
      promptLen: histogram('request_prompt_tokens', 'Prompt length per request, tokens.', TOKEN_BUCKETS, ['model_name']),
      genLen: histogram('request_generation_tokens', 'Generated tokens per request.', TOKEN_BUCKETS, ['model_name']),
      stepTokens: histogram('iteration_tokens', 'Tokens per engine step (decode rows + prefill chunk).', STEP_BUCKETS, ['model_name']),
      scoreRequests: counter('score_requests_total', 'Reward score requests completed.', ['model_name']),
      scoredItems: counter('scored_items_total', 'Conversations scored by the reward model.', ['model_name']),
      scoreLatency: histogram('score_latency_seconds', 'Latency of a score request.', REQUEST_BUCKETS, ['model_name']),
      rewardScores: histogram('reward_score', 'Reward scores returned.', REWARD_BUCKETS, ['model_name']),
      bestOf: counter('best_of_candidates_total', 'Candidates generated for best_of requests.', ['model_name']),
      http: counter('http_requests_total', 'HTTP requests by route, method and status.', ['route', 'method', 'status']),
      httpDuration: histogram('http_request_duration_seconds', 'HTTP request duration.', REQUEST_BUCKETS, ['route', 'method']),
    };
    if (opts.collectDefault !== false) {
      client.collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      // prom-client names these gauges *_total, which Prometheus reserves for counters (promtool rejects it).
      for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(METRIC_PREFIX + n);
      }
    }
  }

  /** Starts reporting a served model (hooks its engine or scorer). */
  attach(model: ServedModel): void {
    this.models.push(model);
    const label = { model_name: model.id };
    if (model.task === 'generate') {
      model.engine.onStep = (s: StepStats) => this.m.stepTokens.observe(label, s.decodeRows + s.prefillTokens);
      model.engine.onRequestDone = (r: RequestMetrics) => this.requestDone(model.id, r);
    } else {
      model.scorer.onScored = (r: ScoreRequestStats) => this.scored(model.id, r);
    }
  }

  private requestDone(id: string, r: RequestMetrics): void {
    const label = { model_name: id };
    this.m.promptTokens.inc(label, r.promptTokens);
    this.m.generationTokens.inc(label, r.completionTokens);
    for (const reason of r.finishReasons) this.m.success.inc({ ...label, finished_reason: reason });
    if (r.ttftSeconds !== null) this.m.ttft.observe(label, r.ttftSeconds);
    for (const g of r.interTokenSeconds) this.m.itl.observe(label, g);
    this.m.e2e.observe(label, r.e2eSeconds);
    this.m.queue.observe(label, r.queueSeconds);
    this.m.promptLen.observe(label, r.promptTokens);
    this.m.genLen.observe(label, r.completionTokens);
  }

  private scored(id: string, r: ScoreRequestStats): void {
    const label = { model_name: id };
    this.m.scoreRequests.inc(label);
    this.m.scoredItems.inc(label, r.items);
    this.m.scoreLatency.observe(label, r.seconds);
    for (const s of r.scores) this.m.rewardScores.observe(label, s);
  }

  /** best_of generated `k` candidates on model `id`. */
  bestOf(id: string, k: number): void {
    this.m.bestOf.inc({ model_name: id }, k);
  }

  /** One HTTP request finished. */
  http(route: string, method: string, status: number, seconds: number): void {
    this.m.http.inc({ route, method, status: String(status) });
    this.m.httpDuration.observe({ route, method }, seconds);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
