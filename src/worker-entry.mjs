// Worker-thread bootstrap: Node 20 does not pass `--import tsx` on to worker threads, so the worker
// registers tsx's TypeScript loader itself, then imports the entry module named in workerData.module
// (resolved against src/, e.g. './runtime/worker.ts', './scoring/score-worker.ts', './tokenizer/pool-worker.ts').
// One bootstrap for every worker thread of the project; it belongs to no layer.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(new URL(workerData.module, import.meta.url).href);
