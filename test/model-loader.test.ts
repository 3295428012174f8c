import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelSession } from '../src/runtime/model-session.ts';
import { describeModel, ModelLoadError, readModelFolder } from '../src/runtime/model-loader.ts';
import { KvBatch } from '../src/runtime/kv-cache.ts';
import { argmax } from '../src/runtime/sampling.ts';
import { FIXTURE, INSTRUCT, INSTRUCT_GENAI, REWARD } from './helpers/paths.ts';

describe('model loader', () => {
  test('opens the ONNX Runtime GenAI fixture (fp16, MultiHeadAttention + position_ids) and reads its facts', async () => {
    const m = await ModelSession.open(FIXTURE);
    try {
      const s = m.spec;
      assert.equal(s.layout, 'genai');
      assert.equal(s.kvStyle, 'position_ids');
      assert.equal(s.paddingSide, 'left');
      assert.equal(s.numLayers, 2);
      assert.equal(s.numKvHeads, 1);
      assert.equal(s.headDim, 16);
      assert.equal(s.vocabSize, 32000);
      assert.equal(s.contextLength, 2048);
      assert.equal(s.kvType, 'float16');
      assert.equal(s.logitsType, 'float16');
      assert.equal(s.lastLogitsOnly, false);
      // genai_config.json says eos 1, but the tokenizer's </s> is 2: the tokenizer wins, and the conflict is noted.
      assert.deepEqual(s.eosTokenIds, [2]);
      assert.ok(s.notes.some((n) => n.includes('disagrees')));
      // A greedy pass with the KV cache: prompt, then 8 single-token steps feeding the cache back.
      const batch = KvBatch.empty(m.geometry, 1);
      let [logits] = await m.step(batch, [[1, 450, 4996, 17354]]);
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        const t = argmax(logits!);
        out.push(t);
        [logits] = await m.step(batch, [[t]]);
      }
      assert.equal(batch.length, 12);
      assert.equal(batch.lens[0], 12);
      assert.equal(out.length, 8);
      assert.ok(out.every((t) => t >= 0 && t < 32000));
    } finally {
      await m.close();
    }
  });

  test('reads both of our layouts and the reward readout', async () => {
    for (const [dir, style, layout] of [
      [INSTRUCT, 'position_ids', 'optimum'],
      [INSTRUCT_GENAI, 'gqa', 'genai'],
      [REWARD, 'position_ids', 'optimum'],
    ] as const) {
      const m = await ModelSession.open(dir);
      try {
        assert.equal(m.spec.kvStyle, style, dir);
        assert.equal(m.spec.layout, layout, dir);
        assert.equal(m.spec.vocabSize, 128256);
        assert.equal(m.spec.lastLogitsOnly, true);
        assert.equal(m.spec.paddingSide, style === 'gqa' ? 'right' : 'left');
        assert.equal(m.spec.batchedMultiTokenWithPast, style !== 'gqa');
        // Llama 3.1 ends turns with <|eot_id|> and tool calls with <|eom_id|>.
        assert.deepEqual(m.spec.eosTokenIds, [128001, 128008, 128009]);
        assert.equal(m.spec.bosTokenId, 128000);
      } finally {
        await m.close();
      }
    }
    const reward = await ModelSession.open(REWARD);
    assert.deepEqual(reward.spec.reward, { kind: 'token_logit', tokenId: 0 });
    await reward.close();
  });

  test('a folder that is not a model gets an error naming what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'not-a-model-'));
    assert.throws(() => readModelFolder(join(dir, 'nope')), /does not exist/);
    assert.throws(() => readModelFolder(dir), /neither config.json nor genai_config.json/);
    writeFileSync(join(dir, 'config.json'), '{}');
    assert.throws(() => readModelFolder(dir), /tokenizer.json is missing/);
    copyFileSync(join(FIXTURE, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    copyFileSync(join(FIXTURE, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    assert.throws(() => readModelFolder(dir), (e: unknown) => e instanceof ModelLoadError && /no ONNX graph found/.test(e.message));
    writeFileSync(join(dir, 'config.json'), '{not json');
    assert.throws(() => readModelFolder(dir), /not valid JSON/);
  });

  test('a graph without the KV inputs is refused, naming the input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-io-'));
    mkdirSync(join(dir, 'onnx'));
    writeFileSync(join(dir, 'onnx', 'model.onnx'), '');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ num_hidden_layers: 1, vocab_size: 10 }));
    copyFileSync(join(FIXTURE, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    copyFileSync(join(FIXTURE, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    const io = (name: string, type = 'int64') => ({ name, type, shape: ['b', 's'] });
    assert.throws(
      () => describeModel(dir, [io('input_ids'), io('attention_mask')], [io('logits', 'float32')]),
      /no input \(KV cache\) named "past_key_values.0.key"/,
    );
  });
});
