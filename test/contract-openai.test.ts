/**
 * Contract tests: a real server on an ephemeral port with real models, driven by the official `openai`
 * client. The same chat suite runs on our default model and on the ONNX Runtime GenAI fixture.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';
import { startTestServer, waitFor, type TestServer } from './helpers/server.ts';

const MODELS = [
  { name: 'default instruct model', dir: INSTRUCT, id: 'instruct' },
  { name: 'ONNX Runtime GenAI fixture', dir: FIXTURE, id: 'ortgenai-tiny-llama-fp16' },
];

const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Name three colors.' },
];

for (const m of MODELS) {
  describe(`OpenAI client against ${m.name}`, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ chat: m.dir });
      client = server.client();
    });
    after(async () => server.close());

    const promptTokens = async () => (await server.tokenize({ model: m.id, messages, add_generation_prompt: true })).length;

    test('non-streamed: shape, exact usage, finish_reason "length" at max_tokens', async () => {
      const r = await client.chat.completions.create({ model: m.id, messages, max_tokens: 7, temperature: 0, ignore_eos: true } as never);
      const c = r as OpenAI.Chat.ChatCompletion;
      assert.match(c.id, /^chatcmpl-/);
      assert.equal(c.object, 'chat.completion');
      assert.equal(c.model, m.id);
      assert.equal(c.choices.length, 1);
      assert.equal(c.choices[0]!.message.role, 'assistant');
      assert.equal(typeof c.choices[0]!.message.content, 'string');
      assert.equal(c.choices[0]!.finish_reason, 'length');
      assert.equal(c.usage!.completion_tokens, 7);
      assert.equal(c.usage!.prompt_tokens, await promptTokens());
      assert.equal(c.usage!.total_tokens, c.usage!.prompt_tokens + 7);
    });

    test('streamed: role first, deltas equal the non-streamed text, finish chunk, [DONE]', async () => {
      const params = { model: m.id, messages, max_tokens: 10, temperature: 0, ignore_eos: true } as const;
      const whole = await client.chat.completions.create(params as never) as OpenAI.Chat.ChatCompletion;
      const stream = await client.chat.completions.create({ ...params, stream: true } as never) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const ch of stream) chunks.push(ch);
      assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
      assert.equal(chunks.map((ch) => ch.choices[0]?.delta.content ?? '').join(''), whole.choices[0]!.message.content);
      assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');
      assert.ok(chunks.every((ch) => ch.object === 'chat.completion.chunk' && ch.id === chunks[0]!.id));
      assert.ok(chunks.every((ch) => ch.usage === undefined), 'no usage field without include_usage');
    });

    test('stream_options.include_usage: a final usage chunk with empty choices', async () => {
      const stream = await client.chat.completions.create({
        model: m.id, messages, max_tokens: 5, stream: true, stream_options: { include_usage: true }, ignore_eos: true,
      } as never) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      for await (const ch of stream) chunks.push(ch);
      const last = chunks.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage!.completion_tokens, 5);
      assert.equal(last.usage!.prompt_tokens, await promptTokens());
      assert.ok(chunks.slice(0, -1).every((ch) => ch.usage === null));
    });

    test('n = 3, streamed and not: three choices with their indexes', async () => {
      const base = { model: m.id, messages, max_tokens: 6, n: 3, seed: 5, ignore_eos: true };
      const whole = await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion;
      assert.deepEqual(whole.choices.map((c) => c.index), [0, 1, 2]);
      assert.equal(whole.usage!.completion_tokens, 18);
      const stream = await client.chat.completions.create({ ...base, stream: true } as never) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      const text = ['', '', ''];
      const finished = new Set<number>();
      for await (const ch of stream) {
        for (const c of ch.choices) {
          text[c.index] += c.delta.content ?? '';
          if (c.finish_reason) finished.add(c.index);
        }
      }
      assert.deepEqual([...finished].sort(), [0, 1, 2]);
      assert.deepEqual(text, whole.choices.map((c) => c.message.content), 'same seed: streamed choices equal the non-streamed ones');
    });

    test('logprobs and top_logprobs: one entry per token, k alternatives, most likely first', async () => {
      const r = await client.chat.completions.create({ model: m.id, messages, max_tokens: 5, logprobs: true, top_logprobs: 3, temperature: 0, ignore_eos: true } as never) as OpenAI.Chat.ChatCompletion;
      const content = r.choices[0]!.logprobs!.content!;
      assert.equal(content.length, 5);
      for (const t of content) {
        assert.equal(typeof t.token, 'string');
        assert.ok(t.logprob <= 0);
        // Exact bytes: the token text's UTF-8, unless the token holds part of a character (text shows U+FFFD).
        if (!t.token.includes('\uFFFD')) assert.deepEqual(t.bytes, [...Buffer.from(t.token, 'utf8')]);
        else assert.notDeepEqual(t.bytes, [...Buffer.from(t.token, 'utf8')]);
        assert.equal(t.top_logprobs.length, 3);
        const lps = t.top_logprobs.map((a) => a.logprob);
        assert.deepEqual(lps, [...lps].sort((a, b) => b - a));
        // Greedy: the chosen token is the most likely one.
        assert.equal(t.top_logprobs[0]!.token, t.token);
        assert.ok(Math.abs(t.top_logprobs[0]!.logprob - t.logprob) < 1e-9);
      }
    });

    test('stop: the text ends before the stop string, finish_reason "stop"', async () => {
      const base = { model: m.id, messages, max_tokens: 24, temperature: 0, ignore_eos: true };
      const full = (await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion).choices[0]!.message.content!;
      const cut = Math.floor(full.length / 2);
      const stop = full.slice(cut, cut + 3);
      assert.ok(stop.length === 3, `need some generated text (got ${JSON.stringify(full)})`);
      const r = await client.chat.completions.create({ ...base, stop: [stop] } as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(r.choices[0]!.message.content, full.slice(0, full.indexOf(stop)));
      assert.equal(r.choices[0]!.finish_reason, 'stop');
    });

    test('seed: same seed, same text; another seed, another text', async () => {
      const base = { model: m.id, messages, max_tokens: 12, temperature: 1, seed: 42, ignore_eos: true };
      const a = await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion;
      const b = await client.chat.completions.create(base as never) as OpenAI.Chat.ChatCompletion;
      const c = await client.chat.completions.create({ ...base, seed: 43 } as never) as OpenAI.Chat.ChatCompletion;
      assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content);
      assert.notEqual(a.choices[0]!.message.content, c.choices[0]!.message.content);
    });

    test('SDK error classes: BadRequestError naming the field, NotFoundError for an unknown model', async () => {
      await assert.rejects(
        client.chat.completions.create({ model: m.id, messages, temperature: 5 }),
        (e: unknown) => e instanceof OpenAI.BadRequestError && (e.error as { param?: string }).param === 'temperature',
      );
      await assert.rejects(
        client.chat.completions.create({ model: 'no-such-model', messages }),
        (e: unknown) => e instanceof OpenAI.NotFoundError && (e.error as { code?: string }).code === 'model_not_found',
      );
      await assert.rejects(
        client.chat.completions.create({ model: m.id, messages, max_tokens: 10_000_000 }),
        (e: unknown) => e instanceof OpenAI.BadRequestError,
      );
    });

    test('breaking out of a stream frees the engine (running back to 0)', async () => {
      const stream = await client.chat.completions.create({
        model: m.id, messages, max_tokens: 1000, stream: true, ignore_eos: true,
      } as never) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      let n = 0;
      for await (const _ of stream) if (++n === 3) break;
      await waitFor(() => server.engines[0]!.stats().running === 0 && server.engines[0]!.inFlight === 0);
    });

    test('prefix caching: usage.prompt_tokens_details.cached_tokens is the prompt prefix shared with an earlier request', async () => {
      const system = { role: 'system' as const, content: `You answer questions about the weather (${m.id}). ${'Be brief and exact. '.repeat(12)}` };
      const first: OpenAI.Chat.ChatCompletionMessageParam[] = [system, { role: 'user', content: 'Is it raining in Oslo?' }];
      const second: OpenAI.Chat.ChatCompletionMessageParam[] = [system, { role: 'user', content: 'Will it be sunny in Rome tomorrow?' }];
      const ids = (msgs: OpenAI.Chat.ChatCompletionMessageParam[]) => server.tokenize({ model: m.id, messages: msgs, add_generation_prompt: true });
      const [a, b] = [await ids(first), await ids(second)];
      let shared = 0;
      while (a[shared] === b[shared]) shared++;
      assert.ok(shared > 40, `the two prompts share ${shared} tokens`);
      const params = { model: m.id, max_tokens: 3, temperature: 0, ignore_eos: true };
      await client.chat.completions.create({ ...params, messages: first } as never);
      const again = (await client.chat.completions.create({ ...params, messages: second } as never)) as OpenAI.Chat.ChatCompletion;
      assert.equal(again.usage!.prompt_tokens, b.length);
      assert.equal(again.usage!.prompt_tokens_details?.cached_tokens, shared);
      // The same conversation once more, streamed: everything but the prompt's last token is cached.
      const stream = (await client.chat.completions.create({
        ...params, messages: second, stream: true, stream_options: { include_usage: true },
      } as never)) as unknown as AsyncIterable<OpenAI.Chat.ChatCompletionChunk>;
      let usage: OpenAI.CompletionUsage | undefined;
      for await (const ch of stream) usage = ch.usage ?? usage;
      assert.equal(usage?.prompt_tokens_details?.cached_tokens, b.length - 1);
      // A different cache_salt sees none of it.
      const salted = (await client.chat.completions.create({ ...params, messages: second, cache_salt: 'tenant-x' } as never)) as OpenAI.Chat.ChatCompletion;
      assert.equal(salted.usage!.prompt_tokens_details?.cached_tokens, 0);
      const text = (await client.completions.create({ model: m.id, prompt: 'The weather in Oslo is '.repeat(8), max_tokens: 2, temperature: 0 })).usage!;
      assert.equal(text.prompt_tokens_details?.cached_tokens ?? 0, 0);
      const textAgain = (await client.completions.create({ model: m.id, prompt: 'The weather in Oslo is '.repeat(8), max_tokens: 2, temperature: 0 })).usage!;
      assert.equal(textAgain.prompt_tokens_details?.cached_tokens, textAgain.prompt_tokens - 1);
    });
  });
}

describe('OpenAI client: auth and overload errors', () => {
  test('AuthenticationError without the right key; 401 for every route but /health', async () => {
    const server = await startTestServer({ chat: INSTRUCT, limits: { apiKey: 'sekret' } });
    try {
      const wrong = server.client({ apiKey: 'nope' });
      await assert.rejects(wrong.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError);
      const right = server.client({ apiKey: 'sekret' });
      const list = await right.models.list();
      assert.equal(list.data[0]!.id, 'instruct');
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    } finally {
      await server.close();
    }
  });

  test('RateLimitError with Retry-After when running and waiting are full', async () => {
    const server = await startTestServer({ chat: INSTRUCT, engineLimits: { maxNumSeqs: 1 }, maxNumQueuedReqs: 0 });
    try {
      const client = server.client();
      const long = client.chat.completions.create({ model: 'instruct', messages, max_tokens: 300, ignore_eos: true } as never);
      await waitFor(() => server.engines[0]!.inFlight === 1);
      const err = await client.chat.completions.create({ model: 'instruct', messages }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${String(err)}`);
      assert.equal(err.headers?.get?.('retry-after') ?? (err.headers as unknown as Record<string, string>)['retry-after'], '1');
      await long;
    } finally {
      await server.close();
    }
  });
});
