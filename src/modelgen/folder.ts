/**
 * Writes a complete model folder for a {@link BuildSpec}.
 *
 * Optimum / transformers.js layout:       GenAI layout (the GenAI builder's, plus HF files):
 *   config.json                             config.json
 *   generation_config.json                  generation_config.json
 *   tokenizer.json                          genai_config.json
 *   tokenizer_config.json                   model.onnx
 *   special_tokens_map.json                 model.onnx.data          (external data only)
 *   onnx/model.onnx                         tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   onnx/model.onnx_data  (external only)
 *
 * The folder is written under a temporary name and renamed into place at the end, so an interrupted
 * build never leaves a folder that {@link isModelFolderComplete} accepts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { buildGenaiGraph } from './genai-graph.ts';
import { LOGITS_POSITIONS } from './layers.ts';
import { writeOnnxModel } from './onnx-writer.ts';
import { buildOptimumGraph } from './optimum-graph.ts';
import {
  BUILDER_VERSION,
  EXTERNAL_DATA_THRESHOLD,
  hasLogitsPositions,
  parameterCount,
  specFingerprint,
  type BuildSpec,
} from './spec.ts';
import { LLAMA31_TOKENS, writeLlama31TokenizerFiles } from './tokenizer-files.ts';

const EOS_IDS = [LLAMA31_TOKENS.endOfText, LLAMA31_TOKENS.eom, LLAMA31_TOKENS.eot];

/** Where the graph and its side file live in a folder of this spec's style. */
export function onnxPaths(spec: BuildSpec): { model: string; data: string } {
  return spec.ioStyle === 'genai'
    ? { model: 'model.onnx', data: 'model.onnx.data' }
    : { model: join('onnx', 'model.onnx'), data: join('onnx', 'model.onnx_data') };
}

/** Whether `spec`'s weights go to a side file. */
export function usesExternalData(spec: BuildSpec): boolean {
  if (spec.externalData !== 'auto') return spec.externalData === 'always';
  const bytesPerWeight = spec.dtype === 'float16' ? 2 : 4;
  return parameterCount(spec) * bytesPerWeight > EXTERNAL_DATA_THRESHOLD;
}

/** Relative paths every complete folder of `spec` has. */
export function expectedFiles(spec: BuildSpec): string[] {
  const files = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
  const p = onnxPaths(spec);
  files.push(p.model);
  if (usesExternalData(spec)) files.push(p.data);
  if (spec.ioStyle === 'genai') files.push('genai_config.json');
  return files;
}

/** config.json in the transformers LlamaConfig format, plus this builder's `nemotron_onnx` block. */
export function hfConfig(spec: BuildSpec): Record<string, unknown> {
  const external = usesExternalData(spec);
  const config: Record<string, unknown> = {
    architectures: [spec.numLabels ? 'LlamaForSequenceClassification' : 'LlamaForCausalLM'],
    ...(spec.numLabels ? { num_labels: spec.numLabels } : {}),
    attention_bias: false,
    attention_dropout: 0,
    bos_token_id: LLAMA31_TOKENS.bos,
    eos_token_id: EOS_IDS,
    head_dim: spec.headDim,
    hidden_act: 'silu',
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    max_position_embeddings: spec.contextLength,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: spec.numHeads,
    num_hidden_layers: spec.numLayers,
    num_key_value_heads: spec.numKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: spec.rmsNormEps,
    rope_scaling: spec.ropeScaling,
    rope_theta: spec.ropeTheta,
    tie_word_embeddings: false,
    torch_dtype: spec.dtype,
    use_cache: true,
    vocab_size: spec.vocabSize,
    nemotron_onnx: {
      builder_version: BUILDER_VERSION,
      spec_fingerprint: specFingerprint(spec),
      io_style: spec.ioStyle,
      padding_side: spec.ioStyle === 'genai' ? 'right' : 'left',
      last_logits_only: spec.lastLogitsOnly,
      // The optional positions input is an overridable initializer, which sessions do not list as an input.
      ...(hasLogitsPositions(spec) ? { logits_positions: LOGITS_POSITIONS } : {}),
      dtype: spec.dtype,
      seed: spec.seed,
      onnx_file: onnxPaths(spec).model.split('\\').join('/'),
      external_data: external,
      ...(spec.reward ? { reward: spec.reward } : {}),
    },
  };
  if (spec.ioStyle === 'optimum' && external) config['transformers.js_config'] = { use_external_data_format: true };
  return config;
}

/**
 * generation_config.json as Llama 3.1 Instruct ships it, plus `max_new_tokens`: the server's default
 * max_tokens for these models (generation-defaults.ts), small enough that a first request without
 * max_tokens answers in a few seconds on a laptop (the default model decodes about 100 tokens/s on 2 cores).
 */
export function generationConfig(): Record<string, unknown> {
  return { bos_token_id: LLAMA31_TOKENS.bos, do_sample: true, eos_token_id: EOS_IDS, temperature: 0.6, top_p: 0.9, max_new_tokens: DEFAULT_MAX_NEW_TOKENS };
}

/** max_new_tokens of the embedded models' generation_config.json. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

/** genai_config.json in the ONNX Runtime GenAI format (see the GenAI builder's output). */
export function genaiConfig(spec: BuildSpec): Record<string, unknown> {
  return {
    model: {
      bos_token_id: LLAMA31_TOKENS.bos,
      context_length: spec.contextLength,
      decoder: {
        session_options: { log_id: 'onnxruntime-genai', provider_options: [] },
        filename: 'model.onnx',
        head_size: spec.headDim,
        hidden_size: spec.hiddenSize,
        inputs: {
          input_ids: 'input_ids',
          attention_mask: 'attention_mask',
          past_key_names: 'past_key_values.%d.key',
          past_value_names: 'past_key_values.%d.value',
        },
        outputs: {
          logits: 'logits',
          present_key_names: 'present.%d.key',
          present_value_names: 'present.%d.value',
        },
        num_attention_heads: spec.numHeads,
        num_hidden_layers: spec.numLayers,
        num_key_value_heads: spec.numKvHeads,
      },
      eos_token_id: EOS_IDS,
      pad_token_id: EOS_IDS[0],
      type: 'llama',
      vocab_size: spec.vocabSize,
    },
    search: {
      diversity_penalty: 0,
      do_sample: true,
      early_stopping: true,
      length_penalty: 1,
      max_length: spec.contextLength,
      min_length: 0,
      no_repeat_ngram_size: 0,
      num_beams: 1,
      num_return_sequences: 1,
      // The graph's past/present are separate growing tensors (present = past + new), not one shared buffer.
      past_present_share_buffer: false,
      repetition_penalty: 1,
      temperature: 0.6,
      top_k: 50,
      top_p: 0.9,
    },
  };
}

/** What a build wrote. */
export interface BuiltModel {
  dir: string;
  spec: BuildSpec;
  parameters: number;
  /** Relative path → size in bytes. */
  files: Record<string, number>;
  seconds: number;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/**
 * Builds `spec` into `dir` (replacing what is there). Same spec ⇒ byte-identical files.
 */
export function buildModelFolder(spec: BuildSpec, dir: string): BuiltModel {
  const started = performance.now();
  mkdirSync(dirname(dir), { recursive: true });
  removeStalePartials(dir);
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, 'config.json'), json(hfConfig(spec)));
    writeFileSync(join(tmp, 'generation_config.json'), json(generationConfig()));
    writeLlama31TokenizerFiles(tmp);
    if (spec.ioStyle === 'genai') writeFileSync(join(tmp, 'genai_config.json'), json(genaiConfig(spec)));
    const paths = onnxPaths(spec);
    mkdirSync(dirname(join(tmp, paths.model)), { recursive: true });
    const graph = spec.ioStyle === 'genai' ? buildGenaiGraph(spec) : buildOptimumGraph(spec);
    writeOnnxModel(join(tmp, paths.model), graph, {
      externalDataFile: usesExternalData(spec) ? basename(paths.data) : undefined,
      graphName: `llama31_${spec.ioStyle}`,
      docString: `Random-weight Llama 3.1 architecture (seed ${spec.seed}), ${spec.ioStyle} I/O style.`,
    });
    const missing = expectedFiles(spec).filter((f) => !existsSync(join(tmp, f)));
    if (missing.length) throw new Error(`build of ${dir} did not write ${missing.join(', ')}`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const files: Record<string, number> = {};
  for (const f of listFiles(dir)) files[f] = statSync(join(dir, f)).size;
  return { dir, spec, parameters: parameterCount(spec), files, seconds: (performance.now() - started) / 1000 };
}

/** True when `dir` holds every file of `spec` and its config.json was written for this very spec. */
export function isModelFolderComplete(dir: string, spec: BuildSpec): boolean {
  if (!expectedFiles(spec).every((f) => existsSync(join(dir, f)))) return false;
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, any>;
    return config.nemotron_onnx?.spec_fingerprint === specFingerprint(spec);
  } catch {
    return false;
  }
}

/** Relative paths of all files under `dir`, sorted. */
export function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? join(prefix, name) : name;
    if (statSync(join(dir, rel)).isDirectory()) out.push(...listFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** Removes `<dir>.partial-<pid>` leftovers of builds whose process is gone. */
function removeStalePartials(dir: string): void {
  const prefix = `${basename(dir)}.partial-`;
  for (const name of readdirSync(dirname(dir))) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) continue;
    rmSync(join(dirname(dir), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
