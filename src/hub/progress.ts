/**
 * Download progress on stderr: bytes done of the total, speed, ETA. On a terminal one line is redrawn
 * in place (at most ~10 times a second); elsewhere (logs, CI, pipes) a plain line is written every
 * `intervalMs` and when each file completes, so a log never fills with carriage returns.
 */
import { formatBytes } from './errors.ts';

/** What a pull reports; every method is cheap and may be called per network chunk. */
export interface PullProgress {
  /** Before the first download: the bytes of every selected file, and those already on disk. */
  start(totalBytes: number, presentBytes: number, files: number): void;
  /** A file begins (or resumes at `offset`). */
  file(path: string, size: number, offset: number): void;
  /** `n` more bytes arrived. */
  advance(n: number): void;
  /** `n` bytes counted by advance() were lost (a dropped connection rewound to what is on disk). */
  rewind(n: number): void;
  /** A line of information (a retry, a resume). */
  note(text: string): void;
  /** The current file is complete. */
  fileDone(path: string): void;
  /** Everything is done (or failed): end the line. */
  finish(): void;
}

/** A progress sink that shows nothing. */
export const SILENT_PROGRESS: PullProgress = {
  start() {},
  file() {},
  advance() {},
  rewind() {},
  note() {},
  fileDone() {},
  finish() {},
};

/** Formats seconds as 45s, 3m05s, 2h07m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The stream the bar writes to: stderr, or a test's collector. */
export interface ProgressOut {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Renders progress to a stream (see the file comment for TTY vs plain output). */
export class ProgressBar implements PullProgress {
  private total = 0;
  private done = 0;
  private current = '';
  private lastDraw = 0;
  private drawn = false;
  /** (time ms, bytes done) samples over the last few seconds, for the speed. */
  private samples: Array<[number, number]> = [];

  constructor(
    private readonly out: ProgressOut,
    private readonly opts: { intervalMs?: number; now?: () => number } = {},
  ) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  start(totalBytes: number, presentBytes: number, files: number): void {
    this.total = totalBytes;
    this.done = presentBytes;
    this.samples = [[this.now(), this.done]];
    this.lastDraw = this.now();
    const have = presentBytes > 0 ? ` (${formatBytes(presentBytes)} already in the cache)` : '';
    this.line(`${files} file(s), ${formatBytes(totalBytes)}${have}`);
  }

  file(path: string, size: number, offset: number): void {
    this.current = path;
    if (offset > 0) this.line(`resuming ${path} at ${formatBytes(offset)} of ${formatBytes(size)}`);
    this.draw(true);
  }

  advance(n: number): void {
    this.done += n;
    this.draw(false);
  }

  rewind(n: number): void {
    this.done -= n;
  }

  note(text: string): void {
    this.line(text);
  }

  fileDone(path: string): void {
    if (!this.tty) this.line(`done ${path}  ${this.status()}`);
    else this.draw(true);
  }

  finish(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  /** bytes done / total, percent, speed, ETA. */
  status(): string {
    const pct = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    const speed = this.speed();
    const eta = speed > 0 ? formatDuration((this.total - this.done) / speed) : '--';
    return `${pct}%  ${formatBytes(this.done)} / ${formatBytes(this.total)}  ${formatBytes(speed)}/s  ETA ${eta}`;
  }

  /** Bytes per second over the last ~5 s. */
  private speed(): number {
    const t = this.now();
    this.samples.push([t, this.done]);
    while (this.samples.length > 2 && t - this.samples[0]![0] > 5000) this.samples.shift();
    const [t0, b0] = this.samples[0]!;
    return t > t0 ? ((this.done - b0) * 1000) / (t - t0) : 0;
  }

  private bar(width: number): string {
    const filled = this.total > 0 ? Math.round((width * this.done) / this.total) : width;
    return `[${'#'.repeat(Math.min(width, filled))}${'-'.repeat(Math.max(0, width - filled))}]`;
  }

  private draw(force: boolean): void {
    const t = this.now();
    const interval = this.tty ? 100 : (this.opts.intervalMs ?? 10_000);
    if (!force && t - this.lastDraw < interval) return;
    if (!this.tty) {
      if (!force) {
        this.lastDraw = t;
        this.line(`${this.current}  ${this.status()}`);
      }
      return;
    }
    this.lastDraw = t;
    const cols = this.out.columns ?? 100;
    const text = `${this.bar(20)} ${this.status()}  ${this.current}`;
    this.out.write(`\r${text.slice(0, cols - 1).padEnd(Math.min(cols - 1, text.length))}\x1b[K`);
    this.drawn = true;
  }

  private line(text: string): void {
    if (this.tty && this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
    this.drawn = false;
  }
}
