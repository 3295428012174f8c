/**
 * `tsx bench/gc-heap.ts [batch] [rounds] [prompt]`: the experiment behind bench/FINDINGS.md. The same raw
 * onnxruntime-node greedy loop (raw-loop.ts) runs in three processes, in turns:
 *
 *   plain        nothing else in the V8 heap
 *   tokenizer    the full tokenizer loaded and kept alive, as the model worker holds it (src/runtime/worker.ts)
 *   vocab-only   only a decode table (128,256 token strings), what detokenizing needs
 *
 * onnxruntime-node copies every output (present KV, logits) into a fresh ArrayBuffer on every run; every
 * 64 MB of those, V8 starts a full mark-compact, whose cost is the size of the live heap. Prints tokens/s,
 * the median decode step and the GC time per run. Not a test.
 */
import { fork } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { median } from './lib/stats.ts';
import { openRawSession, rawGreedyRun } from './raw-loop.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(REPO, 'models', 'bench');
const VARIANTS = ['plain', 'tokenizer', 'vocab-only'] as const;

async function child(variant: string): Promise<void> {
  let gcMs = 0;
  new PerformanceObserver((l) => l.getEntries().forEach((e) => (gcMs += e.duration))).observe({ entryTypes: ['gc'] });
  // Held on globalThis: a module-level const no closure uses would be collected.
  const g = globalThis as { held?: unknown };
  if (variant === 'tokenizer') g.held = await loadTokenizer(MODEL);
  if (variant === 'vocab-only') {
    const tok = await loadTokenizer(MODEL);
    g.held = Array.from({ length: tok.vocabSize }, (_, i) => tok.decode([i], { skipSpecialTokens: false }));
  }
  const session = await openRawSession(join(MODEL, 'onnx', 'model.onnx'));
  process.on('message', async (m: { batch: number; tokens: number; prompt: number }) => {
    const g0 = gcMs;
    const r = await rawGreedyRun(session, { batch: m.batch, promptTokens: m.prompt, outputTokens: m.tokens });
    const heapMiB = process.memoryUsage().heapUsed / 2 ** 20;
    process.send!({ tps: r.tokensPerSecond, stepMs: median(r.decodeStepMs), gcMs: gcMs - g0, heapMiB });
  });
  process.send!({ ready: true });
}

async function main(): Promise<void> {
  const batch = Number(process.argv[2] ?? 16);
  const rounds = Number(process.argv[3] ?? 4);
  const prompt = Number(process.argv[4] ?? 64);
  const kids = await Promise.all(
    VARIANTS.map(async (v) => {
      const c = fork(fileURLToPath(import.meta.url), ['--child', v], { execArgv: ['--import', 'tsx'] });
      await new Promise((r) => c.once('message', r));
      return c;
    }),
  );
  type Reply = { tps: number; stepMs: number; gcMs: number; heapMiB: number };
  const call = (i: number, tokens: number) =>
    new Promise<Reply>((r) => {
      kids[i]!.once('message', r);
      kids[i]!.send({ batch, tokens, prompt });
    });
  for (let i = 0; i < kids.length; i++) await call(i, 3); // warm-up
  console.log(`raw loop, batch ${batch}, prompt ${prompt}, 64 tokens; ${rounds} rounds, variants in turn`);
  for (let r = 0; r < rounds; r++) {
    const cells: string[] = [];
    for (let i = 0; i < kids.length; i++) {
      const x = await call(i, 64);
      cells.push(`${VARIANTS[i]}: ${x.tps.toFixed(0)} tok/s, step ${x.stepMs.toFixed(1)} ms, GC ${x.gcMs.toFixed(0)} ms, heap ${x.heapMiB.toFixed(0)} MiB`);
    }
    console.log(cells.join(' | '));
  }
  for (const k of kids) k.kill();
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
