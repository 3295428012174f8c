// TokenizerPool worker bootstrap: Node 20 does not pass `--import tsx` on to worker threads, so the
// worker registers tsx's TypeScript loader itself, then imports the worker module (as
// src/runtime/worker-entry.mjs does for model workers; the tokenizer layer keeps its own copy so it
// depends on nothing else in the project).
import { register } from 'tsx/esm/api';

register();
await import(new URL('./pool-worker.ts', import.meta.url).href);
