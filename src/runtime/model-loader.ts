import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * How a model's graph takes its KV cache and padding.
 * - `position_ids`: Optimum / transformers.js style (also older ONNX Runtime GenAI exports with
 *   MultiHeadAttention): the graph takes `position_ids`; left padding works and a batch may run a
 *   multi-token step on top of a past.
 * - `gqa`: ONNX Runtime GenAI GroupQueryAttention style: no `position_ids`, the kernel derives positions
 *   from `sum(attention_mask) - 1`, so padding must be on the right, and a batch of several sequences
 *   cannot run a multi-token step that has a past.
 */
export type KvStyle = 'position_ids' | 'gqa';

/** Element type of the KV cache and logits tensors. */
export type FloatType = 'float32' | 'float16';

/** Reward readout configured for (or detected from) a model. */
export type RewardReadout =
  | { kind: 'token_logit'; tokenId: number }
  | { kind: 'head'; attributes: string[]; weights?: number[] };

/** Everything the runtime needs to know about a model folder, read once at load time. */
export interface ModelSpec {
  /** Absolute path of the model folder. */
  dir: string;
  /** Absolute path of the ONNX graph. */
  onnxPath: string;
  /** Folder layout the model came in. */
  layout: 'optimum' | 'genai';
  kvStyle: KvStyle;
  /** Padding side the kv style needs. */
  paddingSide: 'left' | 'right';
  /** Whether several sequences may run a multi-token step on top of a past in one batch. */
  batchedMultiTokenWithPast: boolean;
  /**
   * Whether a prompt may be prefilled in chunks (a multi-token step on top of a past, batch 1). ONNX
   * Runtime GenAI exports with MultiHeadAttention cannot: their mask subgraph fails on it ("invalid expand
   * shape"), so their prompts are prefilled in one step.
   */
  chunkedPrefill: boolean;
  /**
   * False for graphs without past/present inputs (e.g. Optimum sequence-classification exports): they can
   * score (one full pass per sequence) but not generate.
   */
  hasKvCache: boolean;
  /**
   * Graph inputs. `logitsPositions`: the optional input naming which step positions' logits a
   * last-position-only graph computes (int64 [batch, k]; see src/modelgen/layers.ts); absent when the graph
   * has none.
   */
  inputs: { inputIds: string; attentionMask: string; positionIds?: string; pastKey: string[]; pastValue: string[]; logitsPositions?: string };
  outputs: { logits: string; presentKey: string[]; presentValue: string[] };
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  contextLength: number;
  kvType: FloatType;
  logitsType: FloatType;
  /** True when the graph returns logits for the last position only ([batch, 1, vocab]) unless asked for others. */
  lastLogitsOnly: boolean;
  /**
   * Whether a prefill can return every prompt position's logits (prompt logprobs): graphs with full logits,
   * or last-position-only graphs with a `logits_positions` input. False for a last-position-only graph
   * without one: requests for prompt logprobs are refused (400).
   */
  promptLogprobs: boolean;
  bosTokenId?: number;
  /** Token ids that end generation (unless ignore_eos). */
  eosTokenIds: number[];
  /** Reward readout, when the folder describes a reward model. */
  reward?: RewardReadout;
  /** Free-form description of where each fact came from, for start-up logs. */
  notes: string[];
}

/** Metadata of one graph input or output, as onnxruntime-node reports it. */
export interface IoMeta {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

/** A model folder could not be opened: the message names what is missing or wrong. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
}

function readJson(path: string): Record<string, any> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  } catch (err) {
    throw new ModelLoadError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Finds the ONNX graph of a model folder, for both layouts. */
export function findOnnxFile(dir: string, genaiConfig?: Record<string, any>): string {
  const candidates: string[] = [];
  const genaiFile = genaiConfig?.model?.decoder?.filename;
  if (typeof genaiFile === 'string') candidates.push(join(dir, genaiFile));
  candidates.push(join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx'));
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return c;
  throw new ModelLoadError(
    `${dir} is not a model folder: no ONNX graph found (looked for ${candidates.map((c) => c.slice(dir.length + 1)).join(', ')})`,
  );
}

/** Reads token ids of special tokens from tokenizer.json's added_tokens. */
function addedTokenIds(dir: string): Map<string, number> {
  const ids = new Map<string, number>();
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) return ids;
  // tokenizer.json can be large; only the added_tokens array is needed.
  const tok = JSON.parse(readFileSync(path, 'utf8')) as { added_tokens?: Array<{ id: number; content: string }> };
  for (const t of tok.added_tokens ?? []) ids.set(t.content, t.id);
  return ids;
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function asIdList(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

interface EosSources {
  generationConfig?: Record<string, any>;
  config?: Record<string, any>;
  genaiConfig?: Record<string, any>;
  tokenizerConfig?: Record<string, any>;
  added: Map<string, number>;
}

/**
 * Decides the stop token ids. generation_config.json wins, then config.json, then the tokenizer's
 * eos_token; genai_config.json's eos is used only when nothing else names one (its ids can disagree
 * with the tokenizer, as in the ONNX Runtime GenAI test model). Llama 3 turn enders (<|eot_id|>,
 * <|eom_id|>, <|end_of_text|>) are always added when the vocabulary has them.
 */
function resolveEos(src: EosSources, notes: string[]): number[] {
  const ids = new Set<number>();
  let from = '';
  for (const [name, cfg] of [
    ['generation_config.json', src.generationConfig],
    ['config.json', src.config],
  ] as const) {
    const list = asIdList(cfg?.eos_token_id);
    if (list.length > 0) {
      list.forEach((i) => ids.add(i));
      from = name;
      break;
    }
  }
  const tokEos = tokenContent(src.tokenizerConfig?.eos_token);
  if (tokEos !== undefined && src.added.has(tokEos)) {
    ids.add(src.added.get(tokEos)!);
    from ||= 'tokenizer_config.json';
  }
  const genaiEos = asIdList(src.genaiConfig?.model?.eos_token_id);
  if (ids.size === 0 && genaiEos.length > 0) {
    genaiEos.forEach((i) => ids.add(i));
    from = 'genai_config.json';
  } else if (genaiEos.some((i) => !ids.has(i))) {
    notes.push(`genai_config.json eos ${genaiEos.join(',')} disagrees with the tokenizer; using ${[...ids].join(',')}`);
  }
  for (const t of ['<|eot_id|>', '<|eom_id|>', '<|end_of_text|>']) {
    if (src.added.has(t)) ids.add(src.added.get(t)!);
  }
  if (from) notes.push(`eos ids from ${from}`);
  return [...ids].sort((a, b) => a - b);
}

function floatType(t: string, what: string): FloatType {
  if (t === 'float32' || t === 'float16') return t;
  throw new ModelLoadError(`${what} has element type ${t}; only float32 and float16 are supported`);
}

/** Names of the past/present tensors, from genai_config.json templates or the Optimum convention. */
function kvNames(numLayers: number, genai?: Record<string, any>) {
  const dec = genai?.model?.decoder;
  const t = (tmpl: unknown, fallback: string) => (typeof tmpl === 'string' ? tmpl : fallback);
  const fill = (tmpl: string) => Array.from({ length: numLayers }, (_, i) => tmpl.replace('%d', String(i)));
  return {
    inputIds: t(dec?.inputs?.input_ids, 'input_ids'),
    attentionMask: t(dec?.inputs?.attention_mask, 'attention_mask'),
    positionIds: t(dec?.inputs?.position_ids, 'position_ids'),
    pastKey: fill(t(dec?.inputs?.past_key_names, 'past_key_values.%d.key')),
    pastValue: fill(t(dec?.inputs?.past_value_names, 'past_key_values.%d.value')),
    logits: t(dec?.outputs?.logits, 'logits'),
    presentKey: fill(t(dec?.outputs?.present_key_names, 'present.%d.key')),
    presentValue: fill(t(dec?.outputs?.present_value_names, 'present.%d.value')),
  };
}

function countLayers(inputs: readonly IoMeta[]): number {
  let n = 0;
  for (const i of inputs) {
    const m = /(\d+)/.exec(i.name);
    if (m && /past/.test(i.name)) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

function requireIo(list: readonly IoMeta[], name: string, what: string, dir: string): IoMeta {
  const found = list.find((x) => x.name === name);
  if (!found) {
    throw new ModelLoadError(
      `${dir}: the ONNX graph has no ${what} named "${name}" (it has: ${list.map((x) => x.name).join(', ')})`,
    );
  }
  return found;
}

/** Reads the folder's JSON files; fails with a clear message when the folder is not a model. */
export function readModelFolder(dirIn: string) {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new ModelLoadError(`model folder ${dir} does not exist`);
  }
  const genaiConfig = readJson(join(dir, 'genai_config.json'));
  const config = readJson(join(dir, 'config.json'));
  if (!genaiConfig && !config) {
    throw new ModelLoadError(`${dir} is not a model folder: it has neither config.json nor genai_config.json`);
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!existsSync(join(dir, f))) throw new ModelLoadError(`${dir} is not a model folder: ${f} is missing`);
  }
  return {
    dir,
    genaiConfig,
    config,
    generationConfig: readJson(join(dir, 'generation_config.json')),
    tokenizerConfig: readJson(join(dir, 'tokenizer_config.json')),
    onnxPath: findOnnxFile(dir, genaiConfig),
  };
}

/**
 * Builds a ModelSpec from a folder and the graph's input/output metadata (from an
 * onnxruntime InferenceSession). Kept separate from session creation so it is testable and so the
 * worker that owns the session can call it.
 */
export function describeModel(dirIn: string, inputs: readonly IoMeta[], outputs: readonly IoMeta[]): ModelSpec {
  const f = readModelFolder(dirIn);
  const { dir, genaiConfig, config } = f;
  const notes: string[] = [];
  const configLayers =
    genaiConfig?.model?.decoder?.num_hidden_layers ?? config?.num_hidden_layers ?? countLayers(inputs);
  const probe = kvNames(1, genaiConfig);
  // A graph with no past inputs at all and a classification-style output is a scoring-only model.
  const hasKvCache = inputs.some((i) => i.name === probe.pastKey[0]) || !isClassifier(config);
  const numLayers = hasKvCache ? configLayers : 0;
  const names = kvNames(numLayers, genaiConfig);
  const inputIds = requireIo(inputs, names.inputIds, 'input', dir);
  requireIo(inputs, names.attentionMask, 'input', dir);
  const pastK0: IoMeta = hasKvCache
    ? requireIo(inputs, names.pastKey[0]!, 'input (KV cache)', dir)
    : { name: '', type: 'float32', shape: [1, 1, 0, 1] };
  for (let i = 0; i < numLayers; i++) {
    requireIo(inputs, names.pastKey[i]!, 'input (KV cache)', dir);
    requireIo(inputs, names.pastValue[i]!, 'input (KV cache)', dir);
    requireIo(outputs, names.presentKey[i]!, 'output (KV cache)', dir);
    requireIo(outputs, names.presentValue[i]!, 'output (KV cache)', dir);
  }
  if (inputIds.type !== 'int64') throw new ModelLoadError(`${dir}: input_ids must be int64, got ${inputIds.type}`);
  const logits = requireIo(outputs, names.logits, 'output', dir);
  const hasPositionIds = inputs.some((i) => i.name === names.positionIds);
  const kvStyle: KvStyle = hasPositionIds ? 'position_ids' : 'gqa';
  // GenAI builder exports that take position_ids use MultiHeadAttention with a mask subgraph of their own.
  const genaiMha = genaiConfig !== undefined && hasPositionIds;
  const dimNum = (v: number | string | undefined, fallback: number) => (typeof v === 'number' && v > 0 ? v : fallback);
  const numKvHeads = dimNum(pastK0.shape[1], genaiConfig?.model?.decoder?.num_key_value_heads ?? config?.num_key_value_heads);
  const headDim = dimNum(
    pastK0.shape[3],
    genaiConfig?.model?.decoder?.head_size ?? config?.head_dim ?? config?.hidden_size / config?.num_attention_heads,
  );
  // Logits are [batch, seq, vocab] for language models, [batch, labels] for classification heads.
  const vocabSize = dimNum(logits.shape[logits.shape.length - 1], genaiConfig?.model?.vocab_size ?? config?.vocab_size);
  const contextLength =
    genaiConfig?.model?.context_length ?? config?.max_position_embeddings ?? f.tokenizerConfig?.model_max_length ?? 2048;
  const lastLogitsOnly = logits.shape.length === 2 || logits.shape[1] === 1 || config?.nemotron_onnx?.last_logits_only === true;
  const logitsPositions = logitsPositionsInput(inputs, config);
  const added = addedTokenIds(dir);
  const eosTokenIds = resolveEos(
    { generationConfig: f.generationConfig, config, genaiConfig, tokenizerConfig: f.tokenizerConfig, added },
    notes,
  );
  const bosName = tokenContent(f.tokenizerConfig?.bos_token);
  const bosTokenId = (bosName !== undefined ? added.get(bosName) : undefined) ?? asIdList(config?.bos_token_id)[0];
  if (![numKvHeads, headDim, vocabSize].every((n) => Number.isInteger(n) && n > 0)) {
    throw new ModelLoadError(`${dir}: cannot tell KV heads / head size / vocab size from the graph or config files`);
  }
  return {
    dir,
    onnxPath: f.onnxPath,
    layout: genaiConfig ? 'genai' : 'optimum',
    kvStyle,
    paddingSide: kvStyle === 'gqa' ? 'right' : 'left',
    batchedMultiTokenWithPast: kvStyle !== 'gqa' && !genaiMha,
    chunkedPrefill: !genaiMha,
    hasKvCache,
    inputs: {
      inputIds: names.inputIds,
      attentionMask: names.attentionMask,
      positionIds: hasPositionIds ? names.positionIds : undefined,
      pastKey: names.pastKey,
      pastValue: names.pastValue,
      logitsPositions,
    },
    outputs: { logits: names.logits, presentKey: names.presentKey, presentValue: names.presentValue },
    numLayers,
    numKvHeads,
    headDim,
    vocabSize,
    contextLength,
    kvType: floatType(pastK0.type, names.pastKey[0] ?? 'past_key_values'),
    logitsType: floatType(logits.type, names.logits),
    lastLogitsOnly,
    promptLogprobs: logits.shape.length === 3 && (!lastLogitsOnly || logitsPositions !== undefined),
    bosTokenId,
    eosTokenIds,
    reward: rewardReadout(config, vocabSize),
    notes,
  };
}

/**
 * The graph's optional positions input: one the session lists by the name `logits_positions`, or the one
 * config.json's `nemotron_onnx.logits_positions` names (this project's builder makes it an overridable
 * initializer, which sessions do not list among their inputs).
 */
function logitsPositionsInput(inputs: readonly IoMeta[], config?: Record<string, any>): string | undefined {
  const listed = inputs.find((i) => i.name === 'logits_positions' && i.type === 'int64');
  if (listed) return listed.name;
  const named: unknown = config?.nemotron_onnx?.logits_positions;
  return typeof named === 'string' && named !== '' ? named : undefined;
}

/**
 * The reward readout a folder's config.json describes, read without opening the graph: a token-logit
 * readout, 'head' for classification heads, or undefined when the folder names none (a plain LM).
 */
export function folderRewardReadout(dir: string): RewardReadout | undefined {
  return rewardReadout(readModelFolder(dir).config, 1);
}

/** config.json describes a sequence-classification model (a reward/score head, not a language model). */
function isClassifier(config?: Record<string, any>): boolean {
  const arch: unknown = config?.architectures;
  return Array.isArray(arch) && arch.some((a) => typeof a === 'string' && a.endsWith('ForSequenceClassification'));
}

/**
 * Reads the reward readout: config.json's `nemotron_onnx.reward` block when present; else, for a
 * sequence-classification model, its head (attributes from `id2label`, or "score"). Language models get
 * no readout here: the server applies the Nemotron-70B-Reward-HF default (logit of token 0) when such a
 * model is served as a reward model.
 */
function rewardReadout(config: Record<string, any> | undefined, width: number): RewardReadout | undefined {
  const r = config?.nemotron_onnx?.reward ?? config?.reward;
  if (r?.readout === 'token_logit') return { kind: 'token_logit', tokenId: Number(r.token_id ?? 0) };
  if (r?.readout === 'head') {
    return { kind: 'head', attributes: r.attributes ?? ['score'], weights: r.weights };
  }
  if (isClassifier(config)) {
    const labels = config?.id2label as Record<string, string> | undefined;
    const attributes = Array.from({ length: width }, (_, i) => labels?.[String(i)] ?? (width === 1 ? 'score' : `label_${i}`));
    return { kind: 'head', attributes };
  }
  return undefined;
}

/** Throws when `spec`'s graph cannot run a step of `width` new tokens for `rows` rows over a past of `pastLength`. */
export function checkStepShape(spec: ModelSpec, pastLength: number, rows: number, width: number): void {
  if (pastLength === 0 || width === 1) return;
  if (rows > 1 && !spec.batchedMultiTokenWithPast) {
    throw new Error('this model cannot run a multi-token step with a past for several sequences at once');
  }
  if (!spec.chunkedPrefill) {
    throw new Error('this model cannot run a multi-token step on a past (its prompts are prefilled in one step)');
  }
}

/**
 * Whether decode steps can write the present into the past's buffer: GroupQueryAttention shares it
 * (past_present_share_buffer); graphs whose present is a new tensor (Concat, MultiHeadAttention) cannot.
 */
export function writesKvInPlace(spec: Pick<ModelSpec, 'kvStyle'>): boolean {
  return spec.kvStyle === 'gqa';
}
