/**
 * Starts the real server (src/main.ts) as a child process, as a user would run it, and watches it: its
 * URL (from the "listening on …" log line), readiness, resident memory (VmRSS sampled, VmHWM at the end;
 * the model worker threads live in the same process), and event-loop delay through the preloaded probe
 * (server-probe.mjs) over an IPC channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { procMemory } from './machine.ts';

export interface EventLoopDelay {
  resolutionMs: number;
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ServerHandle {
  url: string;
  pid: number;
  proc: ChildProcess;
  /** Clears the probe's event-loop histogram. */
  resetEventLoop(): Promise<void>;
  /** The probe's event-loop delay since the last reset. */
  readEventLoop(): Promise<EventLoopDelay>;
  /** Starts sampling VmRSS every `ms`; the returned function stops and gives the peak, bytes. */
  sampleRss(ms?: number): () => number;
  /** Current VmRSS and VmHWM (peak over the process's life), bytes. */
  memory(): { rss: number; hwm: number } | null;
  /** SIGTERM, then wait for the exit (SIGKILL after 20 s). */
  stop(): Promise<number | null>;
  /** Everything the server printed (its JSON log lines). */
  log(): string;
}

export interface StartServerOptions {
  repoRoot: string;
  /** Flags after src/main.ts (--model …). --port 0 is added. */
  args: string[];
  /** Ready within this many ms (model load included). */
  timeoutMs?: number;
  /** Extra node flags (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

/** Starts the server and resolves once /ready answers 200. */
export async function startServer(o: StartServerOptions): Promise<ServerHandle> {
  const probe = join(o.repoRoot, 'bench', 'lib', 'server-probe.mjs');
  const proc = spawn(
    process.execPath,
    [...(o.nodeFlags ?? []), '--import', 'tsx', '--import', probe, join(o.repoRoot, 'src', 'main.ts'), '--port', '0', ...o.args],
    { cwd: o.repoRoot, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env } },
  );
  const exit = once(proc, 'exit').then(([code]) => code as number | null);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + (o.timeoutMs ?? 180_000);
  let url: string | undefined;
  let exited = false;
  void exit.then(() => (exited = true));
  while (!url) {
    if (exited) throw new Error(`server exited before listening:\n${out.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`server did not listen in time:\n${out.slice(-4000)}`);
    url = /listening on (http:\/\/[^\s"]+)/.exec(out)?.[1];
    if (!url) await sleep(50);
  }
  for (;;) {
    if (exited) throw new Error(`server exited before it was ready:\n${out.slice(-4000)}`);
    if (Date.now() > deadline) throw new Error(`server not ready in time:\n${out.slice(-4000)}`);
    const status = await fetch(`${url}/ready`).then((r) => r.status, () => 0);
    if (status === 200) break;
    await sleep(100);
  }
  const ask = <T>(message: object, reply: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server probe did not answer ${reply}`)), 10_000);
      const on = (m: { type?: string }) => {
        if (m?.type !== reply) return;
        clearTimeout(timer);
        proc.off('message', on);
        resolve(m as T);
      };
      proc.on('message', on);
      proc.send(message);
    });
  const pid = proc.pid!;
  return {
    url,
    pid,
    proc,
    resetEventLoop: () => ask<unknown>({ type: 'el-reset' }, 'el-reset-ok').then(() => undefined),
    readEventLoop: () => ask<EventLoopDelay & { type: string }>({ type: 'el-read' }, 'el').then(({ type: _t, ...d }) => d),
    sampleRss(ms = 100) {
      let peak = procMemory(pid)?.rss ?? 0;
      const timer = setInterval(() => {
        const m = procMemory(pid);
        if (m && m.rss > peak) peak = m.rss;
      }, ms);
      return () => {
        clearInterval(timer);
        const m = procMemory(pid);
        return Math.max(peak, m?.rss ?? 0);
      };
    },
    memory: () => procMemory(pid),
    async stop() {
      if (exited) return exit;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const code = await exit;
      clearTimeout(killer);
      return code;
    },
    log: () => out,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads one gauge from a Prometheus text exposition (first sample of that name), or NaN. */
export function promGauge(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([^\\s]+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}
