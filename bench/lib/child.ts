/** Runs a baseline task (bench/baseline-child.ts) in a child process and returns its result. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { BaselineTask } from '../baseline-child.ts';

/** Spawns the child, passes its stderr through (progress), and parses its `BENCH_RESULT` line. */
export function runBaselineChild<T>(repoRoot: string, task: BaselineTask, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'baseline-child.ts'), JSON.stringify(task)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      process.stderr.write(b);
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as T);
      else reject(new Error(`${task.task} baseline failed (exit ${code ?? signal}): ${(err + out).slice(-2000)}`));
    });
  });
}
