/**
 * Contract tests of prompt logprobs with the official `openai` client: `/v1/completions` with `echo` +
 * `logprobs` (lm-evaluation-harness's loglikelihood request: `max_tokens: 0`), vLLM's `prompt_logprobs`,
 * agreement with a greedy completion's own logprobs, BOS never echoed as text, and clear 400s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildModelFolder } from '../src/modelgen/folder.ts';
import { resolveSpec } from '../src/modelgen/spec.ts';
import { FIXTURE, INSTRUCT } from './helpers/paths.ts';
import { startTestServer, type TestServer } from './helpers/server.ts';

type Logprobs = { tokens: string[]; token_logprobs: Array<number | null>; top_logprobs: Array<Record<string, number> | null>; text_offset: number[] };
type VllmEntry = Record<string, { logprob: number; rank: number; decoded_token: string }>;
type Choice = OpenAI.Completions.CompletionChoice & { prompt_logprobs?: Array<VllmEntry | null> };

const MODELS = [
  { name: 'default instruct model', dir: INSTRUCT, id: 'instruct', bos: 128000 },
  { name: 'ONNX Runtime GenAI fixture (full logits, fp16)', dir: FIXTURE, id: 'ortgenai-tiny-llama-fp16', bos: 1 },
];

for (const m of MODELS) {
  describe(`prompt logprobs with the OpenAI client against ${m.name}`, () => {
    let server: TestServer;
    let client: OpenAI;
    before(async () => {
      server = await startTestServer({ chat: m.dir });
      client = server.client();
    });
    after(async () => server.close());

    const tokenize = (text: string): Promise<number[]> => server.tokenize({ model: m.id, prompt: text });
    const complete = async (body: Record<string, unknown>): Promise<OpenAI.Completions.Completion> =>
      (await client.completions.create({ model: m.id, temperature: 0, ...body } as never)) as OpenAI.Completions.Completion;

    test('lm-eval loglikelihood request: echo, logprobs 1, max_tokens 0 → the prompt alone, first logprob null', async () => {
      const text = 'The capital of France is Paris';
      const ids = await tokenize(text);
      assert.equal(ids[0], m.bos, 'the tokenizer adds BOS');
      for (const prompt of [text, ids]) {
        const r = await complete({ prompt, echo: true, logprobs: 1, max_tokens: 0 });
        const c = r.choices[0]!;
        assert.equal(c.text, text, 'echo shows the prompt, never BOS as text');
        assert.equal(r.usage!.completion_tokens, 0);
        assert.equal(r.usage!.prompt_tokens, ids.length);
        const lp = c.logprobs as unknown as Logprobs;
        assert.equal(lp.tokens.length, ids.length);
        assert.equal(lp.token_logprobs[0], null);
        assert.equal(lp.top_logprobs[0], null);
        assert.equal(lp.text_offset[0], 0);
        assert.equal(lp.text_offset[1], 0, 'BOS takes no room in the text');
        for (let i = 1; i < ids.length; i++) {
          const top = lp.top_logprobs[i]!;
          assert.ok(lp.token_logprobs[i]! <= 0);
          assert.equal(top[lp.tokens[i]!], lp.token_logprobs[i], 'the prompt token is among its top_logprobs');
          assert.ok(Object.keys(top).length <= 2);
          assert.ok(Math.max(...Object.values(top)) >= lp.token_logprobs[i]!);
          // (A SentencePiece tokenizer's first token has a leading space that the text does not show.)
          const token = i === 1 ? lp.tokens[i]!.trimStart() : lp.tokens[i]!;
          assert.equal(c.text.slice(lp.text_offset[i]!, lp.text_offset[i]! + token.length), token);
        }
      }
    });

    test('prompt logprobs agree with a greedy completion\'s own logprobs for the same tokens', async () => {
      const prompt = await tokenize('Once upon a time');
      const k = 4;
      const gen = await complete({ prompt, max_tokens: k, logprobs: 0, ignore_eos: true });
      const genLp = gen.choices[0]!.logprobs as unknown as Logprobs;
      // The greedy ids, read off vLLM's prompt_logprobs: a dummy token after the context lists the argmax.
      const ids: number[] = [];
      for (let i = 0; i < k; i++) {
        const r = await complete({ prompt: [...prompt, ...ids, 5], echo: true, max_tokens: 0, prompt_logprobs: 1 });
        const entry = (r.choices[0] as Choice).prompt_logprobs!.at(-1)!;
        const [id, best] = Object.entries(entry).find(([, v]) => v.rank === 1)!;
        assert.equal(best.decoded_token, genLp.tokens[i]);
        assert.ok(Math.abs(best.logprob - genLp.token_logprobs[i]!) < 2e-3, `token ${i}: ${best.logprob} vs ${genLp.token_logprobs[i]}`);
        ids.push(Number(id));
      }
      const echoed = await complete({ prompt: [...prompt, ...ids], echo: true, logprobs: 1, max_tokens: 0 });
      const lp = echoed.choices[0]!.logprobs as unknown as Logprobs;
      assert.deepEqual(lp.tokens.slice(prompt.length), genLp.tokens);
      lp.token_logprobs.slice(prompt.length).forEach((v, i) => assert.ok(Math.abs(v! - genLp.token_logprobs[i]!) < 2e-3, `echoed token ${i}`));
      const sum = (a: Array<number | null>) => a.reduce<number>((s, v) => s + v!, 0);
      assert.ok(Math.abs(sum(lp.token_logprobs.slice(prompt.length)) - sum(genLp.token_logprobs)) < 5e-3);
    });

    test('echo + logprobs with generated tokens: the prompt\'s tokens lead, then the completion\'s', async () => {
      const prompt = 'Hello there';
      const ids = await tokenize(prompt);
      const r = await complete({ prompt, echo: true, logprobs: 2, max_tokens: 3, ignore_eos: true, prompt_logprobs: 0 });
      const c = r.choices[0] as Choice;
      const lp = c.logprobs as unknown as Logprobs;
      assert.equal(lp.tokens.length, ids.length + 3);
      assert.ok(c.text.startsWith(prompt));
      assert.equal(lp.text_offset[ids.length], prompt.length, 'the first generated token starts after the echo');
      const vllm = c.prompt_logprobs!;
      assert.equal(vllm.length, ids.length);
      assert.equal(vllm[0], null);
      vllm.slice(1).forEach((e, i) => {
        const own = e![String(ids[i + 1])]!;
        assert.equal(own.logprob, lp.token_logprobs[i + 1]);
        assert.ok(own.rank >= 1);
      });
    });

    test('streamed: the echo chunk carries the prompt logprobs and prompt_logprobs', async () => {
      const prompt = 'Streaming works';
      const ids = await tokenize(prompt);
      const stream = (await client.completions.create({
        model: m.id, prompt, echo: true, logprobs: 1, max_tokens: 2, stream: true, temperature: 0, prompt_logprobs: 1,
      } as never)) as unknown as AsyncIterable<OpenAI.Completions.Completion>;
      const chunks: OpenAI.Completions.Completion[] = [];
      for await (const ch of stream) chunks.push(ch);
      const first = chunks[0]!.choices[0] as Choice;
      assert.equal(first.text, prompt);
      const lp = first.logprobs as unknown as Logprobs;
      assert.equal(lp.tokens.length, ids.length);
      assert.equal(lp.token_logprobs[0], null);
      assert.equal(first.prompt_logprobs!.length, ids.length);
      assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');
      const generated = chunks.slice(1).flatMap((ch) => ch.choices.flatMap((c) => (c.logprobs as unknown as Logprobs | null)?.text_offset ?? []));
      assert.equal(generated.length, 2);
      assert.equal(generated[0], prompt.length, 'generated offsets count from the start of the echoed text');
    });

    test('max_tokens 0 without echo is a 400 naming max_tokens; prompt_logprobs out of range names it', async () => {
      for (const [body, param] of [
        [{ prompt: 'x', max_tokens: 0 }, 'max_tokens'],
        [{ prompt: 'x', prompt_logprobs: 21 }, 'prompt_logprobs'],
      ] as const) {
        await assert.rejects(complete(body), (err: unknown) => err instanceof OpenAI.APIError && err.status === 400 && (err.error as { param?: string }).param === param);
      }
    });

    test('chat completions: prompt_logprobs of the rendered conversation equal the completions echo of its token ids', async () => {
      const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the capital of France?' }];
      const ids = await server.tokenize({ model: m.id, messages, add_generation_prompt: true });
      const chat = (await client.chat.completions.create({ model: m.id, messages, max_tokens: 2, temperature: 0, prompt_logprobs: 1 } as never)) as unknown as { prompt_logprobs: Array<VllmEntry | null> };
      assert.equal(chat.prompt_logprobs.length, ids.length);
      assert.equal(chat.prompt_logprobs[0], null);
      const echo = (await complete({ prompt: ids, echo: true, logprobs: 1, max_tokens: 0 })).choices[0]!.logprobs as unknown as Logprobs;
      ids.slice(1).forEach((id, i) => {
        const entry = chat.prompt_logprobs[i + 1]!;
        assert.ok(entry[String(id)], `position ${i + 1} lists its own token`);
        assert.ok(Math.abs(entry[String(id)]!.logprob - echo.token_logprobs[i + 1]!) < 2e-3, `position ${i + 1}`);
      });
      await assert.rejects(
        client.chat.completions.create({ model: m.id, messages, max_tokens: 2, stream: true, prompt_logprobs: 1 } as never),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === 400 && (err.error as { param?: string }).param === 'prompt_logprobs',
      );
    });
  });
}

describe('a last-position-only graph without a positions input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'no-positions-'));
  let server: TestServer;
  before(async () => {
    buildModelFolder(resolveSpec('instruct', { logitsPositions: false }), join(dir, 'last-only'));
    server = await startTestServer({ chat: join(dir, 'last-only') });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a clear 400 naming the field that asked (logprobs with echo, or prompt_logprobs), streamed or not', async () => {
    const client = server.client();
    for (const [extra, param] of [
      [{ echo: true, logprobs: 1, max_tokens: 0 }, 'logprobs'],
      [{ prompt_logprobs: 1, max_tokens: 2 }, 'prompt_logprobs'],
      [{ echo: true, logprobs: 0, stream: true }, 'logprobs'],
    ] as const) {
      await assert.rejects(
        client.completions.create({ model: 'last-only', prompt: 'hello', ...extra } as never),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === 400 && (err.error as { param?: string }).param === param && /prompt logprobs/.test(err.message),
      );
    }
    await assert.rejects(
      client.chat.completions.create({ model: 'last-only', messages: [{ role: 'user', content: 'hello' }], max_tokens: 2, prompt_logprobs: 1 } as never),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 400 && (err.error as { param?: string }).param === 'prompt_logprobs',
      'chat completions too',
    );
    const plain = (await client.completions.create({ model: 'last-only', prompt: 'hello', echo: true, logprobs: 1, max_tokens: 2 } as never)
      .catch((err: unknown) => err)) as InstanceType<typeof OpenAI.APIError>;
    assert.equal(plain.status, 400, 'echo with logprobs includes the prompt tokens, so it is refused too');
    const generated = (await client.completions.create({ model: 'last-only', prompt: 'hello', logprobs: 1, max_tokens: 2 } as never)) as OpenAI.Completions.Completion;
    assert.equal((generated.choices[0]!.logprobs as unknown as Logprobs).tokens.length, 2, 'logprobs of generated tokens still work');
  });
});
