/**
 * GPU tier: runs only with NEMOTRON_GPU_TESTS=1 on a machine with CUDA 12, cuDNN 9 and onnxruntime-node's
 * CUDA provider installed (`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js`);
 * `scripts/gpu-check.sh` runs it with the GPU benchmark. Elsewhere every test here is skipped.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.ts';
import { NativeModel } from '../src/runtime/native-model.ts';
import { KvStore } from '../src/runtime/kv/store.ts';
import { RewardEngine } from '../src/scoring/reward-engine.ts';
import { argmax } from '../src/runtime/sampling.ts';
import { FIXTURE, INSTRUCT, INSTRUCT_GENAI, REWARD } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, tokenIds } from './helpers/engine.ts';

const enabled = process.env.NEMOTRON_GPU_TESTS === '1';
const cuda = { provider: 'cuda' as const, deviceId: Number(process.env.NEMOTRON_GPU_DEVICE ?? 0) };

describe('GPU tier (CUDA)', { skip: enabled ? false : 'set NEMOTRON_GPU_TESTS=1 on a CUDA machine' }, () => {
  for (const [name, dir, vocab] of [['optimum', INSTRUCT, 128000], ['genai', INSTRUCT_GENAI, 128000], ['fixture', FIXTURE, 32000]] as const) {
    test(`${name}: the engine on CUDA gives batched = unbatched, and the KV store lives in device memory`, async () => {
      const engine = await Engine.start({ modelDir: dir, exec: cuda, limits: { maxNumSeqs: 16, maxBatchedTokens: 64 } });
      try {
        assert.equal(engine.provider, 'cuda');
        const prompts = Array.from({ length: 6 }, (_, i) => prompt(3 + i * 9, i + 1, vocab));
        const alone: number[][] = [];
        for (const p of prompts) alone.push(tokenIds(await collect(engine.generate(greedyRequest(p)))));
        const together = await Promise.all(prompts.map((p) => collect(engine.generate(greedyRequest(p)))));
        together.forEach((events, i) => {
          assert.deepEqual(events.filter((e) => e.type === 'error'), []);
          assert.deepEqual(tokenIds(events), alone[i]);
        });
      } finally {
        await engine.close();
      }
    });

    test(`${name}: KV-cache decoding on CUDA matches recomputing each token on CUDA`, () => {
      const model = NativeModel.open(dir, cuda);
      try {
        assert.equal(model.memory.location, 'device');
        const p = prompt(20, 7, vocab);
        const pool = model.createPool(10_000);
        const g = KvStore.forPrefill(pool, 1, p.length, false);
        let next = argmax(model.step(g, [p])[0]!);
        const decode = new KvStore(pool);
        decode.absorb(g, [0], [p.length + 10]);
        g.release();
        const seq = [...p];
        for (let i = 0; i < 6; i++) {
          seq.push(next);
          next = argmax(model.step(decode, [[next]])[0]!);
          assert.equal(next, argmax(model.forward([seq])[0]!), `token ${i}`);
        }
        decode.release();
      } finally {
        model.close();
      }
    });
  }

  test('reward scores on CUDA equal the CPU scores within 1e-3', async () => {
    const items = [prompt(30, 1, 128000), prompt(70, 2, 128000), prompt(5, 3, 128000)];
    const gpu = await RewardEngine.start({ modelDir: REWARD, exec: cuda });
    const cpu = await RewardEngine.start({ modelDir: REWARD });
    try {
      const [a, b] = [await gpu.score(items), await cpu.score(items)];
      a.forEach((s, i) => assert.ok(Math.abs(s.score - b[i]!.score) < 1e-3, `item ${i}: ${s.score} vs ${b[i]!.score}`));
    } finally {
      await gpu.close();
      await cpu.close();
    }
  });
});
