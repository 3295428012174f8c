/**
 * The ONNX Runtime GenAI builder graph: com.microsoft GroupQueryAttention (rotary inside the kernel,
 * from cos/sin cache initializers carrying the llama3-scaled frequencies), SimplifiedLayerNormalization
 * and SkipSimplifiedLayerNormalization.
 *
 * Inputs:
 *   input_ids                 int64 [batch_size, sequence_length]
 *   attention_mask            int64 [batch_size, total_sequence_length]
 *   past_key_values.{i}.key   T     [batch_size, num_kv_heads, past_sequence_length, head_dim]
 *   past_key_values.{i}.value T     [batch_size, num_kv_heads, past_sequence_length, head_dim]
 * Outputs:
 *   logits                    T     [batch_size, sequence_length, vocab]   ([batch_size, 1, vocab] when lastLogitsOnly)
 *   present.{i}.key|value     T     [batch_size, num_kv_heads, total_sequence_length, head_dim]
 *
 * As the GenAI builder does, the graph derives GroupQueryAttention's extra inputs from the mask:
 *   seqlens_k             = int32(ReduceSum(attention_mask, axis 1) - 1)      [batch]
 *   total_sequence_length = int32(Shape(attention_mask)[1])                    scalar
 * Padding must be on the RIGHT: the kernel takes row b's valid tokens to be the first
 * sum(attention_mask[b]) positions, derives positions from them, and writes this step's keys/values at
 * [sum(mask[b]) - sequence_length, sum(mask[b])) of present (slots past that hold garbage and are never read).
 * A multi-token step over a non-empty past is only accepted for batch size 1 (the kernel's rule).
 *
 * lastLogitsOnly: for row b, the logits at step index
 *   clamp(sum(attention_mask[b]) - 1 - past_sequence_length, 0, sequence_length - 1)
 * where past_sequence_length = total_sequence_length - sequence_length (the tensor width). In a
 * right-padded prompt (empty past) that is the row's last real token; in a one-token decode step it is
 * index 0; in a batch-1 multi-token step over a past it is the last index.
 *
 * logitsPositions (with lastLogitsOnly): the optional input logits_positions int64 [batch_size, num_logits]
 * (default [[-1]]) picks step indexes (negative: the index above), logits [batch_size, num_logits, vocab].
 */
import { GraphBuilder } from './graph-builder.ts';
import { cast, dimOf, gatherLogitsPositions, swiGluMlp } from './layers.ts';
import { llama3InvFreq, rotaryTables } from './rope.ts';
import { hasLogitsPositions, type BuildSpec } from './spec.ts';
import { declareWeights } from './weights.ts';

const MS = { domain: 'com.microsoft' };

/** Builds the GenAI-style graph for `spec`. */
export function buildGenaiGraph(spec: BuildSpec): GraphBuilder {
  const g = new GraphBuilder();
  const dt = spec.dtype;
  const { numHeads: nq, numKvHeads: nkv, headDim: d } = spec;
  const kvDims = ['batch_size', nkv, 'past_sequence_length', d];
  const presentDims = ['batch_size', nkv, 'total_sequence_length', d];
  const inputIds = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const attentionMask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  for (let i = 0; i < spec.numLayers; i++) {
    g.input(`past_key_values.${i}.key`, dt, kvDims);
    g.input(`past_key_values.${i}.value`, dt, kvDims);
  }
  const w = declareWeights(g, spec);
  const tables = rotaryTables(llama3InvFreq(d, spec.ropeTheta, spec.ropeScaling), spec.contextLength);
  const cosCache = g.initializer('cos_cache', dt, [spec.contextLength, d / 2], { kind: 'values', values: tables.cos });
  const sinCache = g.initializer('sin_cache', dt, [spec.contextLength, d / 2], { kind: 'values', values: tables.sin });

  const maskSum = g.withScope('/model/attn_mask_reformat', () =>
    g.op('ReduceSum', [attentionMask, g.i64([1])], { keepdims: 0 }),
  ); // int64 [batch]
  const seqlensK = g.withScope('/model/attn_mask_reformat', () =>
    cast(g, g.op('Sub', [maskSum, g.i64Scalar(1)]), 'int32'),
  );
  const totalLen = g.withScope('/model/attn_mask_reformat', () =>
    cast(g, g.op('Gather', [g.op('Shape', [attentionMask]), g.i64Scalar(1)], { axis: 0 }), 'int32'),
  );
  const epsilon = { f: spec.rmsNormEps };

  let residual = g.withScope('/model/embed_tokens', () => g.op('Gather', [w.embed, inputIds], { axis: 0 }));
  let h = g.withScope('/model/layers.0/input_layernorm', () =>
    g.op('SimplifiedLayerNormalization', [residual, w.layers[0]!.inputNorm], { axis: -1, epsilon, stash_type: 1 }),
  );
  const skipNorm = (x: string, weight: string): string => {
    const [out, , , sum] = g.node('SkipSimplifiedLayerNormalization', [x, residual, weight], { epsilon }, {
      ...MS,
      outputs: 4,
    });
    residual = sum!;
    return out!;
  };
  for (let i = 0; i < spec.numLayers; i++) {
    const lw = w.layers[i]!;
    g.withScope(`/model/layers.${i}`, () => {
      const q = g.op('MatMul', [h, lw.q]);
      const k = g.op('MatMul', [h, lw.k]);
      const v = g.op('MatMul', [h, lw.v]);
      const pastK = `past_key_values.${i}.key`;
      const pastV = `past_key_values.${i}.value`;
      const [attn] = g.node(
        'GroupQueryAttention',
        [q, k, v, pastK, pastV, seqlensK, totalLen, cosCache, sinCache],
        { num_heads: nq, kv_num_heads: nkv, scale: { f: 1 / Math.sqrt(d) }, do_rotary: 1, rotary_interleaved: 0, local_window_size: -1 },
        { ...MS, outputs: [`/model/layers.${i}/attn/output`, `present.${i}.key`, `present.${i}.value`] },
      );
      const o = g.op('MatMul', [attn!, lw.o]);
      const h2 = skipNorm(o, lw.postAttentionNorm);
      const mlp = swiGluMlp(g, h2, lw);
      const nextNorm = i + 1 < spec.numLayers ? w.layers[i + 1]!.inputNorm : w.finalNorm;
      h = skipNorm(mlp, nextNorm);
    });
  }
  const positions = hasLogitsPositions(spec);
  if (positions) {
    h = g.withScope('/model/last_token', () => {
      const last = g.op('Reshape', [lastValidIndex(g, inputIds, attentionMask, maskSum), g.i64([-1, 1])]);
      return gatherLogitsPositions(g, h, inputIds, last, spec.hiddenSize);
    });
  } else if (spec.lastLogitsOnly) {
    h = g.withScope('/model/last_token', () => gatherLastValid(g, h, inputIds, attentionMask, maskSum, spec.hiddenSize));
  }
  g.withScope('/lm_head', () => g.op('MatMul', [h, w.lmHead], {}, { outputs: ['logits'] }));
  const logitsRows = positions ? 'num_logits' : spec.lastLogitsOnly ? 1 : 'sequence_length';
  g.output('logits', dt, ['batch_size', logitsRows, spec.vocabSize]);
  for (let i = 0; i < spec.numLayers; i++) {
    g.output(`present.${i}.key`, dt, presentDims);
    g.output(`present.${i}.value`, dt, presentDims);
  }
  return g;
}

/** int64 [batch]: clamp(sum(mask[b]) - 1 - past, 0, seq - 1), each row's last real step index. */
function lastValidIndex(g: GraphBuilder, inputIds: string, attentionMask: string, maskSum: string): string {
  const seq = dimOf(g, inputIds, 1);
  const past = g.op('Sub', [dimOf(g, attentionMask, 1), seq]);
  const raw = g.op('Sub', [g.op('Sub', [maskSum, g.i64Scalar(1)]), past]);
  return g.op('Min', [g.op('Max', [raw, g.i64Scalar(0)]), g.op('Sub', [seq, g.i64Scalar(1)])]);
}

/** h[b, lastValidIndex(b), :] as [batch, 1, hidden]. */
function gatherLastValid(
  g: GraphBuilder,
  h: string,
  inputIds: string,
  attentionMask: string,
  maskSum: string,
  hidden: number,
): string {
  const clamped = lastValidIndex(g, inputIds, attentionMask, maskSum);
  const index = g.op('Expand', [g.op('Reshape', [clamped, g.i64([-1, 1, 1])]), g.i64([1, 1, hidden])]);
  return g.op('GatherElements', [h, index], { axis: 1 });
}
