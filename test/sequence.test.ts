import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlama31TokenizerFiles, LLAMA31_TOKENS, LLAMA31_VOCAB_SIZE } from '../src/modelgen/tokenizer-files.ts';
import { loadTokenizer, type TextTokenizer } from '../src/tokenizer/index.ts';
import { Sequence } from '../src/runtime/sequence.ts';
import type { GenerationEvent, GenerationRequest } from '../src/runtime/types.ts';
import { greedyRequest } from './helpers/engine.ts';

/** Feeds a fixed token sequence through a Sequence by handing it one-hot logits, as the engine would. */
function drive(tok: TextTokenizer, ids: number[], over: Partial<GenerationRequest> = {}): GenerationEvent[] {
  const req = greedyRequest([LLAMA31_TOKENS.bos], { maxTokens: 1000, ignoreEos: false, ...over });
  const seq = new Sequence(1, 0, req, tok, [LLAMA31_TOKENS.eot], 131072);
  const events: GenerationEvent[] = [];
  for (const id of ids) {
    const logits = new Float32Array(LLAMA31_VOCAB_SIZE);
    logits[id] = 10;
    events.push(...seq.accept(logits));
    if (seq.finished) break;
  }
  return events;
}

const text = (events: GenerationEvent[]) => events.map((e) => (e.type === 'error' ? '' : e.text)).join('');
const deltas = (events: GenerationEvent[]) => events.flatMap((e) => (e.type === 'error' || e.text === '' ? [] : [e.text]));

describe('Sequence: detokenizing and stopping inside the engine', () => {
  let tok: TextTokenizer;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seq-tok-'));
    writeLlama31TokenizerFiles(dir);
    tok = await loadTokenizer(dir);
  });

  test('emoji and CJK split across byte-level tokens are never emitted half-way', () => {
    const sample = 'ok 🤖👍🏽 你好，世界 日本語!';
    const ids = tok.encode(sample, { addSpecialTokens: false });
    // Force byte-level splits: decode each token alone; some are partial UTF-8 characters.
    assert.ok(ids.some((id) => tok.decode([id]).includes('\uFFFD')), 'the sample must contain split characters');
    const events = drive(tok, [...ids, LLAMA31_TOKENS.eot]);
    for (const d of deltas(events)) assert.ok(!d.includes('\uFFFD'), `delta ${JSON.stringify(d)} splits a character`);
    assert.equal(text(events), sample);
    const end = events.at(-1)!;
    assert.equal(end.type === 'end' && end.finishReason, 'stop');
    assert.equal(end.type === 'end' && end.stopReason, LLAMA31_TOKENS.eot);
  });

  test('a stop string spanning several tokens never leaks, even in part', () => {
    const sample = 'The answer is forty-two. END_OF_ANSWER and more text';
    const ids = tok.encode(sample, { addSpecialTokens: false });
    const stop = 'END_OF_ANSWER';
    // The stop string must really span tokens for this test to mean anything.
    assert.ok(!ids.some((id) => tok.decode([id]).includes(stop)));
    const events = drive(tok, ids, { stop: [stop] });
    // Everything ever emitted, concatenated: no part of the stop string (not even "E" or "END_") is in it.
    assert.equal(text(events), 'The answer is forty-two. ');
    const end = events.at(-1)!;
    assert.equal(end.type === 'end' && end.finishReason, 'stop');
    assert.equal(end.type === 'end' && end.stopReason, stop);
    const withStop = drive(tok, ids, { stop: [stop], includeStopStrInOutput: true });
    assert.equal(text(withStop), 'The answer is forty-two. END_OF_ANSWER');
  });

  test('held-back text that turns out not to be a stop string is released', () => {
    const sample = 'wait for the END';
    const ids = tok.encode(sample, { addSpecialTokens: false });
    const events = drive(tok, [...ids, LLAMA31_TOKENS.eot], { stop: ['END_OF_ANSWER'] });
    assert.equal(text(events), sample);
  });

  test('special tokens are skipped unless asked for; max_tokens gives "length"', () => {
    const ids = [...tok.encode('hi', { addSpecialTokens: false }), LLAMA31_TOKENS.pythonTag, ...tok.encode(' there', { addSpecialTokens: false })];
    assert.equal(text(drive(tok, ids, { maxTokens: ids.length })), 'hi there');
    const kept = drive(tok, ids, { maxTokens: ids.length, skipSpecialTokens: false });
    assert.equal(text(kept), 'hi<|python_tag|> there');
    const end = kept.at(-1)!;
    assert.equal(end.type === 'end' && end.finishReason, 'length');
  });
});
