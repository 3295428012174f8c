/**
 * The baselines, each run in a child process of the bench (so each has its own memory figure and
 * nothing of one run lingers in the next): `tsx bench/baseline-child.ts '<json task>'`. Prints progress
 * on stderr and one line `BENCH_RESULT <json>` on stdout.
 *
 * Tasks:
 *   raw      the raw onnxruntime-node greedy loop (raw-loop.ts): a list of runs on one session
 *   tjs      transformers.js `generate` on the same model folder, requests served one after another
 *   gpucopy  host↔device copy bandwidth through a one-op CUDA graph (GPU mode only)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { procMemory } from './lib/machine.ts';
import { openRawSession, rawGreedyRun } from './raw-loop.ts';

export interface RawRunSpec {
  label: string;
  batch: number;
  promptTokens: number;
  outputTokens: number;
  prompt?: number[];
  /** Timed repetitions (default 1); results are listed per repetition. */
  reps?: number;
}

export type BaselineTask =
  | { task: 'raw'; onnxPath: string; threads?: number; provider?: 'cpu' | 'cuda'; runs: RawRunSpec[] }
  | {
      task: 'tjs';
      modelDir: string;
      device: 'cpu' | 'cuda';
      /** One prompt per request; they arrive together and are served one after another. */
      prompts: number[][];
      outputTokens: number;
      /** ONNX Runtime intra-op threads (0: its default, as the server's). */
      threads?: number;
    }
  | { task: 'gpucopy'; sizesBytes: number[]; deviceId?: number };

const log = (s: string) => process.stderr.write(`    ${s}\n`);

async function rawTask(t: Extract<BaselineTask, { task: 'raw' }>) {
  const session = await openRawSession(t.onnxPath, { threads: t.threads, provider: t.provider });
  const results: Array<Record<string, unknown>> = [];
  const warmed = new Set<number>();
  for (const run of t.runs) {
    // Warm-up per batch size: the first steps of a new shape grow ONNX Runtime's arena.
    if (!warmed.has(run.batch)) {
      await rawGreedyRun(session, { batch: run.batch, promptTokens: run.promptTokens, outputTokens: 3, prompt: run.prompt });
      warmed.add(run.batch);
    }
    for (let r = 0; r < (run.reps ?? 1); r++) {
      const res = await rawGreedyRun(session, run);
      log(`raw loop ${run.label}: batch ${run.batch}, prompt ${res.promptTokens}, ${run.outputTokens} tokens: ${res.tokensPerSecond.toFixed(1)} tok/s`);
      results.push({ label: run.label, rep: r, ...res });
    }
  }
  await session.release();
  return { runs: results, memory: procMemory('self') };
}

async function tjsTask(t: Extract<BaselineTask, { task: 'tjs' }>) {
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.localModelPath = dirname(t.modelDir) + '/';
  const t0 = performance.now();
  // dtype 'fp32' selects onnx/model.onnx (no file-name suffix); the KV type is read from the graph.
  const model = await tjs.AutoModelForCausalLM.from_pretrained(basename(t.modelDir), {
    local_files_only: true,
    dtype: 'fp32',
    device: t.device,
    ...(t.threads ? { session_options: { intraOpNumThreads: t.threads } } : {}),
  });
  const loadSeconds = (performance.now() - t0) / 1000;
  const session = (model as unknown as { sessions: Record<string, { run: (f: Record<string, { dims: number[] }>) => Promise<unknown>; inputNames: string[] }> }).sessions.model!;
  // Watch the session: each generate call must be one prompt step then one-token steps over a growing past.
  const calls: Array<{ width: number; past: number }> = [];
  const run = session.run.bind(session);
  session.run = (feeds) => {
    calls.push({ width: feeds.input_ids!.dims.at(-1)!, past: feeds['past_key_values.0.key']?.dims[2] ?? -1 });
    return run(feeds);
  };
  const generate = async (prompt: number[], maxNew: number) => {
    const ids = new tjs.Tensor('int64', BigInt64Array.from(prompt, BigInt), [1, prompt.length]);
    const mask = new tjs.Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
    const tokenMs: number[] = [];
    const start = performance.now();
    let first = true;
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
      min_new_tokens: maxNew, // lengths exact, as ignore_eos on the server
      do_sample: false,
      streamer,
    } as never)) as { tolist(): bigint[][] };
    const seconds = (performance.now() - start) / 1000;
    const tokens = out.tolist()[0]!.slice(prompt.length).map(Number);
    return { seconds, tokenMs, tokens };
  };
  await generate(t.prompts[0]!, 3); // warm-up
  calls.length = 0;
  const requests: Array<Record<string, unknown>> = [];
  const arrival = performance.now();
  let checked: Record<string, unknown> | undefined;
  for (let i = 0; i < t.prompts.length; i++) {
    const startedMs = performance.now() - arrival;
    const g = await generate(t.prompts[i]!, t.outputTokens);
    if (i === 0) {
      checked = {
        runCalls: calls.length,
        prefillWidth: calls[0]?.width,
        decodeWidths: [...new Set(calls.slice(1).map((c) => c.width))],
        pastLengths: calls.map((c) => c.past),
      };
    }
    requests.push({
      startedMs,
      seconds: g.seconds,
      ttftMsOwn: g.tokenMs[0],
      tokenMs: g.tokenMs,
      tokens: i === 0 ? g.tokens : undefined,
      generated: g.tokens.length,
    });
    log(`transformers.js request ${i + 1}/${t.prompts.length}: ${g.tokens.length} tokens in ${g.seconds.toFixed(2)} s (${(g.tokens.length / g.seconds).toFixed(1)} tok/s)`);
  }
  const totalSeconds = (performance.now() - arrival) / 1000;
  await (model as unknown as { dispose(): Promise<void> }).dispose();
  return { loadSeconds, totalSeconds, requests, kvCheck: checked, memory: procMemory('self') };
}

async function gpuCopyTask(t: Extract<BaselineTask, { task: 'gpucopy' }>) {
  // A one-op graph y = -x on the CUDA provider: with inputs and outputs in host memory (onnxruntime-node
  // has no device IO binding), each run copies x to the device and y back, as every decode step does with
  // the KV cache.
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
      executionProviders: [{ name: 'cuda', deviceId: t.deviceId ?? 0 } as never],
    });
    const sizes = [];
    for (const bytes of t.sizesBytes) {
      const x = new ort.Tensor('float32', new Float32Array(bytes / 4).fill(1), [bytes / 4]);
      await session.run({ x });
      let best = Infinity;
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        await session.run({ x });
        best = Math.min(best, performance.now() - t0);
      }
      sizes.push({ bytes, roundTripMs: best, bytesMovedPerSecond: (2 * bytes) / (best / 1000) });
      log(`host↔device copy ${(bytes / 2 ** 20).toFixed(0)} MiB each way: ${best.toFixed(2)} ms`);
    }
    await session.release();
    return { sizes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const task = JSON.parse(process.argv[2] ?? '{}') as BaselineTask;
const result = task.task === 'raw' ? await rawTask(task) : task.task === 'tjs' ? await tjsTask(task) : await gpuCopyTask(task);
process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
