// Worker-thread bootstrap: Node 20 does not pass `--import tsx` on to worker threads, so the worker
// registers tsx's TypeScript loader itself before importing the real entry (worker.ts).
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
