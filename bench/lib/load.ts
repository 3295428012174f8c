/**
 * The load generator: N concurrent streaming clients against POST /v1/completions, each with a fixed
 * prompt of token ids and a fixed output length (ignore_eos, greedy), timing every SSE chunk as it
 * arrives. Runs in the bench's own process, apart from the server's.
 */
import http from 'node:http';
import { median, summarize, type Summary } from './stats.ts';

/** A prompt of exactly `len` token ids, different for each client `i` (no two requests share a prompt). */
export function promptIds(len: number, i: number): number[] {
  return Array.from({ length: len }, (_, k) => 1000 + ((k * 7 + i * 13) % 5000));
}

/** Timings of one streamed request (ms from the moment the request was sent). */
export interface StreamTiming {
  /** First chunk carrying text. */
  ttftMs: number;
  /** Arrival of each text chunk. */
  chunkMs: number[];
  e2eMs: number;
  /** completion_tokens from the usage chunk. */
  completionTokens: number;
  promptTokens: number;
  finishReason: string | null;
  error?: string;
}

/** Splits a growing SSE text into complete `data:` payloads; returns them and the unfinished rest. */
export function parseSseFrames(buffer: string): { frames: string[]; rest: string } {
  const parts = buffer.split('\n\n');
  const rest = parts.pop() ?? '';
  const frames: string[] = [];
  for (const part of parts) {
    for (const line of part.split('\n')) if (line.startsWith('data: ')) frames.push(line.slice(6));
  }
  return { frames, rest };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

/** Sends one streaming completion and times it. */
export function streamCompletion(url: string, body: Record<string, unknown>): Promise<StreamTiming> {
  const payload = JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } });
  return new Promise((resolve) => {
    const t0 = performance.now();
    const timing: StreamTiming = { ttftMs: NaN, chunkMs: [], e2eMs: NaN, completionTokens: 0, promptTokens: 0, finishReason: null };
    const fail = (message: string) => {
      timing.error = message;
      timing.e2eMs = performance.now() - t0;
      resolve(timing);
    };
    const req = http.request(
      `${url}/v1/completions`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: string) => (text += c));
          res.on('end', () => fail(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
          return;
        }
        let buf = '';
        res.on('data', (chunk: string) => {
          const now = performance.now() - t0;
          const { frames, rest } = parseSseFrames(buf + chunk);
          buf = rest;
          for (const f of frames) {
            if (f === '[DONE]') continue;
            const j = JSON.parse(f) as {
              choices?: Array<{ text?: string; finish_reason?: string | null }>;
              usage?: { completion_tokens: number; prompt_tokens: number } | null;
              error?: { message: string };
            };
            if (j.error) timing.error = j.error.message;
            const c = j.choices?.[0];
            if (c?.text) {
              if (timing.chunkMs.length === 0) timing.ttftMs = now;
              timing.chunkMs.push(now);
            }
            if (c?.finish_reason) timing.finishReason = c.finish_reason;
            if (j.usage) {
              timing.completionTokens = j.usage.completion_tokens;
              timing.promptTokens = j.usage.prompt_tokens;
            }
          }
        });
        res.on('end', () => {
          timing.e2eMs = performance.now() - t0;
          resolve(timing);
        });
        res.on('error', (e) => fail(e.message));
      },
    );
    req.on('error', (e) => fail(e.message));
    req.end(payload);
  });
}

/** One concurrency level's figures. */
export interface LevelResult {
  concurrency: number;
  /** Waves of `concurrency` simultaneous requests (interleaved with other runners' runs). */
  waves: number;
  requests: number;
  errors: string[];
  promptTokens: number;
  outputTokensPerRequest: number;
  /** Output tokens received, all waves. */
  outputTokens: number;
  /** Wall time of the waves, summed. */
  wallSeconds: number;
  /** Aggregate output tokens/s: the median over waves of (the wave's output tokens / its wall time). */
  tokensPerSecond: number;
  /** Each wave's aggregate tokens/s, in run order. */
  waveTokensPerSecond: number[];
  /** Mean over requests of output tokens / the request's own end-to-end time. */
  perStreamTokensPerSecond: number;
  /** Time to first token, all waves pooled. */
  ttftMs: Summary;
  /** Gaps between consecutive text chunks of a stream (one token per chunk for nearly every token). */
  itlMs: Summary;
  /** Per request: (e2e − ttft) / (tokens − 1). */
  tpotMs: Summary;
  e2eMs: Summary;
  /** Peak server VmRSS sampled during the waves, bytes. */
  serverPeakRssBytes?: number;
}

export interface WaveOptions {
  url: string;
  model: string;
  concurrency: number;
  promptTokens: number;
  outputTokens: number;
  /** Prompt of client i is promptIds(promptTokens, promptSeed + i): waves never repeat a prompt. */
  promptSeed: number;
}

/** One wave: `concurrency` streaming requests sent at once; resolves when all have ended. */
export interface Wave {
  timings: StreamTiming[];
  seconds: number;
}

export async function runWave(o: WaveOptions): Promise<Wave> {
  const t0 = performance.now();
  const timings = await Promise.all(
    Array.from({ length: o.concurrency }, (_, i) =>
      streamCompletion(o.url, {
        model: o.model,
        prompt: promptIds(o.promptTokens, o.promptSeed + i),
        max_tokens: o.outputTokens,
        temperature: 0,
        ignore_eos: true,
      }),
    ),
  );
  return { timings, seconds: (performance.now() - t0) / 1000 };
}

/** Aggregates a level's waves into its figures. */
export function levelFigures(o: { concurrency: number; promptTokens: number; outputTokens: number }, waves: Wave[]): LevelResult {
  const timings = waves.flatMap((w) => w.timings);
  const ok = timings.filter((t) => !t.error);
  const tokens = (ts: StreamTiming[]) => ts.filter((t) => !t.error).reduce((a, t) => a + t.completionTokens, 0);
  const itl = ok.flatMap((t) => t.chunkMs.slice(1).map((ms, k) => ms - t.chunkMs[k]!));
  const waveTps = waves.map((w) => tokens(w.timings) / w.seconds);
  return {
    concurrency: o.concurrency,
    waves: waves.length,
    requests: timings.length,
    errors: timings.filter((t) => t.error).map((t) => t.error!),
    promptTokens: o.promptTokens,
    outputTokensPerRequest: o.outputTokens,
    outputTokens: tokens(timings),
    wallSeconds: waves.reduce((a, w) => a + w.seconds, 0),
    tokensPerSecond: median(waveTps),
    waveTokensPerSecond: waveTps,
    perStreamTokensPerSecond: ok.reduce((a, t) => a + t.completionTokens / (t.e2eMs / 1000), 0) / Math.max(1, ok.length),
    ttftMs: summarize(ok.map((t) => t.ttftMs)),
    itlMs: summarize(itl),
    tpotMs: summarize(ok.filter((t) => t.completionTokens > 1).map((t) => (t.e2eMs - t.ttftMs) / (t.completionTokens - 1))),
    e2eMs: summarize(ok.map((t) => t.e2eMs)),
  };
}
