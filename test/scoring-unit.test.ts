import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ScoreBatcher } from '../src/scoring/score-batcher.ts';
import { rankScores, sigmoid } from '../src/scoring/ranking.ts';
import { extractReadout, parseReadoutFlag, toScore } from '../src/scoring/readout.ts';

const seq = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('ScoreBatcher', () => {
  test('items of concurrent requests share a pass within the token budget', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 100, maxBatchRows: 64, window: 256 });
    b.add(1, [seq(10), seq(10)]);
    b.add(2, [seq(10), seq(10), seq(10)]);
    const batch = b.next();
    assert.deepEqual(batch.map((i) => [i.requestId, i.index]), [[1, 0], [1, 1], [2, 0], [2, 1], [2, 2]]);
    assert.equal(b.size, 0);
  });

  test('padded size (rows × longest) never exceeds the budget; an oversized item goes alone', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 100, maxBatchRows: 64, window: 256 });
    b.add(1, [seq(30), seq(30), seq(30), seq(30), seq(500)]);
    const first = b.next();
    assert.equal(first.length, 3);
    assert.ok(first.length * Math.max(...first.map((i) => i.tokens.length)) <= 100);
    assert.deepEqual(b.next().map((i) => i.index), [3]);
    assert.deepEqual(b.next().map((i) => i.tokens.length), [500]);
    assert.deepEqual(b.next(), []);
  });

  test('padding-aware: the oldest item goes first, with the items closest to it in length', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 200, maxBatchRows: 64, window: 256 });
    // Oldest is 50 long; lengths 5, 48, 100, 52, 6, 49 wait behind it.
    b.add(1, [seq(50), seq(5), seq(48), seq(100), seq(52), seq(6), seq(49)]);
    const batch = b.next();
    const lens = batch.map((i) => i.tokens.length).sort((x, y) => x - y);
    assert.equal(batch[0]!.index, 0, 'the oldest item is in the batch');
    assert.deepEqual(lens, [48, 49, 50]);
    // 6 would have fitted the budget but would be padded to 50: it waits for its own kind.
    assert.deepEqual(b.next().map((i) => i.tokens.length).sort((x, y) => x - y), [5, 6]);
    // 52 padded to 100 costs less than twice its length: they share a pass (2 × 100 fits the budget).
    assert.deepEqual(b.next().map((i) => i.tokens.length).sort((x, y) => x - y), [52, 100]);
    assert.equal(b.size, 0);
  });

  test('row cap and removal of an aborted request', () => {
    const b = new ScoreBatcher({ maxBatchTokens: 10_000, maxBatchRows: 2, window: 256 });
    b.add(1, [seq(3), seq(3), seq(3)]);
    b.add(2, [seq(3)]);
    assert.equal(b.next().length, 2);
    b.remove(1);
    assert.deepEqual(b.next().map((i) => i.requestId), [2]);
  });
});

describe('ranking and readouts', () => {
  test('rankScores orders best first with Bradley-Terry win probabilities against the best other', () => {
    const r = rankScores([1.0, 3.0, 2.0]);
    assert.deepEqual(r.map((x) => [x.index, x.rank]), [[1, 1], [2, 2], [0, 3]]);
    assert.ok(Math.abs(r[0]!.winProbability! - sigmoid(3 - 2)) < 1e-12, 'the best is compared with the runner-up');
    assert.ok(Math.abs(r[2]!.winProbability! - sigmoid(1 - 3)) < 1e-12, 'the others with the best');
    assert.equal(rankScores([5])[0]!.winProbability, undefined);
    assert.ok(Math.abs(sigmoid(-800) - 0) < 1e-300 && sigmoid(800) === 1);
  });

  test('token-logit readout reads one logit; a head reads attributes and weighs them', () => {
    const row = Float32Array.from([2.5, -1, 7]);
    assert.deepEqual(extractReadout(row, { kind: 'token_logit', tokenId: 0 }), [2.5]);
    assert.throws(() => extractReadout(row, { kind: 'token_logit', tokenId: 5 }), /outside/);
    const head = { kind: 'head' as const, attributes: ['a', 'b', 'c'], weights: [1, 2, -1] };
    assert.deepEqual(toScore(extractReadout(row, head), head), { score: 2.5 - 2 - 7, attributes: { a: 2.5, b: -1, c: 7 } });
    assert.equal(toScore([4, 5], { kind: 'head', attributes: ['x', 'y'] }).score, 4, 'no weights: the first attribute');
    assert.throws(() => extractReadout(row, { kind: 'head', attributes: ['only'] }), /3 outputs/);
    assert.deepEqual(parseReadoutFlag('token_logit:12'), { kind: 'token_logit', tokenId: 12 });
    assert.throws(() => parseReadoutFlag('mean'), /token_logit/);
  });
});
