import * as ort from 'onnxruntime-node';
import { LlamaReference } from './src/modelgen/reference.ts';
for (const dir of ['/tmp/mg/exp/instruct', '/tmp/mg/exp/genai']) {
  const genai = dir.includes('genai');
  const ref = LlamaReference.fromFolder(dir);
  const n = Number(process.argv[2] ?? 1200);
  let x = 12345; const toks = [128000]; for (let i = 1; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; toks.push(x % 128000); }
  let t = performance.now();
  const r = ref.logits(toks, { lastOnly: true })[0]!;
  const tr = performance.now() - t;
  const s = await ort.InferenceSession.create(genai ? `${dir}/model.onnx` : `${dir}/onnx/model.onnx`);
  const feeds: any = { input_ids: new ort.Tensor('int64', BigInt64Array.from(toks.map(BigInt)), [1, n]), attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]) };
  if (!genai) feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(toks.map((_, j) => BigInt(j))), [1, n]);
  for (let i = 0; i < 2; i++) for (const kv of ['key','value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
  t = performance.now();
  const out = await s.run(feeds);
  const to = performance.now() - t;
  const d = out.logits.data as Float32Array;
  let m = 0; for (let i = 0; i < r.length; i++) m = Math.max(m, Math.abs(r[i]! - d[i]!));
  console.log(dir, n, 'ref ms', tr.toFixed(0), 'ort ms', to.toFixed(0), 'maxdiff', m);
}
