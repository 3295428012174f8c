import { Worker } from 'node:worker_threads';

/** The bootstrap every model worker starts from (it registers tsx, then imports the real entry). */
export const WORKER_ENTRY = new URL('../worker-entry.mjs', import.meta.url);

/** What a host needs to know about its worker's messages. */
export interface WorkerHostHandlers<Ready> {
  /** Every message other than 'ready' and 'fatal'. */
  onMessage(m: { type: string } & Record<string, unknown>): void;
  /** The worker exited without being asked to (after it was ready). */
  onCrash(code: number): void;
  /** The worker is ready again after a restart. */
  onRestarted?(ready: Ready): void;
}

/**
 * Owns one model worker thread: starts it, waits for its 'ready' message, routes its messages, notices
 * an unexpected exit (a crash), and restarts it. Shared by the generation engine and the reward scorer.
 *
 * States: starting → alive → (crashed → starting → alive)* → closing → closed.
 */
export class WorkerHost<Ready extends { type: 'ready' }> {
  private worker!: Worker;
  private closing = false;
  alive = false;
  restarts = 0;

  constructor(
    /** Module the bootstrap imports (relative to src/, e.g. './runtime/worker.ts'). */
    private readonly module: string,
    private readonly data: unknown,
    private readonly handlers: WorkerHostHandlers<Ready>,
    private readonly label: string,
    private readonly restartOnCrash = true,
  ) {}

  /** Starts the worker; resolves with its ready message, rejects if it fails first. */
  start(): Promise<Ready> {
    this.worker = new Worker(WORKER_ENTRY, { workerData: { module: this.module, data: this.data } });
    const ready = new Promise<Ready>((resolve, reject) => {
      this.worker.on('message', (m: { type: string } & Record<string, unknown>) => {
        if (m.type === 'ready') {
          this.alive = true;
          resolve(m as unknown as Ready);
        } else if (m.type === 'fatal') {
          reject(new Error(`model worker for ${this.label} failed: ${String(m.message)}`));
        } else this.handlers.onMessage(m);
      });
      this.worker.on('error', (err) => reject(err));
      this.worker.on('exit', (code) => {
        const wasAlive = this.alive;
        this.alive = false;
        if (this.closing) return;
        reject(new Error(`model worker for ${this.label} exited with code ${code} before it was ready`));
        if (!wasAlive) return;
        this.handlers.onCrash(code);
        if (this.restartOnCrash) {
          this.restarts++;
          this.start().then((r) => this.handlers.onRestarted?.(r), () => undefined);
        }
      });
    });
    // Awaited by the caller of start(); a later crash must not become an unhandled rejection.
    ready.catch(() => undefined);
    return ready;
  }

  /** Sends a message (dropped while the worker is down). */
  post(message: unknown): void {
    if (this.alive) this.worker.postMessage(message);
  }

  /** Asks the worker to finish (`closeMessage`), waits for it to exit (terminates it after `ms`). */
  async close(closeMessage: unknown = { type: 'close' }, ms = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.alive) {
      await this.worker.terminate();
      return;
    }
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.postMessage(closeMessage);
    const timer = setTimeout(() => void this.worker.terminate(), ms);
    await exited;
    clearTimeout(timer);
  }
}
