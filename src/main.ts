/**
 * Entry point: flags → config, listen at once (so /health answers and /ready says 503 while models load),
 * start one Engine (worker thread) per model, load its tokenizer, then serve it.
 *
 * Life cycle: starting → listening (not ready) → ready → shutting down. /ready is 200 only when every
 * model is loaded, every engine's worker is alive, and no shutdown has begun.
 * Exit codes: 0 after a signal-driven shutdown, 1 when a model fails to load, 2 on a bad flag.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { runPullCli } from './hub/cli.ts';
import { hubModelsNotCached, pullHubModels } from './hub/serve.ts';
import { Engine } from './runtime/engine.ts';
import { parseReadoutFlag } from './scoring/readout.ts';
import { RewardEngine } from './scoring/reward-engine.ts';
import { buildApp } from './server/app.ts';
import { Metrics } from './server/metrics.ts';
import { ConfigError, helpText, parseConfig, type ModelConfig, type ServerConfig } from './server/config.ts';
import type { ServedModel } from './server/deps.ts';
import { describeDefaults, readGenerationDefaults } from './server/generation-defaults.ts';
import { loadTokenizer, TokenizerPool } from './tokenizer/index.ts';

/** The package version (shown by /version). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Mutable state shared by loading, readiness and shutdown. */
interface ServerState {
  /** Every configured model has loaded. */
  loaded: boolean;
  shuttingDown: boolean;
  /** Engines and scorers that have started (closed on shutdown). */
  engines: Array<Engine | RewardEngine>;
  /** What the routes serve; filled while the server already listens. */
  models: ServedModel[];
  /** GET /metrics; each model is attached as it loads. */
  metrics: Metrics;
  /** Encodes large prompts off the HTTP thread; each model's tokenizer is sent to it as the model loads. */
  tokenizerPool: TokenizerPool;
}

/** A model to load, with the task it is served for when its folder says nothing else. */
interface ModelPlan {
  config: ModelConfig;
  /** Given as --reward-model: served as a reward model whatever its folder says. */
  asReward: boolean;
}

function modelPlans(config: ServerConfig, log: Logger): ModelPlan[] {
  const plans: ModelPlan[] = [{ config: config.model, asReward: false }];
  const reward = config.rewardModel;
  if (reward && !reward.explicit && !existsSync(reward.dir)) {
    log.warn({ dir: reward.dir }, 'default reward model folder not found; serving no reward model (npm run build:models builds it)');
  } else if (reward) {
    plans.push({ config: reward, asReward: true });
  }
  return plans;
}

/** How a model runs, in words, for the start-up line. */
function placement(config: ServerConfig, provider: 'cpu' | 'cuda', deviceId: number): string {
  if (provider === 'cuda') return `cuda device ${deviceId}`;
  return config.execution.provider === 'cuda' ? 'cpu (CUDA could not start; fell back to CPU)' : 'cpu';
}

/** The reward readout flags, if any, as the engine takes them. */
function readoutOverride(config: ServerConfig) {
  const r = config.reward;
  if (r.readout === undefined) return undefined;
  return parseReadoutFlag(r.readout, undefined, r.weights);
}

/** Starts a reward model's scorer and tokenizer. */
async function loadRewardModel(plan: ModelPlan, config: ServerConfig, state: ServerState, log: Logger): Promise<ServedModel> {
  const { dir, servedName, deviceId } = plan.config;
  const [scorer, tokenizer] = await Promise.all([
    RewardEngine.start({
      modelDir: dir,
      exec: { ...config.execution, deviceId },
      limits: { maxBatchTokens: config.reward.maxBatchTokens },
      readout: readoutOverride(config),
      sharePrefix: config.engine.prefixCaching,
    }),
    loadTokenizer(dir),
  ]);
  state.engines.push(scorer);
  if (scorer.readout.kind === 'head' && config.reward.weights && !config.reward.readout) {
    scorer.readout.weights = config.reward.weights;
  }
  const { spec } = scorer;
  const maxScoreTokens = Math.min(config.reward.maxTokens || spec.contextLength, spec.contextLength);
  const readout = scorer.readout.kind === 'token_logit' ? `logit of token ${scorer.readout.tokenId}` : `head (${scorer.readout.attributes.join(', ')})`;
  log.info(
    { model: servedName, task: 'reward', provider: scorer.provider, deviceId, readout: scorer.readout, maxScoreTokens, dir, notes: spec.notes },
    `model '${servedName}' (reward) runs on ${placement(config, scorer.provider, deviceId)}: readout ${readout}, ` +
      `conversations up to ${maxScoreTokens} tokens, ${spec.layout} layout`,
  );
  const aliases = plan.config.aliases;
  return { id: servedName, ...(aliases ? { aliases } : {}), provider: scorer.provider, task: 'reward', scorer, tokenizer, maxScoreTokens, contextLength: spec.contextLength, root: dir, created: Math.floor(Date.now() / 1000) };
}

/** Starts one model's engine and tokenizer, logs how it runs, and returns what the routes serve. */
async function loadModel(plan: ModelPlan, config: ServerConfig, state: ServerState, log: Logger): Promise<ServedModel> {
  const { dir, servedName, deviceId } = plan.config;
  if (!existsSync(dir)) {
    throw new Error(`model folder ${dir} does not exist (npm run build:models builds the default models)`);
  }
  if (plan.asReward) return loadRewardModel(plan, config, state, log);
  const [engine, tokenizer] = await Promise.all([
    Engine.start({
      modelDir: dir,
      exec: { ...config.execution, deviceId },
      limits: {
        maxNumSeqs: config.engine.maxNumSeqs,
        maxBatchedTokens: config.engine.maxNumBatchedTokens,
        kvCacheBytes: config.engine.kvCacheBytes,
      },
      maxNumQueuedReqs: config.engine.maxNumQueuedReqs,
      prefixCaching: config.engine.prefixCaching,
    }),
    loadTokenizer(dir, config.chatTemplate ? { chatTemplate: readFileSync(config.chatTemplate, 'utf8') } : {}),
  ]);
  state.engines.push(engine);
  const { spec } = engine;
  const kvBudgetTokens = engine.stats().kvBudgetTokens;
  log.info(
    { model: servedName, task: 'generate', provider: engine.provider, deviceId, contextLength: spec.contextLength, kvStyle: spec.kvStyle, kvType: spec.kvType, kvBudgetTokens, layout: spec.layout, dir, notes: spec.notes },
    `model '${servedName}' (generate) runs on ${placement(config, engine.provider, deviceId)}: context ${spec.contextLength} tokens, kv style ${spec.kvStyle} ` +
      `(${spec.kvType}, ${spec.paddingSide} padding), kv budget ${kvBudgetTokens} tokens, ${spec.layout} layout`,
  );
  const gen = readGenerationDefaults(dir, config.generationConfig);
  log.info(
    { model: servedName, generationConfig: gen.file ?? null, defaults: gen.defaults, ignored: gen.ignored.length ? gen.ignored : undefined },
    `model '${servedName}' request defaults: ${describeDefaults(gen.defaults)}${gen.file ? ` (from ${gen.file})` : ''}` +
      (gen.ignored.length ? `; ignored: ${gen.ignored.join('; ')}` : ''),
  );
  return {
    id: servedName,
    ...(plan.config.aliases ? { aliases: plan.config.aliases } : {}),
    provider: engine.provider,
    task: 'generate',
    engine,
    tokenizer,
    contextLength: spec.contextLength,
    root: dir,
    created: Math.floor(Date.now() / 1000),
    generationDefaults: gen.defaults,
  };
}

/**
 * Loads every model in parallel and fails on the first error (the caller shuts down; process exit ends
 * workers still loading). The chat model stays first in /v1/models whichever loads first.
 */
async function loadModels(plans: ModelPlan[], config: ServerConfig, state: ServerState, log: Logger): Promise<void> {
  await Promise.all(
    plans.map(async (plan, order) => {
      const model = await loadModel(plan, config, state, log);
      if (state.shuttingDown) return;
      state.models.splice(order === 0 ? 0 : state.models.length, 0, model);
      state.metrics.attach(model);
      state.tokenizerPool.warm(model.tokenizer);
    }),
  );
  state.loaded = true;
}

function listenUrl(app: FastifyInstance, host: string): string {
  const { port } = app.server.address() as AddressInfo;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Stops the server: readiness goes false, the app stops accepting, the engines close (ending what still
 * runs with finish_reason 'abort'), then the process exits. Only the first call acts.
 */
function makeShutdown(app: FastifyInstance, config: ServerConfig, state: ServerState, log: Logger) {
  const sleep = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  return async (code: number, reason: string): Promise<void> => {
    if (state.shuttingDown) return;
    state.shuttingDown = true;
    const inFlight = () => state.models.reduce((a, m) => a + (m.task === 'generate' ? m.engine.stats().running + m.engine.stats().waiting : m.scorer.stats().pendingRequests), 0);
    log.info({ reason, inFlight: inFlight(), graceMs: config.shutdownGraceMs }, 'shutting down: not ready, refusing new requests');
    // Stops accepting connections (requests on open keep-alive connections get 503); resolves once the
    // requests in flight have finished.
    const appClosed = app.close();
    // In-flight requests may finish within the grace period…
    const drained = await Promise.race([appClosed.then(() => 'drained' as const), sleep(config.shutdownGraceMs)]);
    if (drained !== 'drained') {
      log.warn({ inFlight: inFlight() }, 'grace period over: aborting the requests still running');
    }
    // …the rest are aborted: their clients get a clear error (503 generation_aborted), streams an error
    // frame then [DONE]. Closing the engines also stops their worker threads; the tokenizer pool's go too.
    await Promise.allSettled([...state.engines.map((e) => e.close()), state.tokenizerPool.close()]);
    await Promise.race([appClosed, sleep(5000)]);
    log.info('stopped');
    log.flush?.();
    process.exit(code);
  };
}

/** Runs the server until a signal stops it. */
export async function main(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<void> {
  // `npm start -- pull org/name …` is `npm run pull -- org/name …`.
  if (argv[0] === 'pull') process.exit(await runPullCli(argv.slice(1), env));
  let config: ServerConfig;
  try {
    config = parseConfig(argv, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(helpText());
    process.exit(0);
  }
  // An org/name model missing from the hub cache is a usage error unless --pull may download it.
  const notCached = hubModelsNotCached(config);
  if (notCached.length > 0 && !config.pull) {
    for (const message of notCached) process.stderr.write(`error: ${message}\n`);
    process.exit(2);
  }

  const log = pino({ level: config.logLevel });
  const state: ServerState = {
    loaded: false,
    shuttingDown: false,
    engines: [],
    models: [],
    metrics: new Metrics(),
    tokenizerPool: new TokenizerPool(),
  };
  const isReady = () => state.loaded && !state.shuttingDown && state.engines.every((e) => e.stats().alive);
  const app = buildApp({
    models: state.models,
    limits: config.limits,
    isReady,
    metrics: state.metrics,
    logger: { level: config.logLevel },
    version: packageVersion(),
    tokenizerPool: state.tokenizerPool,
  });
  const shutdown = makeShutdown(app, config, state, log);
  // A second signal forces the exit. Copies of the first one arriving at once are not a second signal:
  // Ctrl-C reaches the whole process group, and npm and tsx also relay it to this process.
  let firstSignalAt = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (!state.shuttingDown) {
        firstSignalAt = Date.now();
        void shutdown(0, signal);
      } else if (Date.now() - firstSignalAt > 1000) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
    });
  }

  await app.listen({ host: config.host, port: config.port });
  log.info({ url: listenUrl(app, config.host), auth: config.limits.apiKey !== undefined }, `listening on ${listenUrl(app, config.host)} (not ready until the models load)`);
  try {
    // --pull downloads while the server already listens, so /ready says 503 until the models are there.
    if (config.pull) await pullHubModels(config, env, log);
    await loadModels(modelPlans(config, log), config, state, log);
  } catch (err) {
    log.fatal({ err }, `a model failed to load: ${(err as Error).message}`);
    await shutdown(1, 'model load failed');
    return;
  }
  if (!state.shuttingDown) {
    log.info({ models: state.models.map((m) => `${m.id} (${m.task})`) }, `ready: serving ${state.models.map((m) => m.id).join(', ')}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
