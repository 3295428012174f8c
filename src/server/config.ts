/**
 * Command line and environment → ServerConfig, every default filled and every value checked. Flags win
 * over environment variables, which win over defaults. One table (OPTIONS) drives parsing, the env
 * lookup, validation messages and the --help text, so they cannot drift apart.
 */
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { repoCacheDir } from '../hub/cache.ts';
import { resolveModelSource, type HubModelRef } from '../hub/resolve.ts';
import { DEFAULT_LIMITS } from '../runtime/limits.ts';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './deps.ts';
import type { GenerationConfigMode } from './generation-defaults.ts';

/** Repository root (models/ lives under it). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One model to load. */
export interface ModelConfig {
  /** Absolute model folder. */
  dir: string;
  /** The name clients send as `model` (and answers carry). */
  servedName: string;
  /** Other names clients may send for it (--served-model-name a,b: 'b'); absent when none. */
  aliases?: string[];
  /** CUDA device id (ignored on CPU). */
  deviceId: number;
  /** Named on the command line or in the environment (false: the built-in default folder). */
  explicit: boolean;
  /**
   * Present when the model was named as a Hugging Face model id (org/name) rather than a folder: `dir` is
   * then its cached snapshot (hub.snapshotDir), or, when the cache lacks it, the repo's cache folder
   * (main.ts pulls it with --pull, or stops with a message naming `npm run pull`).
   */
  hub?: HubModelRef;
}

/** How the reward model is read and limited. */
export interface RewardConfig {
  /** --reward-readout: "token_logit[:id]" or "head"; undefined = what the model folder says, else token 0's logit. */
  readout?: string;
  /** --reward-attribute-weights for head readouts. */
  weights?: number[];
  /** --reward-max-tokens: longest conversation scored; 0 = the model's context length. */
  maxTokens: number;
  /** --reward-max-batch-tokens: padded tokens per scoring pass. */
  maxBatchTokens: number;
}

/** The whole server configuration. */
export interface ServerConfig {
  /** --help was given: print helpText() and exit; the other fields hold defaults. */
  help: boolean;
  host: string;
  port: number;
  /** The chat model (--model). */
  model: ModelConfig;
  /** The reward model (--reward-model), or null with --no-reward-model. */
  rewardModel: ModelConfig | null;
  /** Reward readout and limits. */
  reward: RewardConfig;
  /** HTTP limits (apiKey included), as buildApp takes them. */
  limits: ServerLimits;
  /** Per-engine limits (each model gets its own). */
  engine: {
    maxNumSeqs: number;
    maxNumQueuedReqs: number;
    maxNumBatchedTokens: number;
    /** KV cache budget of each model, bytes. */
    kvCacheBytes: number;
    /** Automatic prefix caching (chat) and shared-prompt scoring (reward); --no-prefix-caching turns both off. */
    prefixCaching: boolean;
  };
  /** ONNX Runtime execution settings shared by both models (device ids are per model). */
  execution: {
    provider: 'cpu' | 'cuda';
    /** Intra-op threads; 0 = let ONNX Runtime decide. */
    intraOpThreads: number;
    cudaFallbackToCpu: boolean;
    /** Runtime of the reward model: ONNX Runtime's C API with IO binding (default) or the onnxruntime-node session. */
    scoreRuntime: 'native' | 'js';
  };
  logLevel: LogLevel;
  /** Where the chat model's request defaults come from (--generation-config; generation-defaults.ts). */
  generationConfig: GenerationConfigMode;
  /** --chat-template FILE: a Jinja chat template that replaces the chat model's own (absolute path). */
  chatTemplate?: string;
  /** How long shutdown waits for in-flight requests, ms. */
  shutdownGraceMs: number;
  /** --pull: download hub models missing from the cache before serving (present only when given). */
  pull?: boolean;
}

/** A bad flag or environment value; the message names it. main.ts prints it and exits 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'string' | 'boolean';

interface OptionDef {
  flag: string;
  kind: Kind;
  /** Environment variable read when the flag is absent. */
  env?: string;
  /** Default as shown in --help. */
  shown: string;
  help: string;
  /** Placeholder of the value in --help. */
  arg?: string;
}

/** Every option, in --help order. */
export const OPTIONS: readonly OptionDef[] = [
  { flag: 'host', kind: 'string', env: 'HOST', arg: 'ADDR', shown: '127.0.0.1', help: 'Address to listen on (0.0.0.0 for all interfaces).' },
  { flag: 'port', kind: 'string', env: 'PORT', arg: 'N', shown: '8000', help: 'Port to listen on (0 picks a free one).' },
  { flag: 'model', kind: 'string', env: 'MODEL', arg: 'DIR|ORG/NAME', shown: 'models/instruct', help: 'Chat model folder (a relative path is taken from the working directory), or a Hugging Face model id served from the hub cache (npm run pull -- ORG/NAME downloads it).' },
  { flag: 'chat-template', kind: 'string', env: 'CHAT_TEMPLATE', arg: 'FILE', shown: "the chat model's own", help: "A Jinja chat template replacing the chat model's (templates/llama3.1-json-tools.jinja: Llama 3.1 JSON tool calling that accepts several calls in one assistant turn)." },
  { flag: 'generation-config', kind: 'string', env: 'GENERATION_CONFIG', arg: 'auto|vllm|DIR', shown: 'auto', help: "Request defaults (temperature, top_p, top_k, repetition_penalty, max_new_tokens as max_tokens) from the chat model's generation_config.json (auto), from DIR's, or none (vllm: OpenAI's defaults). A request's own values win." },
  { flag: 'served-model-name', kind: 'string', env: 'SERVED_MODEL_NAME', arg: 'NAME', shown: "the model folder's name (ORG/NAME for a hub model)", help: 'Name clients send as `model` for the chat model; several names (comma-separated) are aliases, all listed in /v1/models, and answers carry the first.' },
  { flag: 'reward-model', kind: 'string', env: 'REWARD_MODEL', arg: 'DIR|ORG/NAME', shown: 'models/reward', help: 'Reward model folder or Hugging Face model id; "none" disables it.' },
  { flag: 'no-reward-model', kind: 'boolean', shown: 'off', help: 'Serve no reward model.' },
  { flag: 'reward-served-model-name', kind: 'string', env: 'REWARD_SERVED_MODEL_NAME', arg: 'NAME', shown: "the reward folder's name (ORG/NAME for a hub model)", help: 'Name clients send as `model` for the reward model; several names (comma-separated) are aliases.' },
  { flag: 'reward-readout', kind: 'string', env: 'REWARD_READOUT', arg: 'token_logit[:ID]|head', shown: "the model folder's, else token_logit:0", help: 'How a reward score is read: the logit of one token at the last position (Nemotron-70B-Reward-HF: token 0), or a classification head.' },
  { flag: 'reward-attribute-weights', kind: 'string', env: 'REWARD_ATTRIBUTE_WEIGHTS', arg: 'W1,W2,...', shown: "the model folder's", help: 'Weights of a multi-attribute head; the overall score is their weighted sum.' },
  { flag: 'reward-max-tokens', kind: 'string', env: 'REWARD_MAX_TOKENS', arg: 'N', shown: "0 (the reward model's context length)", help: 'Longest conversation the reward model scores (Nemotron-70B-Reward: 4096); longer ones get a 400.' },
  { flag: 'reward-max-batch-tokens', kind: 'string', env: 'REWARD_MAX_BATCH_TOKENS', arg: 'N', shown: '8192', help: 'Padded tokens per reward forward pass (rows × longest conversation).' },
  { flag: 'max-best-of', kind: 'string', env: 'MAX_BEST_OF', arg: 'N', shown: '16', help: 'Largest best_of accepted in chat completions.' },
  { flag: 'revision', kind: 'string', env: 'MODEL_REVISION', arg: 'REV', shown: 'main', help: 'Hub revision (branch, tag or commit) of a --model given as ORG/NAME.' },
  { flag: 'reward-revision', kind: 'string', env: 'REWARD_MODEL_REVISION', arg: 'REV', shown: 'main', help: 'Hub revision of a --reward-model given as ORG/NAME.' },
  { flag: 'cache-dir', kind: 'string', arg: 'DIR', shown: 'HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub', help: 'Hugging Face hub cache that ORG/NAME models are read from (and pulled into).' },
  { flag: 'pull', kind: 'boolean', env: 'PULL', shown: 'off', help: 'Download ORG/NAME models missing from the cache before serving (hub HF_ENDPOINT, token HF_TOKEN). Without it nothing is downloaded.' },
  { flag: 'api-key', kind: 'string', env: 'API_KEY', arg: 'KEY', shown: 'none (no auth)', help: 'Require "Authorization: Bearer KEY" on every route but /health, /ready, /metrics and the web page (/ and its /web/ assets; its API calls send the key).' },
  { flag: 'no-web-ui', kind: 'boolean', env: 'NO_WEB_UI', shown: 'off (the page is served)', help: 'Do not serve the web playground at / (chat, best-of with reward scores, answer comparison).' },
  { flag: 'max-num-seqs', kind: 'string', env: 'MAX_NUM_SEQS', arg: 'N', shown: '64', help: 'Sequences generating at once, per model.' },
  { flag: 'max-num-queued-reqs', kind: 'string', env: 'MAX_NUM_QUEUED_REQS', arg: 'N', shown: '256', help: 'Requests waiting for a slot, per model; past it requests get 429.' },
  { flag: 'max-num-batched-tokens', kind: 'string', env: 'MAX_NUM_BATCHED_TOKENS', arg: 'N', shown: '512', help: 'Tokens per engine step (decode rows + prefill chunk).' },
  { flag: 'max-tokens', kind: 'string', env: 'MAX_TOKENS', arg: 'N', shown: '4096', help: 'Largest max_tokens accepted; also the default when a request gives none.' },
  { flag: 'max-n', kind: 'string', env: 'MAX_N', arg: 'N', shown: '16', help: 'Largest n (and best_of) accepted.' },
  { flag: 'max-prompt-tokens', kind: 'string', env: 'MAX_PROMPT_TOKENS', arg: 'N', shown: '0 (the context length)', help: 'Largest prompt in tokens.' },
  { flag: 'max-body-bytes', kind: 'string', env: 'MAX_BODY_BYTES', arg: 'SIZE', shown: '4MiB', help: 'Largest request body (bytes, or with KiB/MiB/GiB; KB/MB/GB are decimal).' },
  { flag: 'request-timeout', kind: 'string', env: 'REQUEST_TIMEOUT', arg: 'SECONDS', shown: '0 (none)', help: 'Ends a generation that runs longer than this.' },
  { flag: 'max-logit-bias', kind: 'string', env: 'MAX_LOGIT_BIAS', arg: 'N', shown: '300', help: 'Most logit_bias entries in a request.' },
  { flag: 'max-stop', kind: 'string', env: 'MAX_STOP', arg: 'N', shown: '16', help: 'Most stop strings (and stop_token_ids) in a request.' },
  { flag: 'max-tools', kind: 'string', env: 'MAX_TOOLS', arg: 'N', shown: '128', help: 'Most tool definitions in a request.' },
  { flag: 'max-messages', kind: 'string', env: 'MAX_MESSAGES', arg: 'N', shown: '2048', help: 'Most messages in a conversation.' },
  { flag: 'allowed-origins', kind: 'string', env: 'ALLOWED_ORIGINS', arg: 'ORIGINS', shown: 'none (CORS off)', help: 'Origins browser apps may call the API from (comma-separated, e.g. http://localhost:3000; * for any): CORS headers and preflight answers.' },
  { flag: 'responses-store-size', kind: 'string', env: 'RESPONSES_STORE_SIZE', arg: 'N', shown: '1000', help: 'Responses API: most responses kept in memory for previous_response_id (0: store nothing; `store: true` and previous_response_id then get a 400).' },
  { flag: 'responses-store-ttl', kind: 'string', env: 'RESPONSES_STORE_TTL', arg: 'SECONDS', shown: '3600', help: 'Responses API: how long a stored response is kept.' },
  { flag: 'max-score-items', kind: 'string', env: 'MAX_SCORE_ITEMS', arg: 'N', shown: '1000', help: 'Most rerank documents or score responses in a request.' },
  { flag: 'kv-cache-memory', kind: 'string', env: 'KV_CACHE_MEMORY', arg: 'SIZE', shown: '2GiB', help: 'KV cache budget of each model (bytes, or with KiB/MiB/GiB/TiB).' },
  { flag: 'no-prefix-caching', kind: 'boolean', env: 'NO_PREFIX_CACHING', shown: 'off (caching on)', help: 'Do not reuse the KV of cached prompt prefixes (chat model) nor share a prompt\'s prefill between the responses of one score request (reward model).' },
  { flag: 'execution-provider', kind: 'string', env: 'EXECUTION_PROVIDER', arg: 'cpu|cuda', shown: 'cpu', help: 'ONNX Runtime execution provider.' },
  { flag: 'device-id', kind: 'string', env: 'DEVICE_ID', arg: 'N', shown: '0', help: 'CUDA device of the chat model.' },
  { flag: 'reward-device-id', kind: 'string', env: 'REWARD_DEVICE_ID', arg: 'N', shown: 'the chat model\'s device', help: 'CUDA device of the reward model.' },
  { flag: 'cuda-fallback-cpu', kind: 'boolean', env: 'CUDA_FALLBACK_CPU', shown: 'off', help: 'Run on CPU when CUDA cannot start, instead of failing.' },
  { flag: 'score-runtime', kind: 'string', env: 'SCORE_RUNTIME', arg: 'native|js', shown: 'native', help: 'Reward model runtime: the C API with IO binding, or the onnxruntime-node session (kept for comparison). Generation always uses the C API.' },
  { flag: 'threads', kind: 'string', env: 'THREADS', arg: 'N', shown: '0 (auto)', help: 'ONNX Runtime intra-op threads per model.' },
  { flag: 'log-level', kind: 'string', env: 'LOG_LEVEL', arg: 'LEVEL', shown: 'info', help: `One of ${LOG_LEVELS.join(', ')}.` },
  { flag: 'shutdown-grace', kind: 'string', env: 'SHUTDOWN_GRACE', arg: 'SECONDS', shown: '30', help: 'On SIGTERM/SIGINT, how long in-flight requests may finish.' },
  { flag: 'help', kind: 'boolean', shown: '', help: 'Print this help and exit.' },
];

/** The --help text: every flag with its environment variable and default. */
export function helpText(): string {
  const rows = OPTIONS.map((o) => {
    const left = `  --${o.flag}${o.arg ? ` <${o.arg}>` : ''}`;
    const extra = [o.env ? `env ${o.env}` : '', o.shown ? `default: ${o.shown}` : ''].filter(Boolean).join('; ');
    return `${left.padEnd(42)} ${o.help}${extra ? ` [${extra}]` : ''}`;
  });
  return [
    'Usage: npm start -- [options]   (or: tsx src/main.ts [options])',
    '',
    'OpenAI-compatible server for Llama-3.1 chat and reward models on ONNX Runtime.',
    'Flags win over environment variables, which win over defaults.',
    '',
    'Options:',
    ...rows,
    '',
  ].join('\n');
}

/** A raw value and where it came from, for error messages. */
interface Raw {
  value: string;
  source: string;
}

/** Reads the raw value of an option: the flag, else its env var (empty env values count as unset). */
function rawOf(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, flag: string): Raw | undefined {
  const v = values[flag];
  if (typeof v === 'string') return { value: v, source: `--${flag}` };
  const def = OPTIONS.find((o) => o.flag === flag)!;
  const e = def.env ? env[def.env] : undefined;
  if (e !== undefined && e !== '') return { value: e, source: `--${flag} (from ${def.env})` };
  return undefined;
}

function fail(raw: Raw, expected: string): never {
  throw new ConfigError(`Invalid value for ${raw.source}: '${raw.value}' (expected ${expected})`);
}

/** A non-negative integer, at least `min`, at most `max`. */
function int(raw: Raw | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!raw) return fallback;
  const s = raw.value.trim();
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < min || n > max) {
    fail(raw, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`);
  }
  return n;
}

/** Non-negative seconds (fractions allowed) → ms. */
function seconds(raw: Raw | undefined, fallbackSeconds: number): number {
  if (!raw) return fallbackSeconds * 1000;
  const s = raw.value.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) fail(raw, 'a number of seconds >= 0');
  return Math.round(Number(s) * 1000);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** Parses "4194304", "4MiB", "1.5 GiB", "500MB" → bytes (case-insensitive). */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] || 'b').toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

function size(raw: Raw | undefined, fallback: number): number {
  if (!raw) return fallback;
  const n = parseSize(raw.value);
  if (n === undefined || n < 1) fail(raw, 'a size > 0: bytes, or a number with KiB/MiB/GiB/TiB or KB/MB/GB/TB');
  return n;
}

function oneOf<T extends string>(raw: Raw | undefined, fallback: T, choices: readonly T[]): T {
  if (!raw) return fallback;
  const v = raw.value.trim().toLowerCase() as T;
  if (!choices.includes(v)) fail(raw, `one of ${choices.join(', ')}`);
  return v;
}

/** A boolean flag, or its env var as 1/0, true/false, yes/no, on/off. */
function bool(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, flag: string): boolean {
  if (values[flag] === true) return true;
  const raw = rawOf({}, env, flag);
  if (!raw) return false;
  const v = raw.value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return fail(raw, 'one of 1, 0, true, false, yes, no, on, off');
}

/**
 * The names a model is served as: the flag's names (separated by commas or spaces; the first is the
 * model's own, the others aliases), else `fallback`.
 */
function names(raw: Raw | undefined, dir: string, fallback = basename(dir)): [string, ...string[]] {
  if (!raw) return [fallback];
  const list = [...new Set(raw.value.split(/[\s,]+/).filter(Boolean))];
  if (list.length === 0) fail(raw, 'one or more non-empty names');
  return list as [string, ...string[]];
}

function parseFlags(argv: string[]): Record<string, string | boolean | undefined> {
  const options = Object.fromEntries(OPTIONS.map((o) => [o.flag, { type: o.kind }])) as Record<string, { type: Kind }>;
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // node's messages name the flag ("Unknown option '--prot'", "Option '--port <value>' argument missing").
    throw new ConfigError(`${(err as Error).message}. Run with --help to list the options.`);
  }
}

/** Options for finding ORG/NAME models in the hub cache. */
interface HubLookup {
  cwd: string;
  env: NodeJS.ProcessEnv;
  cacheDir?: string;
}

/**
 * A --model / --reward-model value → its folder, plus the hub reference when it names a hub model (an
 * org/name that is not an existing path). Reads the cache only; never downloads.
 */
/** --allowed-origins: '*' or origins (scheme://host[:port]), comma-separated. */
function allowedOrigins(raw: Raw | undefined): { allowedOrigins?: string[] } {
  if (!raw) return {};
  const list = raw.value.split(/[\s,]+/).filter(Boolean);
  if (list.length === 0 || !list.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o))) fail(raw, "'*' or origins such as http://localhost:3000, comma-separated");
  return { allowedOrigins: list };
}

/** --chat-template: an existing file, as an absolute path. */
function chatTemplateFile(raw: Raw | undefined, cwd: string): { chatTemplate?: string } {
  const v = raw?.value.trim();
  if (v === undefined) return {};
  const file = resolve(cwd, v);
  if (v === '' || !existsSync(file)) fail(raw!, 'a Jinja chat template file');
  return { chatTemplate: file };
}

/** --generation-config: 'auto', 'vllm', or a folder holding generation_config.json. */
function generationConfigMode(raw: Raw | undefined, cwd: string): GenerationConfigMode {
  const v = raw?.value.trim();
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'vllm') return 'vllm';
  const dir = resolve(cwd, v);
  if (!existsSync(join(dir, 'generation_config.json'))) fail(raw!, "'auto', 'vllm' or a folder holding generation_config.json");
  return { dir };
}

function modelSource(raw: Raw, revision: Raw | undefined, lookup: HubLookup): { dir: string; hub?: HubModelRef } {
  if (revision && revision.value.trim() === '') fail(revision, 'a branch, tag or commit');
  const src = resolveModelSource(raw.value, { ...lookup, revision: revision?.value.trim() });
  if (src.kind === 'local') {
    if (revision) throw new ConfigError(`${revision.source} applies to a Hugging Face model id (org/name), not to the folder ${src.dir}`);
    return { dir: src.dir };
  }
  const { kind: _kind, ...hub } = src;
  return { dir: hub.snapshotDir ?? repoCacheDir(hub.cacheDir, hub.repo), hub };
}

function rewardModel(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  lookup: HubLookup,
  chat: ModelConfig,
): ModelConfig | null {
  const raw = rawOf(values, env, 'reward-model');
  if (values['no-reward-model'] === true) {
    if (raw && typeof values['reward-model'] === 'string') {
      throw new ConfigError('--reward-model and --no-reward-model contradict each other; give one');
    }
    return null;
  }
  if (raw && raw.value.trim().toLowerCase() === 'none') return null;
  if (raw && raw.value.trim() === '') fail(raw, 'a model folder');
  const revision = rawOf(values, env, 'reward-revision');
  if (!raw && revision) throw new ConfigError(`${revision.source} applies to a --reward-model given as a Hugging Face model id (org/name)`);
  const source = raw ? modelSource(raw, revision, lookup) : { dir: resolve(REPO_ROOT, 'models', 'reward') };
  const { dir } = source;
  const [servedName, ...aliases] = names(rawOf(values, env, 'reward-served-model-name'), dir, source.hub?.repo);
  const chatNames = [chat.servedName, ...(chat.aliases ?? [])];
  const both = [servedName, ...aliases].find((n) => chatNames.includes(n));
  if (both !== undefined) {
    throw new ConfigError(
      `The chat and reward models are both served as '${both}'; set --served-model-name or --reward-served-model-name`,
    );
  }
  const deviceId = int(rawOf(values, env, 'reward-device-id'), chat.deviceId, 0);
  return { dir, servedName, ...(aliases.length ? { aliases } : {}), deviceId, explicit: raw !== undefined, ...(source.hub ? { hub: source.hub } : {}) };
}

function rewardConfig(get: (flag: string) => Raw | undefined): RewardConfig {
  const readoutRaw = get('reward-readout');
  const readout = readoutRaw?.value.trim();
  if (readoutRaw && !/^(token_logit(:\d+)?|head)$/.test(readout!)) fail(readoutRaw, '"token_logit", "token_logit:<token id>" or "head"');
  const weightsRaw = get('reward-attribute-weights');
  let weights: number[] | undefined;
  if (weightsRaw) {
    weights = weightsRaw.value.split(',').map((w) => Number(w.trim()));
    if (weights.length === 0 || weights.some((w) => !Number.isFinite(w))) fail(weightsRaw, 'comma-separated numbers');
  }
  return {
    readout,
    weights,
    maxTokens: int(get('reward-max-tokens'), 0, 0),
    maxBatchTokens: int(get('reward-max-batch-tokens'), 8192, 1),
  };
}

/**
 * Parses the command line (without node and script: `process.argv.slice(2)`) and the environment.
 * Relative model folders resolve against `cwd`; the default folders live under the repo root.
 * @throws ConfigError naming the flag (and env var) of the first invalid value
 */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): ServerConfig {
  const values = parseFlags(argv);
  const get = (flag: string) => rawOf(values, env, flag);

  const modelRaw = get('model');
  if (modelRaw && modelRaw.value.trim() === '') fail(modelRaw, 'a model folder');
  const lookup: HubLookup = { cwd, env, cacheDir: get('cache-dir')?.value };
  const revisionRaw = get('revision');
  if (!modelRaw && revisionRaw) throw new ConfigError(`${revisionRaw.source} applies to a --model given as a Hugging Face model id (org/name)`);
  const chatSource = modelRaw ? modelSource(modelRaw, revisionRaw, lookup) : { dir: resolve(REPO_ROOT, 'models', 'instruct') };
  const modelDir = chatSource.dir;
  const [servedName, ...aliases] = names(get('served-model-name'), modelDir, chatSource.hub?.repo);
  const model: ModelConfig = {
    dir: modelDir,
    servedName,
    ...(aliases.length ? { aliases } : {}),
    deviceId: int(get('device-id'), 0, 0),
    explicit: modelRaw !== undefined,
    ...(chatSource.hub ? { hub: chatSource.hub } : {}),
  };

  const hostRaw = get('host');
  if (hostRaw && hostRaw.value.trim() === '') fail(hostRaw, 'an address');
  const keyRaw = get('api-key');
  if (keyRaw && keyRaw.value.trim() === '') fail(keyRaw, 'a non-empty key');
  const apiKey = keyRaw?.value.trim();

  return {
    help: values.help === true,
    host: hostRaw?.value.trim() ?? '127.0.0.1',
    port: int(get('port'), 8000, 0, 65535),
    model,
    rewardModel: rewardModel(values, env, lookup, model),
    reward: rewardConfig(get),
    limits: {
      ...(apiKey !== undefined ? { apiKey } : {}),
      maxN: int(get('max-n'), DEFAULT_SERVER_LIMITS.maxN, 1),
      maxTokens: int(get('max-tokens'), DEFAULT_SERVER_LIMITS.maxTokens, 1),
      maxPromptTokens: int(get('max-prompt-tokens'), DEFAULT_SERVER_LIMITS.maxPromptTokens, 0),
      maxBodyBytes: size(get('max-body-bytes'), DEFAULT_SERVER_LIMITS.maxBodyBytes),
      requestTimeoutMs: seconds(get('request-timeout'), DEFAULT_SERVER_LIMITS.requestTimeoutMs / 1000),
      maxBestOf: int(get('max-best-of'), DEFAULT_SERVER_LIMITS.maxBestOf, 1),
      maxLogitBias: int(get('max-logit-bias'), DEFAULT_SERVER_LIMITS.maxLogitBias, 0),
      maxStop: int(get('max-stop'), DEFAULT_SERVER_LIMITS.maxStop, 0),
      maxTools: int(get('max-tools'), DEFAULT_SERVER_LIMITS.maxTools, 0),
      maxMessages: int(get('max-messages'), DEFAULT_SERVER_LIMITS.maxMessages, 1),
      maxScoreItems: int(get('max-score-items'), DEFAULT_SERVER_LIMITS.maxScoreItems, 1),
      ...allowedOrigins(get('allowed-origins')),
      responsesStoreSize: int(get('responses-store-size'), DEFAULT_SERVER_LIMITS.responsesStoreSize, 0),
      responsesStoreTtlMs: seconds(get('responses-store-ttl'), DEFAULT_SERVER_LIMITS.responsesStoreTtlMs / 1000),
      ...(bool(values, env, 'no-web-ui') ? { webUi: false } : {}),
    },
    engine: {
      maxNumSeqs: int(get('max-num-seqs'), DEFAULT_LIMITS.maxNumSeqs, 1),
      maxNumQueuedReqs: int(get('max-num-queued-reqs'), 256, 0),
      maxNumBatchedTokens: int(get('max-num-batched-tokens'), DEFAULT_LIMITS.maxBatchedTokens, 1),
      kvCacheBytes: size(get('kv-cache-memory'), DEFAULT_LIMITS.kvCacheBytes),
      prefixCaching: !bool(values, env, 'no-prefix-caching'),
    },
    execution: {
      provider: oneOf(get('execution-provider'), 'cpu', ['cpu', 'cuda'] as const),
      intraOpThreads: int(get('threads'), 0, 0),
      cudaFallbackToCpu: bool(values, env, 'cuda-fallback-cpu'),
      scoreRuntime: oneOf(get('score-runtime'), 'native', ['native', 'js'] as const),
    },
    logLevel: oneOf(get('log-level'), 'info', LOG_LEVELS),
    generationConfig: generationConfigMode(get('generation-config'), cwd),
    ...chatTemplateFile(get('chat-template'), cwd),
    shutdownGraceMs: seconds(get('shutdown-grace'), 30),
    ...(bool(values, env, 'pull') ? { pull: true } : {}),
  };
}
