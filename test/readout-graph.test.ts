import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NativeModel } from '../src/runtime/native-model.ts';
import { readModelFolder } from '../src/runtime/model-loader.ts';
import { pruneTokenReadout } from '../src/scoring/readout-graph.ts';
import { FIXTURE, MODELS, REWARD } from './helpers/paths.ts';
import { prompt } from './helpers/engine.ts';

describe('readout-aware graphs', () => {
  for (const [name, dir, tokens, vocab] of [
    ['default reward model (inline weights)', REWARD, [0], 128000],
    ['shared fixture (external data, float16)', FIXTURE, [0, 17, 31999], 32000],
  ] as const) {
    test(`${name}: the pruned graph gives exactly the full graph's logits of the readout tokens`, () => {
      {
        const pruned = pruneTokenReadout(readModelFolder(dir).onnxPath, 'logits', [...tokens]);
        assert.ok(!('reason' in pruned), JSON.stringify(pruned));
        const full = NativeModel.open(dir);
        const small = NativeModel.open(dir, {}, pruned);
        try {
          assert.equal(small.spec.vocabSize, tokens.length, 'the output layer is as wide as the readout');
          const items = [prompt(12, 1, vocab), prompt(30, 2, vocab), prompt(3, 3, vocab)];
          const a = full.forward(items).map((r) => tokens.map((t) => r[t]!));
          const b = small.forward(items).map((r) => tokens.map((t) => r[pruned.columns.get(t)!]!));
          a.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - b[i]![j]!) < 1e-4, `item ${i} token ${tokens[j]}: ${v} vs ${b[i]![j]}`)));
        } finally {
          full.close();
          small.close();
        }
      }
    });
  }

  test('graphs it does not handle are reported with a reason, not rewritten', () => {
    const headModel = readModelFolder(join(MODELS, 'reward-attributes')).onnxPath;
    const r = pruneTokenReadout(headModel, 'logits', [7]);
    assert.ok('reason' in r && /outside the vocabulary \(5\)/.test(r.reason), JSON.stringify(r));
    const missing = pruneTokenReadout(readModelFolder(REWARD).onnxPath, 'no_such_output', [0]);
    assert.ok('reason' in missing);
  });
});
