import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type OpenAI from 'openai';
import { INSTRUCT, REWARD } from './helpers/paths.ts';
import { startTestServer, waitFor, type TestServer } from './helpers/server.ts';

type Json = Awaited<ReturnType<TestServer['metrics']['registry']['getMetricsAsJSON']>>;

/** The value of one sample (summed over label sets matching `labels`). */
function value(json: Json, name: string, labels: Record<string, string> = {}, suffix = ''): number {
  const metric = json.find((m) => m.name === name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (metric.values as Array<{ value: number; labels: Record<string, string | number>; metricName?: string }>)
    .filter((v) => (suffix ? v.metricName === name + suffix : !v.metricName || v.metricName === name))
    .filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
    .reduce((a, v) => a + v.value, 0);
}

function hasPromtool(): boolean {
  return spawnSync('promtool', ['--version']).status === 0;
}

describe('metrics', () => {
  let server: TestServer;
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Count to three.' }];
  before(async () => {
    server = await startTestServer({ chat: INSTRUCT, reward: REWARD });
  });
  after(async () => server.close());

  test('counters and histograms move by the right amounts after chat, stream and score requests', async () => {
    const client = server.client();
    const before = await server.metrics.registry.getMetricsAsJSON();
    const m = { model_name: 'instruct' };
    const a = await client.chat.completions.create({ model: 'instruct', messages, max_tokens: 5, ignore_eos: true } as never) as OpenAI.Chat.ChatCompletion;
    const b = await client.chat.completions.create({ model: 'instruct', messages, max_tokens: 4, n: 2, ignore_eos: true } as never) as OpenAI.Chat.ChatCompletion;
    const stream = await client.chat.completions.create({ model: 'instruct', messages, max_tokens: 3, stream: true, ignore_eos: true } as never) as unknown as AsyncIterable<unknown>;
    for await (const _ of stream) void _;
    const score = await fetch(`${server.url}/v1/score`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'reward', messages, responses: ['one two three', '1 2 3', 'no'] }),
    });
    assert.equal(score.status, 200);
    await waitFor(() => server.engines[0]!.inFlight === 0);
    const j = await server.metrics.registry.getMetricsAsJSON();
    const d = (name: string, labels: Record<string, string> = m, suffix = '') => value(j, name, labels, suffix) - value(before, name, labels, suffix);
    const prompt = a.usage!.prompt_tokens;
    assert.equal(d('nemotron_prompt_tokens_total'), prompt * 3, 'three requests with the same prompt');
    assert.equal(d('nemotron_generation_tokens_total'), 5 + 8 + 3);
    assert.equal(b.usage!.completion_tokens, 8);
    assert.equal(d('nemotron_request_success_total', { ...m, finished_reason: 'length' }), 4, 'four sequences (n=2 counts twice)');
    assert.equal(d('nemotron_time_to_first_token_seconds', m, '_count'), 3);
    assert.equal(d('nemotron_e2e_request_latency_seconds', m, '_count'), 3);
    assert.equal(d('nemotron_request_queue_time_seconds', m, '_count'), 3);
    assert.equal(d('nemotron_inter_token_latency_seconds', m, '_count'), 4 + 2 * 3 + 2, 'gaps: tokens − 1 per sequence');
    assert.equal(d('nemotron_request_generation_tokens', m, '_sum'), 16);
    assert.equal(d('nemotron_request_prompt_tokens', m, '_sum'), prompt * 3);
    assert.ok(d('nemotron_iteration_tokens', m, '_count') >= 5, 'engine steps observed');
    const r = { model_name: 'reward' };
    assert.equal(d('nemotron_score_requests_total', r), 1);
    assert.equal(d('nemotron_scored_items_total', r), 3);
    assert.equal(d('nemotron_reward_score', r, '_count'), 3);
    assert.equal(d('nemotron_score_latency_seconds', r, '_count'), 1);
    assert.equal(d('nemotron_http_requests_total', { route: '/v1/chat/completions', method: 'POST', status: '200' }), 3);
    assert.equal(d('nemotron_http_requests_total', { route: '/v1/score', method: 'POST', status: '200' }), 1);
    assert.equal(value(j, 'nemotron_num_requests_running', m), 0);
    assert.equal(value(j, 'nemotron_num_requests_waiting', m), 0);
    assert.equal(value(j, 'nemotron_kv_cache_usage_perc', m), 0);
    // Prefix caching: the second and third requests found all but the last prompt token cached.
    assert.equal(b.usage!.prompt_tokens_details?.cached_tokens, prompt - 1);
    assert.equal(d('nemotron_prefix_cache_queries_total'), prompt * 3);
    assert.equal(d('nemotron_prefix_cache_hits_total'), 2 * (prompt - 1));
    assert.ok(value(j, 'nemotron_prefix_cache_entries', m) >= 1);
    assert.ok(value(j, 'nemotron_prefix_cache_tokens', m) >= prompt);
    assert.ok(j.some((x) => x.name === 'nemotron_process_resident_memory_bytes'), 'process defaults');
    assert.ok(j.some((x) => x.name === 'nemotron_nodejs_eventloop_lag_seconds'), 'event-loop lag');
  });

  test('shared-prompt scoring counts the prompt tokens it did not recompute', async () => {
    const before = await server.metrics.registry.getMetricsAsJSON();
    const long = [{ role: 'user', content: 'Explain, step by step and with care, how a reward model ranks answers. '.repeat(12) }];
    const res = await fetch(`${server.url}/v1/score`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'reward', messages: long, responses: ['It scores each.', 'Higher is better.', 'By reward.'] }),
    });
    assert.equal(res.status, 200);
    const j = await server.metrics.registry.getMetricsAsJSON();
    const shared = value(j, 'nemotron_score_shared_prompt_tokens_total', { model_name: 'reward' }) - value(before, 'nemotron_score_shared_prompt_tokens_total', { model_name: 'reward' });
    // Three responses to a prompt of well over 128 tokens: two of them reuse the prompt's prefill.
    assert.ok(shared >= 2 * 128, `shared ${shared}`);
    assert.equal(shared % 2, 0, 'the same prefix for each of the other two responses');
  });

  test('GET /metrics serves the text format without the API key', async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /# TYPE nemotron_num_requests_running gauge/);
    assert.match(text, /nemotron_num_requests_running\{model_name="instruct"\} 0/);
  });

  test('promtool check metrics passes on a live scrape', { skip: !hasPromtool() && !process.env.CI ? 'promtool not installed (CI installs it)' : false }, async () => {
    assert.ok(hasPromtool(), 'CI must have promtool (Debian package prometheus; .ci/run installs it)');
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    assert.equal((r.stdout + r.stderr).trim(), '', 'no lint findings');
  });
});
