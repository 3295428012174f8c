/**
 * Reward scoring throughput, by running bench/score.ts (its author's benchmark; it exports nothing, so it
 * runs as a child process and its printed table is read back).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { ScoreFigure } from './types.ts';

export interface ScoreBenchOptions {
  repoRoot: string;
  pairs: number;
  threads: number;
  /** The run is a GPU run but score.ts has no provider flag: say it ran on CPU. */
  onCpuOnly: boolean;
  progress: (msg: string) => void;
}

/** Reads score.ts's "  <mode>   <x> pairs/s …" lines. */
export function parseScoreOutput(out: string): Record<string, number> {
  const pairsPerSecond: Record<string, number> = {};
  for (const m of out.matchAll(/^\s+(\S.*?)\s+([\d.]+) pairs\/s/gm)) pairsPerSecond[m[1]!.trim()] = Number(m[2]);
  return pairsPerSecond;
}

/** Runs `bench/score.ts --pairs N --repeat 1 --lengths short` and returns pairs/s, one at a time vs batched. */
export async function runScoreBench(o: ScoreBenchOptions): Promise<ScoreFigure> {
  o.progress(`reward scoring: bench/score.ts --pairs ${o.pairs} --repeat 1 --lengths short (child process)…`);
  const args = ['--import', 'tsx', join(o.repoRoot, 'bench', 'score.ts'), '--pairs', String(o.pairs), '--repeat', '1', '--lengths', 'short'];
  if (o.threads) args.push('--threads', String(o.threads));
  const { code, out } = await new Promise<{ code: number | null; out: string }>((res) => {
    const p = spawn(process.execPath, args, { cwd: o.repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    p.stdout.on('data', (b: Buffer) => (text += b.toString()));
    p.stderr.on('data', (b: Buffer) => (text += b.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 600_000);
    p.on('exit', (c) => {
      clearTimeout(timer);
      res({ code: c, out: text });
    });
  });
  const pairsPerSecond = parseScoreOutput(out);
  const one = pairsPerSecond['one at a time'];
  const batchedKey = Object.keys(pairsPerSecond).find((k) => k.startsWith('concurrent'));
  const batched = batchedKey ? pairsPerSecond[batchedKey] : undefined;
  if (code !== 0 || one === undefined) {
    return { available: false, note: `bench/score.ts exited ${code}: ${out.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`, pairsPerSecond };
  }
  o.progress(`  ${Object.entries(pairsPerSecond).map(([k, v]) => `${k}: ${v} pairs/s`).join('; ')}`);
  return {
    available: true,
    note: `bench/score.ts on models/reward, ${o.pairs} pairs of short conversations, 1 round${o.onCpuOnly ? ', on CPU (score.ts has no provider flag)' : ''}`,
    pairsPerSecond,
    oneAtATime: one,
    batched,
    ratio: batched !== undefined ? batched / one : undefined,
  };
}
