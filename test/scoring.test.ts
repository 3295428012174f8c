/**
 * Reward scoring on the real default models: scores equal a direct forward pass, batched equals one at a
 * time, every /v1/score form, /v1/rerank, NVIDIA-style answers through the openai client, limits, and
 * best_of ranked by reward.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { KvBatch } from '../src/runtime/kv-cache.ts';
import { ModelSession } from '../src/runtime/model-session.ts';
import { RewardEngine } from '../src/scoring/reward-engine.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';
import { INSTRUCT, MODELS, REWARD } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';
import { join } from 'node:path';

const prompt: Array<{ role: 'user'; content: string }> = [{ role: 'user', content: 'What is the capital of France?' }];
const replies = ['Paris.', 'It is Paris, on the Seine.', 'Lyon', 'I am not sure, maybe Marseille or Paris?'];

async function post(server: TestServer, path: string, body: unknown) {
  const r = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

describe('reward scoring (default models)', () => {
  let server: TestServer;
  let direct: number[];
  before(async () => {
    server = await startTestServer({ chat: INSTRUCT, reward: REWARD, rewardMaxTokens: 200, scoreLimits: { maxBatchTokens: 4096 } });
    // A direct forward pass per conversation, one at a time, outside the engine: logit of token 0 at the end.
    const session = await ModelSession.open(REWARD);
    const tok = await loadTokenizer(REWARD);
    direct = [];
    for (const r of replies) {
      const ids = tok.encodeChat([...prompt, { role: 'assistant', content: r }], { addGenerationPrompt: false });
      const [row] = await session.step(KvBatch.empty(session.geometry, 1), [ids]);
      direct.push(row![0]!);
    }
    await session.close();
  });
  after(async () => server.close());

  test('a score equals a direct forward pass on the rendered conversation; batched equals one at a time', async () => {
    const batched = await post(server, '/v1/score', { model: 'reward', messages: prompt, responses: replies });
    assert.equal(batched.status, 200, JSON.stringify(batched.body));
    const scores = batched.body.data.map((d: { score: number }) => d.score);
    scores.forEach((s: number, i: number) => assert.ok(Math.abs(s - direct[i]!) < 1e-4, `reply ${i}: ${s} vs ${direct[i]}`));
    for (const [i, r] of replies.entries()) {
      const one = await post(server, '/v1/score', { model: 'reward', messages: [...prompt, { role: 'assistant', content: r }] });
      assert.ok(Math.abs(one.body.data[0].score - scores[i]) < 1e-4);
    }
  });

  test('both runtimes score alike: the C API (default) and the onnxruntime-node session (--score-runtime js)', async () => {
    const tok = await loadTokenizer(REWARD);
    const items = replies.map((r) => tok.encodeChat([...prompt, { role: 'assistant', content: r }], { addGenerationPrompt: false }));
    const engines = await Promise.all(
      (['native', 'js'] as const).map((scoreRuntime) => RewardEngine.start({ modelDir: REWARD, exec: { scoreRuntime } })),
    );
    try {
      const [native, js] = await Promise.all(engines.map((e) => e.score(items)));
      native!.forEach((s, i) => {
        assert.ok(Math.abs(s.score - direct[i]!) < 1e-4, `native ${i}: ${s.score} vs ${direct[i]}`);
        assert.ok(Math.abs(js![i]!.score - direct[i]!) < 1e-4, `js ${i}: ${js![i]!.score} vs ${direct[i]}`);
      });
    } finally {
      await Promise.all(engines.map((e) => e.close()));
    }
  });

  test('form 2 answers rank and Bradley-Terry win probability; usage counts every token', async () => {
    const r = await post(server, '/v1/score', { model: 'reward', messages: prompt, responses: replies });
    const data = r.body.data as Array<{ index: number; score: number; rank: number; win_probability: number }>;
    assert.equal(r.body.object, 'list');
    assert.deepEqual(data.map((d) => d.index), [0, 1, 2, 3]);
    const order = [...data].sort((a, b) => b.score - a.score);
    assert.deepEqual(order.map((d) => d.rank), [1, 2, 3, 4]);
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    assert.ok(Math.abs(order[0]!.win_probability - sig(order[0]!.score - order[1]!.score)) < 1e-9);
    assert.ok(Math.abs(order[3]!.win_probability - sig(order[3]!.score - order[0]!.score)) < 1e-9);
    const tok = server.models.find((m) => m.id === 'reward')!.tokenizer;
    const tokens = replies.reduce((a, rep) => a + tok.encodeChat([...prompt, { role: 'assistant', content: rep }], { addGenerationPrompt: false }).length, 0);
    assert.deepEqual(r.body.usage, { prompt_tokens: tokens, total_tokens: tokens });
  });

  test("vLLM's text_1/text_2 form, 1-to-N and N-to-N, equals the messages form", async () => {
    const oneToN = await post(server, '/v1/score', { model: 'reward', text_1: prompt[0]!.content, text_2: replies });
    const viaMessages = await post(server, '/v1/score', { model: 'reward', messages: prompt, responses: replies });
    assert.deepEqual(oneToN.body.data.map((d: { score: number }) => d.score), viaMessages.body.data.map((d: { score: number }) => d.score));
    const nToN = await post(server, '/v1/score', { model: 'reward', text_1: ['a?', 'b?'], text_2: ['x', 'y'] });
    assert.equal(nToN.body.data.length, 2);
    const bad = await post(server, '/v1/score', { model: 'reward', text_1: ['a', 'b', 'c'], text_2: ['x', 'y'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'text_1');
  });

  test('/v1/rerank: best first, top_n, return_documents', async () => {
    const r = await post(server, '/v1/rerank', { model: 'reward', query: prompt[0]!.content, documents: replies, top_n: 2 });
    assert.equal(r.status, 200);
    const expected = [...direct.keys()].sort((a, b) => direct[b]! - direct[a]!).slice(0, 2);
    assert.deepEqual(r.body.results.map((x: { index: number }) => x.index), expected);
    assert.equal(r.body.results[0].document.text, replies[expected[0]!]);
    assert.ok(r.body.results[0].relevance_score >= r.body.results[1].relevance_score);
    const bare = await post(server, '/v1/rerank', { model: 'reward', query: 'q', documents: [{ text: 'a' }, 'b'], return_documents: false });
    assert.equal(bare.body.results.length, 2);
    assert.equal(bare.body.results[0].document, undefined);
  });

  test('NVIDIA-style reward answer through the openai client', async () => {
    const client = server.client();
    const r = await client.chat.completions.create({ model: 'reward', messages: [...prompt, { role: 'assistant', content: replies[0]! } as const] });
    const content = r.choices[0]!.message.content!;
    assert.match(content, /^reward:-?\d/);
    assert.ok(Math.abs(Number(content.slice('reward:'.length)) - direct[0]!) < 1e-4);
    const lp = r.choices[0]!.logprobs!.content!;
    assert.equal(lp.length, 1);
    assert.equal(lp[0]!.token, 'reward');
    assert.equal(lp[0]!.logprob, Number(content.slice('reward:'.length)));
    await assert.rejects(
      client.chat.completions.create({ model: 'reward', messages: prompt }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && (e.error as { param?: string }).param === 'messages',
    );
  });

  test('a conversation over the reward limit is a 400 naming both numbers (never truncated)', async () => {
    const long = [{ role: 'user', content: 'word '.repeat(300) }, { role: 'assistant', content: 'ok' }];
    const r = await post(server, '/v1/score', { model: 'reward', messages: long });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'context_length_exceeded');
    assert.match(r.body.error.message, /\d+ tokens, more than the reward model 'reward' accepts \(200 tokens\)/);
  });

  test('unknown and wrong-task models', async () => {
    const unknown = await post(server, '/v1/score', { model: 'nope', messages: [...prompt, { role: 'assistant', content: 'x' }] });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'model_not_found');
    const wrong = await post(server, '/v1/rerank', { model: 'instruct', query: 'q', documents: ['a'] });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error.param, 'model');
  });

  test('best_of returns the argmax-reward candidates in order; usage counts k completions', async () => {
    const r = await post(server, '/v1/chat/completions', {
      model: 'instruct', messages: prompt, n: 2, best_of: 5, max_tokens: 8, temperature: 1, seed: 3, ignore_eos: true,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.ranked_by, 'reward');
    assert.equal(r.body.choices.length, 2);
    assert.equal(r.body.usage.completion_tokens, 5 * 8);
    // Check against /v1/score on the returned texts: rewards match and are in descending order…
    const texts = r.body.choices.map((c: { message: { content: string } }) => c.message.content);
    const check = await post(server, '/v1/score', { model: 'reward', messages: prompt, responses: texts });
    r.body.choices.forEach((c: { reward: number }, i: number) => assert.ok(Math.abs(c.reward - check.body.data[i].score) < 1e-4));
    assert.ok(r.body.choices[0].reward >= r.body.choices[1].reward);
    // …and no candidate left out scored higher: regenerate the same 5 (same seed) and score them all.
    const all = await post(server, '/v1/chat/completions', { model: 'instruct', messages: prompt, n: 5, max_tokens: 8, temperature: 1, seed: 3, ignore_eos: true });
    const allTexts = all.body.choices.map((c: { message: { content: string } }) => c.message.content);
    const allScores = (await post(server, '/v1/score', { model: 'reward', messages: prompt, responses: allTexts })).body.data.map((d: { score: number }) => d.score);
    const top2 = [...allScores].sort((a: number, b: number) => b - a).slice(0, 2);
    assert.ok(Math.abs(top2[0] - r.body.choices[0].reward) < 1e-4 && Math.abs(top2[1] - r.body.choices[1].reward) < 1e-4);
  });

  test('best_of streamed: the winners once ranking is done, then usage', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'instruct', messages: prompt, best_of: 3, max_tokens: 4, stream: true, stream_options: { include_usage: true }, ignore_eos: true }),
    });
    const frames = (await res.text()).split('\n\n').filter(Boolean).map((f) => f.slice(6));
    assert.equal(frames.at(-1), '[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f));
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    assert.equal(typeof finish.choices[0].reward, 'number');
    assert.equal(chunks.at(-1).usage.completion_tokens, 12);
  });

  test('best_of below n and above the limit are 400s naming best_of', async () => {
    const low = await post(server, '/v1/chat/completions', { model: 'instruct', messages: prompt, n: 3, best_of: 2 });
    assert.equal(low.status, 400);
    assert.equal(low.body.error.param, 'best_of');
    const high = await post(server, '/v1/chat/completions', { model: 'instruct', messages: prompt, best_of: 17 });
    assert.equal(high.status, 400);
    assert.equal(high.body.error.param, 'best_of');
  });
});

describe('reward scoring: attribute head and no reward model', () => {
  test('a multi-attribute head returns attributes, the weighted score, and NVIDIA-style attribute lists', async () => {
    const server = await startTestServer({ chat: INSTRUCT, reward: join(MODELS, 'reward-attributes') });
    try {
      const r = await post(server, '/v1/score', { model: 'reward-attributes', messages: [...prompt, { role: 'assistant', content: 'Paris.' }] });
      const d = r.body.data[0];
      assert.deepEqual(Object.keys(d.attributes), ['helpfulness', 'correctness', 'coherence', 'complexity', 'verbosity']);
      const w = [0.65, 0.8, 0.45, 0.55, -0.4];
      const expected = Object.values(d.attributes as Record<string, number>).reduce((a, v, i) => a + v * w[i]!, 0);
      assert.ok(Math.abs(d.score - expected) < 1e-9);
      const chat = await server.client().chat.completions.create({ model: 'reward-attributes', messages: [...prompt, { role: 'assistant', content: 'Paris.' }] });
      assert.match(chat.choices[0]!.message.content!, /^helpfulness:-?[\d.e-]+,correctness:.*,verbosity:-?[\d.e-]+$/);
      assert.deepEqual(chat.choices[0]!.logprobs!.content!.map((t) => t.token), ['helpfulness', 'correctness', 'coherence', 'complexity', 'verbosity']);
    } finally {
      await server.close();
    }
  });

  test('best_of without a reward model ranks by mean token logprob and says so', async () => {
    const server = await startTestServer({ chat: INSTRUCT });
    try {
      const r = await post(server, '/v1/chat/completions', { model: 'instruct', messages: prompt, best_of: 4, max_tokens: 6, seed: 1, ignore_eos: true });
      assert.equal(r.status, 200);
      assert.equal(r.body.ranked_by, 'mean_logprob');
      assert.equal(typeof r.body.choices[0].mean_logprob, 'number');
      assert.equal(r.body.usage.completion_tokens, 24);
    } finally {
      await server.close();
    }
  });
});
