/**
 * Hostile prompts never cost the server: a prompt that cannot fit is refused by the cheap length bound
 * before any tokenizing, and a large legal one is tokenized in the tokenizer pool while other clients
 * (here /health) keep being answered. The pool gives exactly the ids and the errors of the main thread.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../src/server/deps.ts';
import {
  ChatTemplateError,
  TemplateInputError,
  TokenizerPool,
  minTokensFor,
  type ChatMessage,
  type TextTokenizer,
} from '../src/tokenizer/index.ts';
import { FakeScorer, fakeModel, llamaTokenizer } from './helpers/fake-engine.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

/** An app over fake models (real Llama 3.1 tokenizer) with a tokenizer pool, as main.ts builds it. */
async function hostileApp(pool: TokenizerPool, limits: Partial<ServerLimits> = {}, contextLength = 8192): Promise<FastifyInstance> {
  const models = [await fakeModel({ contextLength }), await fakeModel({ task: 'reward', scorer: new FakeScorer(), maxScoreTokens: 4096 })];
  return buildApp({ models, limits: { ...DEFAULT_SERVER_LIMITS, ...limits }, isReady: () => true, logger: false, version: 't', tokenizerPool: pool });
}

describe('the cheap length bound refuses what cannot fit, before tokenizing', () => {
  const pool = new TokenizerPool({ size: 1 });
  const word = 'a'.repeat(2 * MiB);
  let app: FastifyInstance;
  before(async () => {
    app = await hostileApp(pool);
  });
  after(async () => {
    await app.close();
    await pool.close();
  });

  const post = async (url: string, payload: object) => {
    const r = await app.inject({ method: 'POST', url, payload });
    return { status: r.statusCode, error: r.json().error as { message: string; param: string; code: string } };
  };

  test('a 2 MiB one-word prompt to /v1/completions: 400 naming the context length', async () => {
    const r = await post('/v1/completions', { prompt: word, max_tokens: 5 });
    assert.equal(r.status, 400);
    assert.equal(r.error.param, 'prompt');
    assert.equal(r.error.code, 'context_length_exceeded');
    // 2 MiB / 128 bytes per token at most = 16384 tokens at least, plus the 5 asked for.
    assert.match(r.error.message, /maximum context length is 8192 tokens\. However, you requested at least 16389 tokens \(at least 16384 in the prompt/);
  });

  test('the same prompt as a chat message: 400 naming the context length, param messages', async () => {
    const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: word }] });
    assert.equal(r.status, 400);
    assert.equal(r.error.param, 'messages');
    assert.equal(r.error.code, 'context_length_exceeded');
    assert.match(r.error.message, /maximum context length is 8192 tokens.*at least 16384 in the messages/);
  });

  test('tool definitions count too (the Llama 3.1 template writes them)', async () => {
    const tool = { ...weatherTool, function: { ...weatherTool.function, description: 'x '.repeat(600 * KiB) } };
    const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], tools: [tool] });
    assert.equal(r.status, 400);
    assert.equal(r.error.code, 'context_length_exceeded');
  });

  test('/tokenize, /v1/score and /v1/rerank refuse it too, naming their limits', async () => {
    const tok = await post('/tokenize', { prompt: word });
    assert.equal(tok.status, 400);
    assert.equal(tok.error.param, 'prompt');
    const score = await post('/v1/score', { model: 'reward', text_1: 'question', text_2: word });
    assert.equal(score.status, 400);
    assert.equal(score.error.param, 'text_2');
    assert.match(score.error.message, /at least 1638\d tokens .*more than the reward model 'reward' accepts \(4096 tokens\)/);
    const rerank = await post('/v1/rerank', { model: 'reward', query: 'q', documents: ['short', word] });
    assert.equal(rerank.status, 400);
    assert.equal(rerank.error.param, 'documents');
    assert.match(rerank.error.message, /^Conversation 1 has at least/);
  });

  test('nothing was tokenized: the pool never started a worker', () => {
    assert.deepEqual(pool.stats(), { workers: 0, pending: 0 });
  });

  test('--max-prompt-tokens: 400 prompt_too_long naming the server limit', async () => {
    const limited = await hostileApp(pool, { maxPromptTokens: 1000 });
    try {
      const r = await limited.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages: [{ role: 'user', content: 'b'.repeat(200 * KiB) }] } });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json().error.code, 'prompt_too_long');
      assert.match(r.json().error.message, /at least 1600 tokens .*more than this server's limit of 1000 tokens/);
    } finally {
      await limited.close();
    }
  });
});

describe('a large legal prompt is tokenized off the HTTP thread', () => {
  const pool = new TokenizerPool({ size: 1 });
  let app: FastifyInstance;
  let url: string;
  before(async () => {
    // A context of 2^20 tokens lets large prompts pass the bound, so they reach the tokenizer.
    app = await hostileApp(pool, {}, 1 << 20);
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await app.close();
    await pool.close();
  });

  test('/health keeps answering while a 256 KiB one-word prompt and 300 KiB of words are tokenized', async () => {
    // 256 KiB of one word is ~3.5 s of BPE here (2 MiB would be ~25 s): on the HTTP thread, every /health
    // due during those seconds would be answered late.
    const post = (path: string, body: object) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const words = 'the quick brown fox jumps over the lazy dog, again and again. '.repeat((300 * KiB) / 62);
    const work = Promise.all([
      post('/v1/completions', { prompt: 'a'.repeat(256 * KiB), max_tokens: 2 }),
      post('/v1/chat/completions', { messages: [{ role: 'user', content: words }], max_tokens: 2 }),
    ]);
    // 50 probes on a fixed schedule, one every 100 ms, each timed from when it was due: the client shares
    // this thread with the server, so a blocked loop also delays the probes' own timers, and that counts.
    const start = performance.now();
    const latencies = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const due = start + i * 100;
        await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
        const r = await fetch(`${url}/health`);
        assert.equal(r.status, 200);
        await r.json();
        return performance.now() - due;
      }),
    );
    const [completion, chat] = await work;
    assert.equal(completion.status, 200);
    assert.equal(chat.status, 200);
    const completionBody = (await completion.json()) as { usage: { prompt_tokens: number } };
    assert.ok(completionBody.usage.prompt_tokens > (256 * KiB) / 128, 'the prompt was really tokenized');
    await chat.json();
    const late = latencies.filter((ms) => ms > 100).length;
    assert.ok(late <= 3, `${late} of ${latencies.length} /health answers took over 100 ms`);
  });
});

describe('the pool gives exactly the main thread ids and errors', () => {
  const pool = new TokenizerPool({ size: 1 });
  let tok: TextTokenizer;
  before(async () => {
    tok = await llamaTokenizer();
  });
  after(() => pool.close());

  const texts = [
    'Hello world',
    'Héllo wörld 🤖👍🏽 你好，世界 — done.\u0000 \uFEFF tail',
    '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
    'word '.repeat(5000),
    ' '.repeat(1000) + '!'.repeat(300),
  ];

  test('encode (completions strings, unicode, special tokens, with and without bos)', async () => {
    for (const text of texts) {
      for (const addSpecialTokens of [true, false]) {
        assert.deepEqual(await pool.encode(tok, text, { addSpecialTokens }), tok.encode(text, { addSpecialTokens }), JSON.stringify(text.slice(0, 40)));
      }
    }
  });

  test('decode, special tokens kept or skipped', async () => {
    for (const text of texts) {
      const ids = tok.encode(text);
      for (const skipSpecialTokens of [true, false]) {
        assert.equal(await pool.decode(tok, ids, { skipSpecialTokens }), tok.decode(ids, { skipSpecialTokens }));
      }
    }
  });

  test('encodeChat (tools, tool calls and results, template kwargs)', async () => {
    const conversation: ChatMessage[] = [
      { role: 'system', content: 'You answer briefly. ☀️' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Zürich?' }, { type: 'text', text: texts[1]! }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: { city: 'Zürich' } } }] },
      { role: 'tool', content: '{"temp": 21}', tool_call_id: 'c1' },
    ];
    const cases = [
      { addGenerationPrompt: true, tools: [weatherTool] },
      { addGenerationPrompt: false },
      { addGenerationPrompt: true, tools: [weatherTool], templateKwargs: { date_string: '01 Jan 2026', tools_in_user_message: false } },
    ];
    for (const opts of cases) assert.deepEqual(await pool.encodeChat(tok, conversation, opts), tok.encodeChat(conversation, opts));
  });

  test('template errors arrive with the same class and message', async () => {
    // The Llama 3.1 template's raise_exception: tools, but no user message to put them in.
    const noUser: ChatMessage[] = [{ role: 'system', content: 'hi' }];
    const opts = { addGenerationPrompt: true, tools: [{ type: 'function', function: { name: 'a', parameters: {} } }] };
    const inline = (() => {
      try {
        tok.encodeChat(noUser, opts);
      } catch (err) {
        return err as Error;
      }
    })();
    assert.ok(inline instanceof ChatTemplateError);
    await assert.rejects(pool.encodeChat(tok, noUser, opts), (err: unknown) => err instanceof ChatTemplateError && err.message === inline.message);
    const image: ChatMessage[] = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }];
    await assert.rejects(pool.encodeChat(tok, image, { addGenerationPrompt: true }), TemplateInputError);
  });

  test('through HTTP, a template error raised in the pool is still a 400 chat_template_error', async () => {
    const app = await hostileApp(pool);
    try {
      // 16 KiB (rendered in the pool), with tools and no user message: the template raises.
      const messages = [{ role: 'system', content: 'many words here '.repeat(1024) }];
      const tools = [{ type: 'function', function: { name: 'a', parameters: { type: 'object', properties: {} } } }];
      const r = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { messages, tools } });
      assert.equal(r.statusCode, 400);
      assert.equal(r.json().error.code, 'chat_template_error');
      assert.equal(r.json().error.param, 'messages');
      assert.ok(pool.stats().workers > 0, 'the pool rendered it');
    } finally {
      await app.close();
    }
  });

  test('through HTTP, a long /detokenize list is decoded in the pool to the same text', async () => {
    const app = await hostileApp(pool);
    try {
      const text = 'Grüße, 世界! '.repeat(2000);
      const tokens = tok.encode(text);
      assert.ok(tokens.length > 4096);
      const r = await app.inject({ method: 'POST', url: '/detokenize', payload: { tokens } });
      assert.equal(r.statusCode, 200);
      assert.equal(r.json().prompt, tok.decode(tokens, { skipSpecialTokens: false }));
    } finally {
      await app.close();
    }
  });

  test('the bound never exceeds the true count', () => {
    for (const text of [...texts, ' '.repeat(128 * 5), 'a'.repeat(4096), '<|eot_id|>'.repeat(50)]) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      assert.ok(minTokensFor(Buffer.byteLength(text), tok.maxTokenBytes) <= ids.length, JSON.stringify(text.slice(0, 40)));
    }
    const conversation: ChatMessage[] = [
      { role: 'system', content: '   padded   ' },
      { role: 'user', content: 'x'.repeat(3000) },
    ];
    const opts = { addGenerationPrompt: true, tools: [weatherTool] };
    assert.ok(tok.chatTextMinBytes(conversation, opts) <= Buffer.byteLength(tok.applyChatTemplate(conversation, opts)));
  });

  test('after close, work runs on the calling thread', async () => {
    const closed = new TokenizerPool();
    await closed.close();
    assert.deepEqual(await closed.encode(tok, 'Hello world'), tok.encode('Hello world'));
    assert.equal(closed.stats().workers, 0);
  });
});
