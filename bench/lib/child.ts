/**
 * A long-lived baseline process (bench/baseline-child.ts) driven over IPC, so its runs can be
 * interleaved with the server's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export class BaselineProcess {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited = false;

  private constructor(readonly name: string, private readonly proc: ChildProcess) {
    proc.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
    proc.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`${name} process exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  /** Starts the process (stderr passes through: it is progress). */
  static start(repoRoot: string, name: string): BaselineProcess {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'baseline-child.ts')], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new BaselineProcess(name, proc);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Runs one op in the child. */
  call<T>(op: string, args: unknown = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} process is gone`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.send({ id, op, args });
    });
  }

  /** Ends the process (disconnecting makes it exit). */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.disconnect();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}
