import { buildModelFolder } from '/work/main/src/modelgen/folder.ts';
import { resolveSpec } from '/work/main/src/modelgen/spec.ts';
import * as ort from 'onnxruntime-node';
const style = process.argv[2] ?? 'instruct';
const dtype = (process.argv[3] ?? 'float32') as any;
const spec = resolveSpec(style, { dtype });
const r = buildModelFolder(spec, `/tmp/mg/${style}-${dtype}`);
console.log(r.seconds, r.files);
const path = spec.ioStyle === 'genai' ? `${r.dir}/model.onnx` : `${r.dir}/onnx/model.onnx`;
const s = await ort.InferenceSession.create(path);
console.log(s.inputNames, s.outputNames);
const S = 5;
const feeds: Record<string, ort.Tensor> = {
  input_ids: new ort.Tensor('int64', BigInt64Array.from([128000n, 1n, 2n, 3n, 4n]), [1, S]),
  attention_mask: new ort.Tensor('int64', BigInt64Array.from([1n,1n,1n,1n,1n]), [1, S]),
};
if (spec.ioStyle === 'optimum') feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from([0n,1n,2n,3n,4n]), [1, S]);
const kvType = dtype === 'float16' ? 'float16' : 'float32';
for (let i = 0; i < spec.numLayers; i++) for (const kv of ['key', 'value']) {
  feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor(kvType, kvType === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]);
}
const out = await s.run(feeds);
console.log(out.logits.dims, out.logits.type, Array.from(out.logits.data as any).slice(0, 5), out['present.0.key'].dims);
