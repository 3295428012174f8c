/**
 * Readout-aware graphs. A reward model read as the logit of one token (Nemotron-70B-Reward-HF reads
 * token 0) computes the whole vocabulary's logits to keep one: on the default model that output layer
 * is most of the work of a scoring pass. When the graph's logits come from a MatMul with a float weight
 * initializer [hidden, vocab] (inline or in external data), `pruneTokenReadout` writes a copy of the graph
 * whose weight holds only the readout columns, so the pass computes just what is read. Other graphs
 * (quantized output layers, Gemm, tied embeddings behind a Transpose…) are used as they are.
 *
 * The copy stays in memory: ONNX Runtime loads it from bytes and finds the other initializers' external
 * data in the original folder (`externalDataDir`).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** A pruned graph: its bytes, where its external data lives, and the column each readout token now occupies. */
export interface PrunedReadout {
  bytes: Uint8Array;
  externalDataDir: string;
  columns: Map<number, number>;
}

/** Element sizes of the float types handled. */
const FLOAT_BYTES = new Map<number, number>([
  [onnx.TensorProto.DataType.FLOAT, 4],
  [onnx.TensorProto.DataType.FLOAT16, 2],
]);

/**
 * A copy of `onnxPath` whose `logitsName` output holds only the logits of `tokenIds`. Returns a reason
 * instead when the graph does not have the shape this handles.
 */
export function pruneTokenReadout(onnxPath: string, logitsName: string, tokenIds: number[]): PrunedReadout | { reason: string } {
  const columns = new Map(tokenIds.map((t, i) => [t, i]));
  const model = onnx.ModelProto.decode(readFileSync(onnxPath));
  const graph = model.graph;
  const node = graph?.node?.find((n) => n.output?.includes(logitsName));
  if (!graph || !node) return { reason: `no node computes ${logitsName}` };
  if (node.opType !== 'MatMul' || node.domain) return { reason: `${logitsName} comes from ${node.opType}, not MatMul` };
  const weight = graph.initializer?.find((t) => t.name === node.input?.[1]);
  const dims = (weight?.dims ?? []).map(Number);
  const bytes = FLOAT_BYTES.get(weight?.dataType ?? -1);
  if (!weight || dims.length !== 2 || !bytes) return { reason: `${logitsName}'s weight is not a 2-D float initializer` };
  const [hidden, vocab] = dims as [number, number];
  if (tokenIds.some((t) => !Number.isInteger(t) || t < 0 || t >= vocab)) return { reason: `a readout token is outside the vocabulary (${vocab})` };
  if (graph.node!.some((n) => n !== node && n.input?.includes(weight.name!))) return { reason: `${logitsName}'s weight is shared with other nodes` };

  const column = readColumns(weight, dirname(onnxPath), hidden, vocab, bytes, tokenIds);
  weight.dims = [hidden, tokenIds.length];
  weight.rawData = column;
  weight.externalData = [];
  weight.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
  for (const o of graph.output ?? []) {
    const d = o.name === logitsName ? o.type?.tensorType?.shape?.dim : undefined;
    if (d?.length) d[d.length - 1] = { dimValue: tokenIds.length };
  }
  return { bytes: onnx.ModelProto.encode(model).finish(), externalDataDir: dirname(onnxPath), columns };
}

/** The `tokenIds` columns of a [hidden, vocab] initializer, as raw bytes of a [hidden, k] tensor. */
function readColumns(t: onnxProto.onnx.ITensorProto, baseDir: string, hidden: number, vocab: number, bytes: number, tokenIds: number[]): Uint8Array {
  const k = tokenIds.length;
  const out = new Uint8Array(hidden * k * bytes);
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const base = Number(kv.get('offset') ?? 0);
    const fd = openSync(join(baseDir, kv.get('location') ?? ''), 'r');
    try {
      for (let h = 0; h < hidden; h++) {
        tokenIds.forEach((tok, j) => readSync(fd, out, (h * k + j) * bytes, bytes, base + (h * vocab + tok) * bytes));
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
  const raw = t.rawData;
  if (!raw || raw.length !== hidden * vocab * bytes) throw new Error(`initializer ${t.name} has no raw data of the expected size`);
  for (let h = 0; h < hidden; h++) {
    tokenIds.forEach((tok, j) => out.set(raw.subarray((h * vocab + tok) * bytes, (h * vocab + tok + 1) * bytes), (h * k + j) * bytes));
  }
  return out;
}
