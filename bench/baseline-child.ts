/**
 * A baseline runner in its own process (so each has its own memory figure and none shares a heap or a
 * thread pool with the bench): `node --import tsx bench/baseline-child.ts` with an IPC channel. It stays
 * up for the whole run, so the bench can interleave its runs with the server's (machine load drifts; runs
 * taken side by side see the same load). Progress on stderr.
 *
 * Requests {id, op, args} → replies {id, ok, result | error}. Ops:
 *   raw.open {onnxPath, threads, provider}           the raw onnxruntime-node greedy loop (raw-loop.ts)
 *   raw.run  RawLoopOptions                          one loop; returns RawLoopResult
 *   tjs.open {modelDir, device, threads}             transformers.js on the same model folder
 *   tjs.serve {prompts, outputTokens}                requests that arrived together, served one after another
 *   gpucopy {sizesBytes, deviceId}                   host↔device copy bandwidth (CUDA only)
 *   memory                                           this process's VmRSS / VmHWM
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { procMemory } from './lib/machine.ts';
import { openRawSession, rawGreedyRun, type RawLoopOptions } from './raw-loop.ts';

const log = (s: string) => process.stderr.write(`    ${s}\n`);

let raw: InferenceSession | undefined;

/** One served transformers.js request. */
export interface TjsRequestTiming {
  /** When generate() began, ms after the requests arrived (all at once). */
  startedMs: number;
  /** The request's own generate() time. */
  seconds: number;
  /** Each new token's time, ms after its own generate() began. */
  tokenMs: number[];
  generated: number;
  tokens: number[];
}

export interface TjsServeResult {
  totalSeconds: number;
  requests: TjsRequestTiming[];
  /** Session calls of the first request: [input width, past length] per call. */
  calls: Array<{ width: number; past: number }>;
}

type Generate = (prompt: number[], maxNew: number) => Promise<{ seconds: number; tokenMs: number[]; tokens: number[] }>;
let tjs: { generate: Generate; calls: Array<{ width: number; past: number }>; loadSeconds: number } | undefined;

async function tjsOpen(a: { modelDir: string; device: 'cpu' | 'cuda'; threads?: number }) {
  const t = await import('@huggingface/transformers');
  t.env.allowRemoteModels = false;
  t.env.localModelPath = dirname(a.modelDir) + '/';
  const t0 = performance.now();
  // dtype 'fp32' selects onnx/model.onnx (no file-name suffix); the KV cache type is read from the graph.
  const model = await t.AutoModelForCausalLM.from_pretrained(basename(a.modelDir), {
    local_files_only: true,
    dtype: 'fp32',
    device: a.device,
    ...(a.threads ? { session_options: { intraOpNumThreads: a.threads } } : {}),
  });
  const loadSeconds = (performance.now() - t0) / 1000;
  type Feeds = Record<string, { dims: readonly number[] }>;
  const session = (model as unknown as { sessions: Record<string, { run: (f: Feeds) => Promise<unknown> }> }).sessions.model!;
  // Watch the session: a KV-cached generate is one prompt step, then one-token steps over a growing past.
  const calls: Array<{ width: number; past: number }> = [];
  const run = session.run.bind(session);
  session.run = (feeds: Feeds) => {
    calls.push({ width: feeds.input_ids!.dims.at(-1)!, past: feeds['past_key_values.0.key']?.dims[2] ?? -1 });
    return run(feeds);
  };
  const generate: Generate = async (prompt, maxNew) => {
    const ids = new t.Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]);
    const mask = new t.Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    const tokenMs: number[] = [];
    let first = true;
    const start = performance.now();
    const streamer = {
      put() {
        if (first) first = false; // the first call carries the prompt
        else tokenMs.push(performance.now() - start);
      },
      end() {},
    };
    const out = (await model.generate({
      input_ids: ids,
      attention_mask: mask,
      max_new_tokens: maxNew,
      min_new_tokens: maxNew, // exact lengths, as ignore_eos on the server
      do_sample: false, // greedy (the folder's generation_config.json asks for sampling)
      streamer,
    } as never)) as { tolist(): bigint[][] };
    const seconds = (performance.now() - start) / 1000;
    return { seconds, tokenMs, tokens: out.tolist()[0]!.slice(prompt.length).map(Number) };
  };
  tjs = { generate, calls, loadSeconds };
  return { loadSeconds };
}

async function tjsServe(a: { prompts: number[][]; outputTokens: number }): Promise<TjsServeResult> {
  if (!tjs) throw new Error('tjs.open first');
  const requests: TjsRequestTiming[] = [];
  let calls: TjsServeResult['calls'] = [];
  const arrival = performance.now();
  for (let i = 0; i < a.prompts.length; i++) {
    const startedMs = performance.now() - arrival;
    tjs.calls.length = 0;
    const g = await tjs.generate(a.prompts[i]!, a.outputTokens);
    if (i === 0) calls = [...tjs.calls];
    requests.push({ startedMs, seconds: g.seconds, tokenMs: g.tokenMs, generated: g.tokens.length, tokens: g.tokens });
    log(`transformers.js request ${i + 1}/${a.prompts.length}: ${g.tokens.length} tokens in ${g.seconds.toFixed(2)} s (${(g.tokens.length / g.seconds).toFixed(1)} tok/s)`);
  }
  return { totalSeconds: (performance.now() - arrival) / 1000, requests, calls };
}

async function gpuCopy(a: { sizesBytes: number[]; deviceId?: number }) {
  // A one-op graph y = -x on the CUDA provider. Inputs and outputs live in host memory (onnxruntime-node
  // has no device IO binding), so each run copies x to the device and y back — as every decode step does
  // with the KV cache.
  const ort = await import('onnxruntime-node');
  const { GraphBuilder } = await import('../src/modelgen/graph-builder.ts');
  const { writeOnnxModel } = await import('../src/modelgen/onnx-writer.ts');
  const dir = mkdtempSync(join(tmpdir(), 'bench-gpucopy-'));
  try {
    const g = new GraphBuilder();
    g.input('x', 'float32', ['n']);
    g.op('Neg', ['x'], {}, { outputs: ['y'] });
    g.output('y', 'float32', ['n']);
    const path = join(dir, 'neg.onnx');
    writeOnnxModel(path, g, { graphName: 'neg' });
    const session = await ort.InferenceSession.create(path, {
      executionProviders: [{ name: 'cuda', deviceId: a.deviceId ?? 0 } as never],
    });
    const sizes = [];
    for (const bytes of a.sizesBytes) {
      const x = new ort.Tensor('float32', new Float32Array(bytes / 4).fill(1), [bytes / 4]);
      await session.run({ x });
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        await session.run({ x });
        best = Math.min(best, performance.now() - t0);
      }
      // bytes to the device and bytes back: 2 × bytes moved in `best` ms.
      sizes.push({ bytes, roundTripMs: best, bytesMovedPerSecond: (2 * bytes) / (best / 1000) });
      log(`host↔device copy of ${(bytes / 2 ** 20).toFixed(0)} MiB each way: ${best.toFixed(2)} ms`);
    }
    await session.release();
    return { sizes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ops: Record<string, (args: never) => Promise<unknown>> = {
  'raw.open': async (a: { onnxPath: string; threads?: number; provider?: 'cpu' | 'cuda' }) => {
    raw = await openRawSession(a.onnxPath, { threads: a.threads, provider: a.provider });
    return {};
  },
  'raw.run': async (a: RawLoopOptions) => {
    if (!raw) throw new Error('raw.open first');
    return rawGreedyRun(raw, a);
  },
  'tjs.open': tjsOpen,
  'tjs.serve': tjsServe,
  gpucopy: gpuCopy,
  memory: async () => procMemory('self'),
};

if (!process.send) {
  process.stderr.write('bench/baseline-child.ts runs as a child of bench/run.ts (it needs an IPC channel)\n');
  process.exit(2);
}
process.on('message', (m: { id: number; op: string; args: unknown }) => {
  const op = ops[m.op];
  const done = op ? op(m.args as never) : Promise.reject(new Error(`unknown op ${m.op}`));
  done.then(
    (result) => process.send!({ id: m.id, ok: true, result }),
    (err: unknown) => process.send!({ id: m.id, ok: false, error: (err as Error)?.stack ?? String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
