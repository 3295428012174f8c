/**
 * What the HTTP layer needs from the rest of the program, passed to buildApp. Route tests hand in fake
 * engines that satisfy EngineLike; main.ts hands in real ones.
 */
import type { GenerationDefaults } from './generation-defaults.ts';
import type { RewardReadout } from '../runtime/model-loader.ts';
import type { EngineStats, GenerationEvent, GenerationRequest, StepStats } from '../runtime/types.ts';
import type { Score } from '../scoring/readout.ts';
import type { RewardEngineStats, ScoreBatchStats, ScoreRequestStats } from '../scoring/reward-engine.ts';
import type { RequestMetrics } from '../runtime/request-timing.ts';
import type { Metrics } from './metrics.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import type { TokenizerPool } from '../tokenizer/pool.ts';

/** The engine face the routes use (runtime/engine.ts's Engine satisfies it). */
export interface EngineLike {
  generate(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent>;
  stats(): EngineStats;
  onStep?: (step: StepStats) => void;
  onRequestDone?: (m: RequestMetrics) => void;
}

/** The reward scorer face the routes use (scoring/reward-engine.ts's RewardEngine satisfies it). */
export interface ScorerLike {
  score(items: number[][], signal?: AbortSignal): Promise<Score[]>;
  readonly readout: RewardReadout;
  stats(): RewardEngineStats;
  onBatch?: (b: ScoreBatchStats) => void;
  onScored?: (r: ScoreRequestStats) => void;
}

/** What every served model has. */
interface ServedModelBase {
  /** The name clients send as `model`, and answers carry. */
  id: string;
  /** Other names clients may send for this model (--served-model-name a,b). */
  aliases?: string[];
  /** The execution provider it runs on (shown in /v1/models and the web page's server strip). */
  provider?: 'cpu' | 'cuda';
  tokenizer: TextTokenizer;
  /** Prompt + output tokens the model accepts. */
  contextLength: number;
  /** The model folder (shown as `root` in /v1/models). */
  root: string;
  /** Unix seconds when it was loaded. */
  created: number;
}

/** A chat/completions model. */
export interface GenerateModel extends ServedModelBase {
  task: 'generate';
  engine: EngineLike;
  /** Defaults from the model's generation_config.json for fields a request leaves out (generation-defaults.ts). */
  generationDefaults?: GenerationDefaults;
}

/** A reward model: scores conversations that end with an assistant turn. */
export interface RewardModel extends ServedModelBase {
  task: 'reward';
  scorer: ScorerLike;
  /** Longest conversation (tokens) it scores; longer ones get a 400, never silent truncation. */
  maxScoreTokens: number;
}

/** A model the server answers for. */
export type ServedModel = GenerateModel | RewardModel;

/** Limits and switches of the HTTP layer. */
export interface ServerLimits {
  /** Bearer key; undefined = no auth. */
  apiKey?: string;
  /** Largest `n` (and `best_of`) accepted. */
  maxN: number;
  /** Largest max_tokens accepted; also the default when a request gives none (capped by the context). */
  maxTokens: number;
  /** Largest prompt in tokens (0 = only the context length limits it). */
  maxPromptTokens: number;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Ends a generation that runs longer than this (ms; 0 = no limit). */
  requestTimeoutMs: number;
  /** Largest best_of accepted (chat completions). */
  maxBestOf: number;
  /** Most `logit_bias` entries (OpenAI allows 300). */
  maxLogitBias: number;
  /** Most stop strings, and most `stop_token_ids`. */
  maxStop: number;
  /** Most tool definitions (OpenAI allows 128). */
  maxTools: number;
  /** Most messages in a conversation. */
  maxMessages: number;
  /** Most documents (rerank) or responses / text pairs (score) in one request. */
  maxScoreItems: number;
  /** Origins allowed to call the API from a browser (CORS; '*' for any); absent or empty: CORS off. */
  allowedOrigins?: string[];
  /** Responses API: most responses kept for `previous_response_id` / GET (0 = none kept: `store` refused). */
  responsesStoreSize: number;
  /** Responses API: how long a stored response is kept, ms. */
  responsesStoreTtlMs: number;
  /** The web playground at `/` (routes/web.ts); undefined = on, false = off (--no-web-ui). */
  webUi?: boolean;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxN: 16,
  maxTokens: 4096,
  maxPromptTokens: 0,
  maxBodyBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 0,
  maxBestOf: 16,
  maxLogitBias: 300,
  maxStop: 16,
  maxTools: 128,
  maxMessages: 2048,
  maxScoreItems: 1000,
  responsesStoreSize: 1000,
  responsesStoreTtlMs: 3600 * 1000,
};

/** Everything buildApp needs. */
export interface AppDeps {
  models: ServedModel[];
  limits: ServerLimits;
  /** true once every model is loaded and its worker alive (for /ready). */
  isReady: () => boolean;
  /** The metrics registry (GET /metrics); none = no /metrics route. */
  metrics?: Metrics;
  /** pino logger options, or false to log nothing (tests). */
  logger?: boolean | Record<string, unknown>;
  version: string;
  /**
   * Encodes and renders large prompts off the HTTP thread; its creator closes it (main.ts on shutdown).
   * None = every prompt is encoded on the HTTP thread (route tests).
   */
  tokenizerPool?: TokenizerPool;
}
