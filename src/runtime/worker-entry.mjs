// Worker-thread bootstrap: Node 20 does not pass `--import tsx` on to worker threads, so the worker
// registers tsx's TypeScript loader itself, then imports the entry module named in workerData.module
// (resolved against this folder; e.g. './worker.ts' or '../scoring/score-worker.ts').
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(new URL(workerData.module, import.meta.url).href);
