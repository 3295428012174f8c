/**
 * The machine a run was measured on, a measured memory copy bandwidth, and the batch-1 decode roofline
 * derived from them (model bytes read per token / bandwidth).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);

/** Version of an installed npm package, or null (found from its entry point when its exports hide package.json). */
export function packageVersion(name: string): string | null {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    try {
      let dir = dirname(require.resolve(name));
      for (let i = 0; i < 6; i++, dir = dirname(dir)) {
        const pkg = join(dir, 'package.json');
        if (existsSync(pkg)) {
          const j = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string; version?: string };
          if (j.name === name) return j.version ?? null;
        }
      }
    } catch {
      /* not installed */
    }
    return null;
  }
}

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs Node sees (os.availableParallelism()). */
  cpus: number;
  memoryGiB: number;
  os: string;
  node: string;
  onnxruntimeNode: string | null;
  transformersJs: string | null;
  /** GPU name and memory from nvidia-smi, when there is one. */
  gpu?: string;
  /** 1-minute load average when the run started (other work on the machine skews figures). */
  loadAvgStart: number[];
}

/** What this run ran on. */
export function machineInfo(): MachineInfo {
  let gpu: string | undefined;
  try {
    gpu = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim().split('\n').join('; ');
  } catch {
    gpu = undefined;
  }
  return {
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    transformersJs: packageVersion('@huggingface/transformers'),
    ...(gpu ? { gpu } : {}),
    loadAvgStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** The copy loop a worker runs: `reps` copies of `bytes`, returns the best seconds. */
const COPY_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { bytes, reps } = workerData;
const a = Buffer.alloc(bytes, 1), b = Buffer.alloc(bytes, 2);
a.copy(b); // fault the pages in
parentPort.once('message', () => {
  let best = Infinity;
  for (let i = 0; i < reps; i++) { const t = performance.now(); a.copy(b); best = Math.min(best, performance.now() - t); }
  parentPort.postMessage(best / 1000);
});
parentPort.postMessage('ready');
`;

/** Runs `threads` workers copying `bytes` each at the same moment; returns their total bytes copied per second. */
async function parallelCopy(threads: number, bytes: number, reps: number): Promise<number> {
  const workers = Array.from({ length: threads }, () => new Worker(COPY_WORKER, { eval: true, workerData: { bytes, reps } }));
  try {
    await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
    const secs = await Promise.all(
      workers.map((w) => {
        const done = new Promise<number>((r) => w.once('message', r));
        w.postMessage('go');
        return done;
      }),
    );
    return secs.reduce((sum, s) => sum + bytes / s, 0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export interface Bandwidth {
  /** Size of each copy, bytes. */
  bufferBytes: number;
  /** Buffer.copy from one thread: bytes copied per second. */
  copyOneThread: number;
  /** One copy per logical CPU at once: total bytes copied per second. */
  copyAllThreads: number;
  threads: number;
  /**
   * Memory traffic of the faster of the two, STREAM's convention (a copy reads and writes each byte:
   * 2 × bytes copied per second). Used for the roofline.
   */
  trafficBytesPerSecond: number;
}

/** Measures large-buffer copy bandwidth (best of `reps` copies), on one thread and on every CPU. */
export async function copyBandwidth(bufferBytes = 256 * 2 ** 20, reps = 5): Promise<Bandwidth> {
  const threads = os.availableParallelism();
  const one = await parallelCopy(1, bufferBytes, reps);
  const all = threads > 1 ? await parallelCopy(threads, Math.floor(bufferBytes / threads), reps) : one;
  return { bufferBytes, copyOneThread: one, copyAllThreads: all, threads, trafficBytesPerSecond: 2 * Math.max(one, all) };
}

/** The batch-1 decode roofline on the host: weights read per token / measured memory traffic. */
export function hostRoofline(bytesPerToken: number, bandwidth: Bandwidth): { tokensPerSecond: number; msPerToken: number; note: string } {
  const s = bytesPerToken / bandwidth.trafficBytesPerSecond;
  return { tokensPerSecond: 1 / s, msPerToken: s * 1000, note: `${(bytesPerToken / 2 ** 20).toFixed(0)} MiB per token / ${(bandwidth.trafficBytesPerSecond / 1e9).toFixed(1)} GB/s` };
}

export interface ModelBytes {
  /** Bytes of the model's weights on disk (graph file + external data). */
  weightBytes: number;
  /** Bytes of the input embedding table (a decode step reads one row of it, not all). */
  embeddingBytes: number;
  /** Weights a batch-1 decode step reads: every weight but the embedding table, plus one embedding row. */
  bytesPerToken: number;
  parameters: number;
  dtype: string;
}

/**
 * Bytes a batch-1 decode step must read from memory, from the model folder: the weight files minus the
 * embedding table (only the token's row is gathered). The KV cache read is left out (small at short
 * context: the bench model holds 8 KiB per token).
 */
export function modelBytes(modelDir: string, onnxPath: string): ModelBytes {
  const config = JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as {
    hidden_size: number;
    vocab_size: number;
    torch_dtype?: string;
    nemotron_onnx?: { dtype?: string };
  };
  const dtype = config.nemotron_onnx?.dtype ?? config.torch_dtype ?? 'float32';
  const elem = dtype === 'float16' ? 2 : 4;
  let weightBytes = statSync(onnxPath).size;
  for (const side of [`${onnxPath}_data`, `${onnxPath}.data`]) {
    try {
      weightBytes += statSync(side).size;
    } catch {
      /* no side file of that name */
    }
  }
  const embeddingBytes = config.vocab_size * config.hidden_size * elem;
  return {
    weightBytes,
    embeddingBytes,
    bytesPerToken: weightBytes - embeddingBytes + config.hidden_size * elem,
    parameters: Math.round(weightBytes / elem),
    dtype,
  };
}

/** The peak and current resident memory of a process, from /proc (Linux), bytes. */
export function procMemory(pid: number | 'self'): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}
