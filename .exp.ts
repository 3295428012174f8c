import * as ort from 'onnxruntime-node';
import { buildModelFolder } from './src/modelgen/folder.ts';
import { resolveSpec } from './src/modelgen/spec.ts';
const variants: Array<[string, string, any]> = JSON.parse(process.argv[2]!);
for (const [label, preset, ov] of variants) {
  const b = buildModelFolder(resolveSpec(preset, ov), `/tmp/mg/exp/${label}`);
  const spec = b.spec;
  const s = await ort.InferenceSession.create(spec.ioStyle === 'genai' ? `${b.dir}/model.onnx` : `${b.dir}/onnx/model.onnx`);
  const res: string[] = [];
  const V = spec.vocabSize;
  for (const prompt of [[128000 % V, 128006 % V, 882, 128007 % V, 271, 3923, 374, 279, 1064, 315, 2822, 30, 128009 % V], [128000 % V, 1906], [128000 % V, 40, 1093, 311, 1373, 264, 3460, 922, 279]]) {
    let ids = prompt; const toks: number[] = []; const past: any = {}; let total = 0;
    for (let i = 0; i < spec.numLayers; i++) for (const kv of ['key','value']) past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]);
    for (let step = 0; step < 40; step++) {
      const feeds: any = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total + ids.length).fill(1n), [1, total + ids.length]), ...past };
      if (spec.ioStyle === 'optimum') feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(ids.map((_, j) => BigInt(total + j))), [1, ids.length]);
      const out = await s.run(feeds);
      total += ids.length;
      const l = out.logits.data as Float32Array; const off = l.length - V;
      let best = 0; for (let v = 1; v < V; v++) if (l[off + v]! > l[off + best]!) best = v;
      toks.push(best); ids = [best];
      for (let i = 0; i < spec.numLayers; i++) for (const kv of ['key','value']) past[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`];
    }
    let maxRun = 1, run = 1; for (let i = 1; i < toks.length; i++) { run = toks[i] === toks[i-1] ? run + 1 : 1; maxRun = Math.max(maxRun, run); }
    res.push(`distinct ${new Set(toks).size}/40 maxrun ${maxRun} last10distinct ${new Set(toks.slice(-10)).size}`);
  }
  console.log(label, b.seconds.toFixed(1) + 's', res.join(' | '));
  await s.release();
}
