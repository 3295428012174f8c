import * as ort from 'onnxruntime-node';
for (const dir of ['/tmp/mg/cli/instruct', '/tmp/mg/cli/reward', '/tmp/mg/cli/bench']) {
  const s = await ort.InferenceSession.create(`${dir}/onnx/model.onnx`);
  const cfg = JSON.parse((await import('node:fs')).readFileSync(`${dir}/config.json`, 'utf8'));
  for (const prompt of [[128000, 128006, 882, 128007, 271, 3923, 374, 279, 6864, 315, 9822, 30, 128009], [128000, 9906]]) {
    let ids = prompt; const toks: number[] = []; let past: any = {};
    for (let i = 0; i < cfg.num_hidden_layers; i++) for (const kv of ['key','value']) past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, cfg.num_key_value_heads, 0, cfg.head_dim]);
    let total = 0; let stds: number[] = [];
    const t0 = performance.now();
    for (let step = 0; step < 30; step++) {
      const feeds: any = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total + ids.length).fill(1n), [1, total + ids.length]),
        position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, j) => BigInt(total + j))), [1, ids.length]), ...past };
      const out = await s.run(feeds);
      total += ids.length;
      const l = out.logits.data as Float32Array;
      let best = 0; let m = 0, m2 = 0; for (let v = 0; v < l.length; v++) { if (l[v]! > l[best]!) best = v; m += l[v]!; m2 += l[v]! * l[v]!; }
      stds.push(Math.sqrt(m2 / l.length - (m / l.length) ** 2));
      toks.push(best); ids = [best];
      for (let i = 0; i < cfg.num_hidden_layers; i++) for (const kv of ['key','value']) past[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`];
    }
    console.log(dir, toks.join(' '), 'distinct', new Set(toks).size, 'logit std', stds[0]!.toFixed(2), 'ms/step', ((performance.now()-t0)/30).toFixed(1));
  }
}
