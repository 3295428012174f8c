import * as ort from 'onnxruntime-node';
const s = await ort.InferenceSession.create('/work/main/models/bench/onnx/model.onnx', { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
const names = s.inputNames.filter((n) => n.startsWith('past'));
async function go(ctx: number, mode: 'tensor' | 'rewrap' | 'copy') {
  let past: Record<string, ort.Tensor> = {};
  for (const n of names) past[n] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 64]);
  let total = 0; let id = 1000; const ms: number[] = [];
  for (let step = 0; step < 14; step++) {
    const w = step === 0 ? ctx : 1;
    const a = performance.now();
    const out = await s.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: w }, (_, i) => BigInt(1000 + i * 7)), [1, w]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total + w).fill(1n), [1, total + w]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: w }, (_, i) => BigInt(total + i)), [1, w]),
      ...past,
    });
    if (step > 0) ms.push(performance.now() - a);
    total += w;
    past = {};
    for (const n of names) {
      const o = out[n.replace('past_key_values', 'present')]!;
      past[n] = mode === 'tensor' ? o : new ort.Tensor('float32', mode === 'copy' ? (o.data as Float32Array).slice() : (o.data as Float32Array), o.dims as number[]);
    }
  }
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1]!.toFixed(1);
}
const res: Record<string, number[]> = {};
for (let r = 0; r < 5; r++) for (const ctx of [128, 2048]) for (const m of ["tensor", "rewrap", "copy"] as const) (res[ctx + " " + m] ??= []).push(+(await go(ctx, m)));
for (const [k, v] of Object.entries(res)) console.log(k, "min", Math.min(...v), "all", v.join(" "));
