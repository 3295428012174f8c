/**
 * Graph pieces shared by both I/O styles, in standard ONNX ops.
 */
import type { GraphBuilder } from './graph-builder.ts';
import { ONNX_DTYPE } from './tensors.ts';
import type { WeightDType } from './spec.ts';
import type { LayerWeights } from './weights.ts';

/** Largest value Slice accepts as "to the end" here (exactly representable; Slice clamps it). */
export const SLICE_END = Number.MAX_SAFE_INTEGER;

/** Cast node to an element type. */
export function cast(g: GraphBuilder, x: string, to: 'float32' | 'float16' | 'int32' | 'int64' | 'bool'): string {
  return g.op('Cast', [x], { to: ONNX_DTYPE[to] });
}

/**
 * RMSNorm in standard ops, computed in float32 whatever the model dtype (as transformers' LlamaRMSNorm
 * upcasts): y = weight * (x / sqrt(mean(x²) + eps)).
 */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number, dtype: WeightDType): string {
  const x32 = dtype === 'float16' ? cast(g, x, 'float32') : x;
  const sq = g.op('Mul', [x32, x32]);
  const meanSq = g.op('ReduceMean', [sq], { axes: [-1], keepdims: 1 });
  const denom = g.op('Sqrt', [g.op('Add', [meanSq, g.constant('float32', [eps], [])])]);
  let y = g.op('Div', [x32, denom]);
  if (dtype === 'float16') y = cast(g, y, 'float16');
  return g.op('Mul', [y, weight]);
}

/** SwiGLU MLP: down(silu(gate(x)) * up(x)), with silu(z) = z * sigmoid(z). */
export function swiGluMlp(g: GraphBuilder, x: string, w: LayerWeights): string {
  const gate = g.op('MatMul', [x, w.gate]);
  const up = g.op('MatMul', [x, w.up]);
  const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
  return g.op('MatMul', [g.op('Mul', [silu, up]), w.down]);
}

/** Dims of a tensor as a 1-element int64 vector: Shape(x)[axis]. */
export function dimOf(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Shape', [x], { start: axis, end: axis + 1 });
}

/** A 1-element int64 vector as a scalar. */
export function toScalar(g: GraphBuilder, v: string): string {
  return g.op('Squeeze', [v, g.i64([0])]);
}

/** Name of the optional positions input of graphs built with `logitsPositions`. */
export const LOGITS_POSITIONS = 'logits_positions';

/**
 * Declares the optional input `logits_positions` (int64 [batch_size, num_logits]; an initializer of the
 * same name, [[-1]], is its default, so callers that do not feed it get one position per row) and
 * gathers `h`'s rows at those step positions: [batch, num_logits, hidden]. Position p >= 0 is column p of
 * this step's input_ids (0 <= p < sequence_length, else the run fails); p < 0 is `last`, int64 [batch or
 * 1, 1]: each row's last real token.
 */
export function gatherLogitsPositions(g: GraphBuilder, h: string, inputIds: string, last: string, hidden: number): string {
  g.input(LOGITS_POSITIONS, 'int64', ['batch_size', 'num_logits']);
  g.initializer(LOGITS_POSITIONS, 'int64', [1, 1], { kind: 'values', values: [-1] });
  // [1, 1] (the default) broadcasts to [batch, 1]; a fed [batch, k] stays as it is.
  const rows = g.op('Concat', [dimOf(g, inputIds, 0), g.i64([1])], { axis: 0 });
  const positions = g.op('Expand', [LOGITS_POSITIONS, rows]);
  const index = g.op('Where', [g.op('Less', [positions, g.i64Scalar(0)]), last, positions]); // [batch, k]
  const expanded = g.op('Expand', [g.op('Unsqueeze', [index, g.i64([2])]), g.i64([1, 1, hidden])]);
  return g.op('GatherElements', [h, expanded], { axis: 1 });
}
