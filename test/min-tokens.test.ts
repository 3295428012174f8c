/**
 * vLLM's min_tokens (EOS and stop_token_ids masked until the minimum, stop strings not ending in the first
 * min_tokens tokens' text) and OpenAI's logprob rule that the EOS / stop token ending a sequence is not
 * part of the output: unit tests of the pieces, Sequence tests with a Llama 3.1 tokenizer, and the real
 * engine with the random-weight default model.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlama31TokenizerFiles, LLAMA31_TOKENS, LLAMA31_VOCAB_SIZE } from '../src/modelgen/tokenizer-files.ts';
import { loadTokenizer, type TextTokenizer } from '../src/tokenizer/index.ts';
import { Sequence } from '../src/runtime/sequence.ts';
import { applyMinTokens, DEFAULT_SAMPLING_PARAMS } from '../src/runtime/sampling.ts';
import { StopConditions, StopMatcher } from '../src/runtime/stop.ts';
import { Engine } from '../src/runtime/engine.ts';
import type { GenerationEvent, GenerationRequest } from '../src/runtime/types.ts';
import { INSTRUCT } from './helpers/paths.ts';
import { collect, greedyRequest, prompt, textOf } from './helpers/engine.ts';

type End = Extract<GenerationEvent, { type: 'end' }>;
type Token = Extract<GenerationEvent, { type: 'token' }>;
const endOf = (events: GenerationEvent[]): End => events.find((e): e is End => e.type === 'end')!;
const tokensOf = (events: GenerationEvent[]): Token[] => events.filter((e): e is Token => e.type === 'token');

describe('min_tokens pieces', () => {
  test('applyMinTokens masks the ending ids, unless nothing else could be sampled', () => {
    const row = Float32Array.of(1, 5, 2, -Infinity);
    assert.equal(applyMinTokens(row, [1, 7]), true);
    assert.deepEqual([...row], [1, -Infinity, 2, -Infinity]);
    const onlyEos = Float32Array.of(-Infinity, 3, -Infinity);
    assert.equal(applyMinTokens(onlyEos, [1]), false);
    assert.deepEqual([...onlyEos], [-Infinity, 3, -Infinity]);
  });

  test('StopConditions.endTokenIds: stop token ids, and EOS unless ignored', () => {
    const base = { eosTokenIds: [9, 8], stopTokenIds: [5, 9], maxTokens: 10, maxModelLen: 100, promptLength: 1 };
    assert.deepEqual(new StopConditions(base).endTokenIds.sort(), [5, 8, 9]);
    assert.deepEqual(new StopConditions({ ...base, ignoreEos: true }).endTokenIds.sort(), [5, 9]);
  });

  test('StopMatcher: text pushed with canStop false ends no stop string, but one it begins still stops', () => {
    const m = new StopMatcher(['STOP', 'x']);
    assert.deepEqual(m.push('a x STO', false), { emit: 'a x ', stopped: false });
    assert.deepEqual(m.push('P!', true), { emit: '', stopped: true, matched: 'STOP' });
    const n = new StopMatcher(['xy', 'y']);
    assert.deepEqual(n.push('ax', false), { emit: 'a', stopped: false });
    assert.deepEqual(n.push('y', true), { emit: '', stopped: true, matched: 'xy' }); // 'x' was held back
    const held = new StopMatcher(['abc', 'b']);
    assert.deepEqual(held.push('ab', false), { emit: '', stopped: false }); // "b" is complete but may not end here
    assert.deepEqual(held.push('z', true), { emit: 'abz', stopped: false });
  });
});

describe('Sequence with min_tokens, and the EOS logprob', () => {
  let tok: TextTokenizer;
  let a: number;
  let b: number;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'min-tokens-'));
    writeLlama31TokenizerFiles(dir);
    tok = await loadTokenizer(dir);
    [a] = tok.encode('a', { addSpecialTokens: false });
    [b] = tok.encode('b', { addSpecialTokens: false });
  });

  /** Greedy steps over a fixed row (EOS most likely, then `a`, then `b`) until the sequence ends. */
  function run(over: Partial<GenerationRequest>, row: (i: number) => Record<number, number> = () => ({ [LLAMA31_TOKENS.eot]: 10, [a]: 5, [b]: 4 })): GenerationEvent[] {
    const req = greedyRequest([LLAMA31_TOKENS.bos], { maxTokens: 20, ignoreEos: false, ...over });
    const seq = new Sequence(1, 0, req, tok, [LLAMA31_TOKENS.eot], 131072);
    const events: GenerationEvent[] = [];
    for (let i = 0; !seq.finished; i++) {
      const logits = new Float32Array(LLAMA31_VOCAB_SIZE);
      for (const [id, v] of Object.entries(row(i))) logits[Number(id)] = v;
      events.push(...seq.accept(logits));
    }
    return events;
  }

  test('EOS is masked until min_tokens tokens exist, whatever logit_bias says', () => {
    assert.equal(endOf(run({})).completionTokens, 1);
    for (const minTokens of [1, 3, 7]) {
      const events = run({ minTokens, sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 0, logitBias: { [LLAMA31_TOKENS.eot]: 100 } } });
      const end = endOf(events);
      assert.equal(end.finishReason, 'stop');
      assert.equal(end.stopReason, LLAMA31_TOKENS.eot);
      assert.equal(end.completionTokens, minTokens + 1, 'EOS comes right after the minimum');
      assert.equal(textOf(events), 'a'.repeat(minTokens));
    }
  });

  test('stop_token_ids are masked too; with ignore_eos, EOS is an ordinary token', () => {
    const stopped = run({ minTokens: 2, stopTokenIds: [a] }, () => ({ [a]: 10, [b]: 5 }));
    assert.equal(textOf(stopped), 'bb');
    assert.equal(endOf(stopped).stopReason, a);
    const ignored = run({ minTokens: 2, ignoreEos: true, maxTokens: 3 });
    assert.deepEqual(tokensOf(ignored).map((t) => t.tokenId), [LLAMA31_TOKENS.eot, LLAMA31_TOKENS.eot, LLAMA31_TOKENS.eot]);
    assert.equal(endOf(ignored).finishReason, 'length');
  });

  test('a stop string ending in the first min_tokens tokens does not stop; one ending later does', () => {
    const early = run({ minTokens: 2, stop: ['b'] }, (i) => (i < 4 ? { [b]: 10 } : { [LLAMA31_TOKENS.eot]: 10 }));
    assert.equal(textOf(early), 'bb');
    assert.equal(endOf(early).stopReason, 'b');
    assert.equal(endOf(early).completionTokens, 3);
    const spanning = run({ minTokens: 1, stop: ['ab'] }, (i) => (i === 0 ? { [a]: 10 } : { [b]: 10 }));
    assert.equal(textOf(spanning), '');
    assert.equal(endOf(spanning).stopReason, 'ab');
  });

  test('a constrained value that is finished ends the sequence even before min_tokens', () => {
    const events = run({ minTokens: 50, constraint: { type: 'json_schema', schema: { const: 'x' } } });
    assert.equal(endOf(events).finishReason, 'stop');
    assert.equal(textOf(events), '"x"');
    assert.ok(!events.some((e) => e.type === 'error'));
  });

  test('the EOS or stop token that ends a sequence has no logprob; an ignored EOS has one', () => {
    const sampling = { ...DEFAULT_SAMPLING_PARAMS, temperature: 0, logprobs: 2 };
    const eos = run({ sampling, minTokens: 2 });
    assert.deepEqual(tokensOf(eos).map((t) => t.logprob !== undefined), [true, true, false]);
    assert.equal(tokensOf(eos).at(-1)!.topLogprobs, undefined);
    const stopToken = run({ sampling, stopTokenIds: [b] }, () => ({ [b]: 10 }));
    assert.deepEqual(tokensOf(stopToken).map((t) => t.logprob), [undefined]);
    const ignored = run({ sampling, ignoreEos: true, maxTokens: 2 });
    assert.ok(tokensOf(ignored).every((t) => t.logprob !== undefined && t.topLogprobs?.length === 2));
    assert.ok(Number.isFinite(endOf(eos).cumulativeLogprob));
  });
});

describe('min_tokens through the engine (models/instruct, random weights)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.start({ modelDir: INSTRUCT });
  });
  after(async () => engine.close());

  test('with EOS biased to be most likely, min_tokens N yields N tokens before EOS; without it, EOS at once', async () => {
    const eos = engine.spec.eosTokenIds;
    const bias = Object.fromEntries(eos.map((id) => [id, 100]));
    const base = { maxTokens: 30, ignoreEos: false, sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 1, seed: 3, logitBias: bias, logprobs: 0 } };
    const none = await collect(engine.generate(greedyRequest(prompt(8, 1), base)));
    assert.equal(endOf(none).completionTokens, 1);
    assert.equal(endOf(none).finishReason, 'stop');
    assert.deepEqual(tokensOf(none).filter((t) => t.logprob !== undefined), [], 'no logprob for the EOS that ended it');
    for (const minTokens of [5, 12]) {
      const events = await collect(engine.generate(greedyRequest(prompt(8, 1), { ...base, minTokens })));
      const tokens = tokensOf(events);
      assert.ok(endOf(events).completionTokens >= minTokens);
      assert.equal(endOf(events).completionTokens, minTokens + 1);
      assert.ok(tokens.slice(0, minTokens).every((t) => !eos.includes(t.tokenId)));
      assert.ok(eos.includes(tokens.at(-1)!.tokenId));
      assert.equal(tokens.filter((t) => t.logprob !== undefined).length, minTokens);
    }
  });
});
