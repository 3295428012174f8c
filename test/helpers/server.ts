import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename } from 'node:path';
import OpenAI from 'openai';
import { Engine } from '../../src/runtime/engine.ts';
import { RewardEngine } from '../../src/scoring/reward-engine.ts';
import type { ScoreBatcherLimits } from '../../src/scoring/score-batcher.ts';
import type { WorkerLimits } from '../../src/runtime/limits.ts';
import { buildApp } from '../../src/server/app.ts';
import { Metrics } from '../../src/server/metrics.ts';
import { readGenerationDefaults, type GenerationConfigMode } from '../../src/server/generation-defaults.ts';
import { DEFAULT_SERVER_LIMITS, type ServedModel, type ServerLimits } from '../../src/server/deps.ts';
import { loadTokenizer, TokenizerPool } from '../../src/tokenizer/index.ts';

/** A real server on an ephemeral loopback port, with real engines. */
export interface TestServer {
  url: string;
  models: ServedModel[];
  engines: Engine[];
  scorers: RewardEngine[];
  metrics: Metrics;
  client(opts?: { apiKey?: string; maxRetries?: number }): OpenAI;
  /** The token ids POST /tokenize gives for `body` (a prompt, or messages with add_generation_prompt). */
  tokenize(body: Record<string, unknown>): Promise<number[]>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  chat: string;
  reward?: string;
  /** The reward model's longest conversation (default its context length). */
  rewardMaxTokens?: number;
  scoreLimits?: Partial<ScoreBatcherLimits>;
  limits?: Partial<ServerLimits>;
  engineLimits?: Partial<WorkerLimits>;
  maxNumQueuedReqs?: number;
  /** Request defaults from the chat model's generation_config.json, as main.ts reads them (default: none). */
  generationConfig?: GenerationConfigMode;
  /** A chat template file replacing the chat model's (--chat-template). */
  chatTemplate?: string;
  /** More names for the chat model (--served-model-name a,b). */
  aliases?: string[];
}

/** Starts engines for the given model folders and serves them on 127.0.0.1:<random port>. */
export async function startTestServer(opts: TestServerOptions): Promise<TestServer> {
  const plans: Array<[string, ServedModel['task']]> = [[opts.chat, 'generate']];
  if (opts.reward) plans.push([opts.reward, 'reward']);
  const engines: Engine[] = [];
  const scorers: RewardEngine[] = [];
  const models: ServedModel[] = [];
  for (const [dir, task] of plans) {
    const template = task === 'generate' && opts.chatTemplate ? { chatTemplate: readFileSync(opts.chatTemplate, 'utf8') } : {};
    const aliases = task === 'generate' && opts.aliases ? { aliases: opts.aliases } : {};
    const base = { id: basename(dir), ...aliases, tokenizer: await loadTokenizer(dir, template), root: dir, created: Math.floor(Date.now() / 1000) };
    if (task === 'reward') {
      const scorer = await RewardEngine.start({ modelDir: dir, limits: opts.scoreLimits });
      scorers.push(scorer);
      const ctx = scorer.spec.contextLength;
      models.push({ ...base, task, scorer, provider: scorer.provider, contextLength: ctx, maxScoreTokens: opts.rewardMaxTokens ?? ctx });
      continue;
    }
    const engine = await Engine.start({ modelDir: dir, limits: opts.engineLimits, maxNumQueuedReqs: opts.maxNumQueuedReqs });
    engines.push(engine);
    const generationDefaults = opts.generationConfig ? readGenerationDefaults(dir, opts.generationConfig).defaults : undefined;
    models.push({ ...base, task, engine, provider: engine.provider, contextLength: engine.spec.contextLength, ...(generationDefaults ? { generationDefaults } : {}) });
  }
  const limits = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
  const metrics = new Metrics();
  for (const m of models) metrics.attach(m);
  // Large prompts are tokenized off the HTTP thread, as main.ts does (workers start on first use).
  const tokenizerPool = new TokenizerPool();
  const app = buildApp({ models, limits, isReady: () => true, logger: false, version: 'test', metrics, tokenizerPool });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    url,
    models,
    engines,
    scorers,
    metrics,
    client: (c = {}) =>
      new OpenAI({ baseURL: `${url}/v1`, apiKey: c.apiKey ?? limits.apiKey ?? 'unused', maxRetries: c.maxRetries ?? 0 }),
    tokenize: async (body) => {
      const r = await fetch(`${url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!r.ok) throw new Error(`/tokenize: HTTP ${r.status} ${await r.text()}`);
      return ((await r.json()) as { tokens: number[] }).tokens;
    },
    close: async () => {
      await app.close();
      await Promise.all([...[...engines, ...scorers].map((e) => e.close()), tokenizerPool.close()]);
    },
  };
}

/** Polls until `cond` holds (or fails after `ms`). */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
