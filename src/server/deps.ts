/**
 * What the HTTP layer needs from the rest of the program, passed to buildApp. Route tests hand in fake
 * engines that satisfy EngineLike; main.ts hands in real ones.
 */
import type { EngineStats, GenerationEvent, GenerationRequest, StepStats } from '../runtime/types.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';

/** The engine face the routes use (runtime/engine.ts's Engine satisfies it). */
export interface EngineLike {
  generate(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent>;
  stats(): EngineStats;
  onStep?: (step: StepStats) => void;
}

/** A model the server answers for. */
export interface ServedModel {
  /** The name clients send as `model`. */
  id: string;
  /** 'generate' for chat models, 'reward' for reward models. */
  task: 'generate' | 'reward';
  engine: EngineLike;
  tokenizer: TextTokenizer;
  /** Prompt + output tokens the model accepts. */
  contextLength: number;
  /** The model folder (shown as `root` in /v1/models). */
  root: string;
  /** Unix seconds when it was loaded. */
  created: number;
}

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
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxN: 16,
  maxTokens: 4096,
  maxPromptTokens: 0,
  maxBodyBytes: 4 * 1024 * 1024,
  requestTimeoutMs: 0,
};

/** Everything buildApp needs. */
export interface AppDeps {
  models: ServedModel[];
  limits: ServerLimits;
  /** true once every model is loaded and its worker alive (for /ready). */
  isReady: () => boolean;
  /** pino logger options, or false to log nothing (tests). */
  logger?: boolean | Record<string, unknown>;
  version: string;
}
