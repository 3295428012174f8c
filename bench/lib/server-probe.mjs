// Preloaded into the benchmarked server (node --import ./bench/lib/server-probe.mjs src/main.ts …) when
// it runs with an IPC channel. It measures the main thread's event-loop delay with perf_hooks at a fine
// resolution, independent of the server's own /metrics (prom-client samples at 10 ms and resets the
// histogram on every scrape). Messages from the bench:
//   {type: 'el-reset'}  → clears the histogram, answers {type: 'el-reset-ok'}
//   {type: 'el-read'}   → answers {type: 'el', resolutionMs, count, meanMs, p50Ms, p90Ms, p99Ms, maxMs}
// The histogram records the interval between timer callbacks, which is at least `resolution`; the
// delay the loop added is that interval minus the resolution, and that is what this reports.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const resolutionMs = Number(process.env.BENCH_EL_RESOLUTION_MS || 1);

// Workers inherit --import (execArgv): only the main thread is measured.
if (isMainThread && typeof process.send === 'function') {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  const delay = (ns) => Math.max(0, ns / 1e6 - resolutionMs);
  process.on('message', (m) => {
    if (m?.type === 'el-reset') {
      h.reset();
      process.send({ type: 'el-reset-ok' });
    } else if (m?.type === 'el-read') {
      process.send({
        type: 'el',
        resolutionMs,
        count: h.count,
        meanMs: delay(h.mean),
        p50Ms: delay(h.percentile(50)),
        p90Ms: delay(h.percentile(90)),
        p99Ms: delay(h.percentile(99)),
        maxMs: delay(h.max),
      });
    }
  });
  // The channel must not keep the server alive on its own (main.ts exits by itself on SIGTERM).
  process.channel?.unref();
}
