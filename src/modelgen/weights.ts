/**
 * The model's weight tensors: names, shapes and random sources. Both I/O styles declare the same
 * weights under the same names, so two specs that differ only in ioStyle compute the same function.
 *
 * Layout: projection weights are stored transposed relative to PyTorch's Linear, i.e. [in, out], so the
 * graph multiplies `x @ W` (the GenAI builder's `*.MatMul.weight` convention). The embedding is
 * [vocab, hidden]; lm_head is [hidden, vocab] (untied).
 */
import type { GraphBuilder } from './graph-builder.ts';
import { outputWidth, type BuildSpec } from './spec.ts';

/** Initializer names of one decoder layer. */
export interface LayerWeights {
  inputNorm: string;
  q: string;
  k: string;
  v: string;
  o: string;
  postAttentionNorm: string;
  gate: string;
  up: string;
  down: string;
}

/** Initializer names of the whole model. */
export interface ModelWeights {
  embed: string;
  layers: LayerWeights[];
  finalNorm: string;
  lmHead: string;
}

/** Names used for layer `i` (also what reference.ts reads back). */
export function layerWeightNames(i: number): LayerWeights {
  const p = `model.layers.${i}`;
  return {
    inputNorm: `${p}.input_layernorm.weight`,
    q: `${p}.self_attn.q_proj.MatMul.weight`,
    k: `${p}.self_attn.k_proj.MatMul.weight`,
    v: `${p}.self_attn.v_proj.MatMul.weight`,
    o: `${p}.self_attn.o_proj.MatMul.weight`,
    postAttentionNorm: `${p}.post_attention_layernorm.weight`,
    gate: `${p}.mlp.gate_proj.MatMul.weight`,
    up: `${p}.mlp.up_proj.MatMul.weight`,
    down: `${p}.mlp.down_proj.MatMul.weight`,
  };
}

/** Names of the non-layer weights. */
export const MODEL_WEIGHT_NAMES = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.MatMul.weight',
} as const;

/** Declares every weight of `spec` on the graph (random, seeded by spec.seed and the tensor name). */
export function declareWeights(g: GraphBuilder, spec: BuildSpec): ModelWeights {
  const { hiddenSize: h, intermediateSize: inter, headDim: d, seed, dtype } = spec;
  const { embedStd, gain, residualGain, normStd, logitStd } = spec.init;
  const random = (name: string, dims: number[], std: number) =>
    g.initializer(name, dtype, dims, { kind: 'uniform', seed, mean: 0, std });
  /** [fanIn, out] projection with std gain / sqrt(fanIn). */
  const dense = (name: string, dims: [number, number], scale = gain) => random(name, dims, scale / Math.sqrt(dims[0]));
  const residualScale = residualGain / Math.sqrt(2 * spec.numLayers);
  const norm = (name: string) => g.initializer(name, dtype, [h], { kind: 'uniform', seed, mean: 1, std: normStd });

  const embed = random(MODEL_WEIGHT_NAMES.embed, [spec.vocabSize, h], embedStd);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const n = layerWeightNames(i);
    norm(n.inputNorm);
    dense(n.q, [h, spec.numHeads * d]);
    dense(n.k, [h, spec.numKvHeads * d]);
    dense(n.v, [h, spec.numKvHeads * d]);
    dense(n.o, [spec.numHeads * d, h], residualScale);
    norm(n.postAttentionNorm);
    dense(n.gate, [h, inter]);
    dense(n.up, [h, inter]);
    dense(n.down, [inter, h], residualScale);
    layers.push(n);
  }
  const finalNorm = norm(MODEL_WEIGHT_NAMES.finalNorm);
  const lmHead = dense(MODEL_WEIGHT_NAMES.lmHead, [h, outputWidth(spec)], logitStd);
  return { embed, layers, finalNorm, lmHead };
}
