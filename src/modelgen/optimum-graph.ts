/**
 * The Optimum / transformers.js graph, standard ONNX ops only (opset 17), so any runtime loads it.
 *
 * Inputs:
 *   input_ids                 int64 [batch_size, sequence_length]
 *   attention_mask            int64 [batch_size, total_sequence_length]   (total = past + sequence)
 *   position_ids              int64 [batch_size, sequence_length]
 *   past_key_values.{i}.key   T     [batch_size, num_kv_heads, past_sequence_length, head_dim]
 *   past_key_values.{i}.value T     [batch_size, num_kv_heads, past_sequence_length, head_dim]
 * Outputs:
 *   logits                    T     [batch_size, sequence_length, vocab]   ([batch_size, 1, vocab] when lastLogitsOnly)
 *   present.{i}.key|value     T     [batch_size, num_kv_heads, total_sequence_length, head_dim]
 *
 * Masking: query i (0-based within this step) may attend key j iff j <= past + i (causal, with
 * past = total - sequence) and attention_mask[b, j] = 1. Masked scores are replaced (Where, not added)
 * by float32's lowest value, so a fully masked row (a left-padding query) stays finite instead of NaN.
 * Left padding and multi-token steps over a past work for every row of a batch.
 *
 * lastLogitsOnly: logits of the last column (sequence index sequence_length-1) of every row. With left
 * padding that is each row's last real token.
 *
 * logitsPositions (with lastLogitsOnly): one more, optional, input
 *   logits_positions          int64 [batch_size, num_logits]   default [[-1]] (an initializer)
 * and logits [batch_size, num_logits, vocab] at those columns (-1: the last column, as above), so a
 * prefill can ask for every prompt position (prompt logprobs) while other runs stay unchanged.
 */
import { GraphBuilder } from './graph-builder.ts';
import { cast, dimOf, gatherLogitsPositions, rmsNorm, SLICE_END, swiGluMlp, toScalar } from './layers.ts';
import { llama3InvFreq } from './rope.ts';
import { hasLogitsPositions, outputWidth, type BuildSpec } from './spec.ts';
import { declareWeights, type LayerWeights } from './weights.ts';

const FLOAT32_LOWEST = -3.4028234663852886e38;

/** Builds the Optimum-style graph for `spec`. */
export function buildOptimumGraph(spec: BuildSpec): GraphBuilder {
  const g = new GraphBuilder();
  const dt = spec.dtype;
  const kvDims = ['batch_size', spec.numKvHeads, 'past_sequence_length', spec.headDim];
  const presentDims = ['batch_size', spec.numKvHeads, 'total_sequence_length', spec.headDim];
  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  for (let i = 0; i < spec.numLayers; i++) {
    g.input(`past_key_values.${i}.key`, dt, kvDims);
    g.input(`past_key_values.${i}.value`, dt, kvDims);
  }
  const w = declareWeights(g, spec);
  const invFreq = g.initializer('model.rotary_emb.inv_freq', 'float32', [spec.headDim / 2], {
    kind: 'values',
    values: llama3InvFreq(spec.headDim, spec.ropeTheta, spec.ropeScaling),
  });

  const allowed = g.withScope('/model/attn_mask', () => attentionAllowed(g, inputIds, attentionMask));
  const rope = g.withScope('/model/rotary_emb', () => rotaryCosSin(g, positionIds, invFreq, spec));
  let x = g.withScope('/model/embed_tokens', () => g.op('Gather', [w.embed, inputIds], { axis: 0 }));
  for (let i = 0; i < spec.numLayers; i++) {
    x = g.withScope(`/model/layers.${i}`, () => decoderLayer(g, spec, i, x, w.layers[i]!, allowed, rope));
  }
  const positions = hasLogitsPositions(spec);
  g.withScope('/model/norm', () => {
    if (positions) {
      const last = g.op('Reshape', [g.op('Sub', [dimOf(g, inputIds, 1), g.i64([1])]), g.i64([1, 1])]);
      x = gatherLogitsPositions(g, x, inputIds, last, spec.hiddenSize);
    } else if (spec.lastLogitsOnly) {
      x = g.op('Slice', [x, g.i64([-1]), g.i64([SLICE_END]), g.i64([1])]);
    }
    x = rmsNorm(g, x, w.finalNorm, spec.rmsNormEps, dt);
  });
  g.withScope('/lm_head', () => g.op('MatMul', [x, w.lmHead], {}, { outputs: ['logits'] }));
  const logitsRows = positions ? 'num_logits' : spec.lastLogitsOnly ? 1 : 'sequence_length';
  g.output('logits', dt, ['batch_size', logitsRows, outputWidth(spec)]);
  for (let i = 0; i < spec.numLayers; i++) {
    g.output(`present.${i}.key`, dt, presentDims);
    g.output(`present.${i}.value`, dt, presentDims);
  }
  return g;
}

/** bool [batch, 1, 1, seq, total]: causal (j <= past + i) AND attention_mask[b, j]. */
function attentionAllowed(g: GraphBuilder, inputIds: string, attentionMask: string): string {
  const seq = dimOf(g, inputIds, 1);
  const total = dimOf(g, attentionMask, 1);
  const past = g.op('Sub', [total, seq]);
  const zero = g.i64Scalar(0);
  const one = g.i64Scalar(1);
  const queryPos = g.op('Add', [g.op('Range', [zero, toScalar(g, seq), one]), past]); // [seq]
  const keyPos = g.op('Range', [zero, toScalar(g, total), one]); // [total]
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyPos, g.i64([0])]),
    g.op('Unsqueeze', [queryPos, g.i64([1])]),
  ]); // [seq, total]
  const padding = g.op('Unsqueeze', [cast(g, attentionMask, 'bool'), g.i64([1, 2, 3])]); // [b,1,1,1,total]
  return g.op('And', [causal, padding]);
}

interface CosSin {
  cos: string;
  sin: string;
}

/** cos/sin [batch, 1, seq, head_dim] from position_ids and inv_freq (float32, cast to the model dtype). */
function rotaryCosSin(g: GraphBuilder, positionIds: string, invFreq: string, spec: BuildSpec): CosSin {
  const pos = g.op('Unsqueeze', [cast(g, positionIds, 'float32'), g.i64([2])]); // [b, s, 1]
  const freqs = g.op('Mul', [pos, invFreq]); // [b, s, d/2]
  const emb = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), g.i64([1])]); // [b,1,s,d]
  let cos = g.op('Cos', [emb]);
  let sin = g.op('Sin', [emb]);
  if (spec.dtype === 'float16') {
    cos = cast(g, cos, 'float16');
    sin = cast(g, sin, 'float16');
  }
  return { cos, sin };
}

/** x*cos + rotate_half(x)*sin on [b, heads, s, d] (non-interleaved halves, as Llama). */
function applyRotary(g: GraphBuilder, x: string, rope: CosSin, headDim: number): string {
  const half = headDim / 2;
  const axis = g.i64([3]);
  const x1 = g.op('Slice', [x, g.i64([0]), g.i64([half]), axis]);
  const x2 = g.op('Slice', [x, g.i64([half]), g.i64([headDim]), axis]);
  const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
  return g.op('Add', [g.op('Mul', [x, rope.cos]), g.op('Mul', [rotated, rope.sin])]);
}

function decoderLayer(
  g: GraphBuilder,
  spec: BuildSpec,
  i: number,
  x: string,
  w: LayerWeights,
  allowed: string,
  rope: CosSin,
): string {
  const h = rmsNorm(g, x, w.inputNorm, spec.rmsNormEps, spec.dtype);
  const attn = g.withScope(`/model/layers.${i}/self_attn`, () => attention(g, spec, i, h, w, allowed, rope));
  const x1 = g.op('Add', [x, attn]);
  const h2 = rmsNorm(g, x1, w.postAttentionNorm, spec.rmsNormEps, spec.dtype);
  const mlp = g.withScope(`/model/layers.${i}/mlp`, () => swiGluMlp(g, h2, w));
  return g.op('Add', [x1, mlp]);
}

/** Grouped-query attention over [past; new] keys; writes present.{i}.key|value. */
function attention(
  g: GraphBuilder,
  spec: BuildSpec,
  i: number,
  h: string,
  w: LayerWeights,
  allowed: string,
  rope: CosSin,
): string {
  const { numHeads: nq, numKvHeads: nkv, headDim: d } = spec;
  const group = nq / nkv;
  const heads = (proj: string, n: number) =>
    g.op('Transpose', [g.op('Reshape', [g.op('MatMul', [h, proj]), g.i64([0, 0, n, d])])], { perm: [0, 2, 1, 3] });
  const q = applyRotary(g, heads(w.q, nq), rope, d); // [b, nq, s, d]
  const k = applyRotary(g, heads(w.k, nkv), rope, d); // [b, nkv, s, d]
  const v = heads(w.v, nkv);
  const presentK = g.op('Concat', [`past_key_values.${i}.key`, k], { axis: 2 }, { outputs: [`present.${i}.key`] });
  const presentV = g.op('Concat', [`past_key_values.${i}.value`, v], { axis: 2 }, { outputs: [`present.${i}.value`] });
  // Query head n uses KV head floor(n / group) (transformers' repeat_kv): view q as [b, nkv, group, s, d]
  // and broadcast K/V over the group axis instead of copying them.
  const qGrouped = g.op('Reshape', [q, g.i64([0, nkv, group, -1, d])]);
  const kT = g.op('Unsqueeze', [g.op('Transpose', [presentK], { perm: [0, 1, 3, 2] }), g.i64([2])]); // [b,nkv,1,d,t]
  let scores = g.op('MatMul', [qGrouped, kT]); // [b, nkv, group, s, t]
  if (spec.dtype === 'float16') scores = cast(g, scores, 'float32');
  scores = g.op('Mul', [scores, g.constant('float32', [1 / Math.sqrt(d)], [])]);
  const masked = g.op('Where', [allowed, scores, g.constant('float32', [FLOAT32_LOWEST], [])]);
  let probs = g.op('Softmax', [masked], { axis: -1 });
  if (spec.dtype === 'float16') probs = cast(g, probs, 'float16');
  const context = g.op('MatMul', [probs, g.op('Unsqueeze', [presentV, g.i64([2])])]); // [b, nkv, group, s, d]
  const merged = g.op('Reshape', [
    g.op('Transpose', [g.op('Reshape', [context, g.i64([0, nq, -1, d])])], { perm: [0, 2, 1, 3] }),
    g.i64([0, 0, nq * d]),
  ]);
  return g.op('MatMul', [merged, w.o]);
}
