/**
 * Worker-thread entry of one model: owns the ONNX session and the step loop, so `session.run` never
 * blocks the main thread. Protocol (messages):
 *   main → worker: {type:'generate', id, request} | {type:'abort', id} | {type:'close'} | {type:'crash'}
 *   worker → main: {type:'ready', spec, provider, kvBudgetTokens} | {type:'report', ...StepReport}
 *                  | {type:'fatal', message}
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { TokenTable } from '../tokenizer/token-table.ts';
import type { ExecutionOptions } from './model-session.ts';
import { NativeModel } from './native-model.ts';
import { StepLoop } from './step-loop.ts';
import type { GenerationRequest } from './types.ts';
import { resolveKvBudget, type WorkerLimits } from './limits.ts';
import { getTokenVocabulary } from './grammar/index.ts';

/** Data the main thread hands a model worker. */
export interface WorkerInit {
  modelDir: string;
  tokenizerDir?: string;
  exec: Partial<ExecutionOptions>;
  limits: WorkerLimits;
  /** Automatic prefix caching (default on). */
  prefixCaching?: boolean;
}

type Inbound =
  | { type: 'generate'; id: number; request: GenerationRequest }
  | { type: 'abort'; id: number }
  | { type: 'close' }
  | { type: 'crash' };

async function main(): Promise<void> {
  const port = parentPort!;
  const init = (workerData as { data: WorkerInit }).data;
  const session = NativeModel.open(init.modelDir, init.exec);
  if (!session.spec.hasKvCache) {
    throw new Error(`${init.modelDir} has no KV cache inputs: it can score (serve it as a reward model) but not generate`);
  }
  // The worker only decodes: it keeps a packed TokenTable, and the full tokenizer (millions of small
  // objects that would slow every full GC in this thread) becomes garbage right here.
  const tokenizer = TokenTable.fromTokenizer(await loadTokenizer(init.tokenizerDir ?? init.modelDir));
  // Prepare the vocabulary for constrained decoding now, not on the first JSON-schema request (~0.2 s).
  getTokenVocabulary(tokenizer);
  const kvBudgetTokens = resolveKvBudget(init.limits, session.spec);
  const loop = new StepLoop(
    session,
    session.createPool(kvBudgetTokens),
    tokenizer,
    {
      maxNumSeqs: init.limits.maxNumSeqs,
      maxBatchedTokens: init.limits.maxBatchedTokens,
      minChunk: init.limits.minChunk,
      chunkedPrefill: session.spec.chunkedPrefill,
    },
    (report) => port.postMessage({ type: 'report', ...report }),
    { prefixCaching: init.prefixCaching },
  );
  port.on('message', (m: Inbound) => {
    if (m.type === 'generate') loop.submit(m.id, m.request);
    else if (m.type === 'abort') loop.abort(m.id);
    else if (m.type === 'close') loop.close();
    // Ends this thread abruptly, between steps, as a fatal error would (tests of crash recovery).
    else if (m.type === 'crash') process.exit(70);
  });
  port.postMessage({ type: 'ready', spec: session.spec, provider: session.provider, kvBudgetTokens });
  await loop.run();
  session.close();
  port.close();
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'fatal', message: (err as Error)?.message ?? String(err) });
  process.exitCode = 1;
});
