/**
 * TokenizerPool: encoding, chat-template rendering and decoding of large inputs in worker threads, so
 * the HTTP thread stays free. BPE is far from linear in a word's length (measured here: 16 KiB of one word or of
 * spaces ~190 ms, 2 MiB of one word ~25 s), and everything on the HTTP thread waits while it runs.
 *
 * Callers keep small inputs on their own thread ({@link isCheapToEncode}, {@link isCheapToDecode}): a
 * pool round trip costs more than encoding a chat turn. Each worker builds a tokenizer the first time a task needs it (from the
 * tokenizer's `source()`, so any TextTokenizer works, whether or not its folder still exists); tokenizers
 * built from the same files share one copy per worker. Workers start on first use (or `warm`), are
 * unreferenced while idle (an idle pool never keeps a process alive), and a worker that dies fails only
 * its own tasks; the next task starts a new one. After `close`, tasks run on the calling thread.
 *
 * No plain tool does this: piscina would fit the task queue, but its workers are interchangeable and hold
 * no per-model state, while these hold a ~150 MB tokenizer per model, loaded once and reused.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ChatMessage, ChatTemplateOptions } from './chat-template.ts';
import { type PoolReply, type PoolRequest, reviveError } from './pool-protocol.ts';
import type { DecodeOptions, EncodeOptions, TextTokenizer, TokenizerSource } from './tokenizer.ts';

/** The project's worker bootstrap (src/worker-entry.mjs), which loads tsx, then this module. */
const WORKER_ENTRY = new URL('../worker-entry.mjs', import.meta.url);

/**
 * Largest input (UTF-16 units, all texts of a request together) encoded on the calling thread. Measured
 * on these machines: 8 KiB of ordinary text encodes in ~5 ms; the worst shapes under the run rule below
 * (words of ~255 characters that miss the tokenizer's word cache) take ~40 ms.
 */
export const INLINE_MAX_CHARS = 8 * 1024;

/** A run this long of non-space or of space characters: BPE's slow shape (no word cache past 255). */
const LONG_RUN = /\S{256}|\s{256}/;

/** Whether texts are cheap enough to encode on the calling thread (see {@link INLINE_MAX_CHARS}). */
export function isCheapToEncode(texts: readonly string[]): boolean {
  let total = 0;
  for (const t of texts) total += t.length;
  return total <= INLINE_MAX_CHARS && !texts.some((t) => LONG_RUN.test(t));
}

/** Most token ids decoded on the calling thread (decoding costs ~2 µs per token here: ~9 ms). */
export const INLINE_MAX_IDS = 4096;

/** Whether token-id lists are cheap enough to decode on the calling thread. */
export function isCheapToDecode(lists: ReadonlyArray<ReadonlyArray<number>>): boolean {
  return lists.reduce((a, ids) => a + ids.length, 0) <= INLINE_MAX_IDS;
}

/** Whether conversations are cheap enough to render and encode on the calling thread. */
export function isCheapToEncodeChat(conversations: ReadonlyArray<ReadonlyArray<ChatMessage>>, opts: ChatTemplateOptions): boolean {
  const extra = JSON.stringify([opts.tools ?? null, opts.templateKwargs ?? null]);
  return isCheapToEncode([extra, ...conversations.map((c) => JSON.stringify(c))]);
}

/** Options of a {@link TokenizerPool}. */
export interface TokenizerPoolOptions {
  /** Most worker threads; default one less than the cores, at least 1, at most 2. */
  size?: number;
}

interface Task {
  resolve: (result: number[] | string) => void;
  reject: (err: Error) => void;
}

/** One worker thread and what it has been sent. */
interface PoolWorker {
  worker: Worker;
  /** Tasks sent and not yet answered, by id. */
  pending: Map<number, Task>;
  /** Keys of the tokenizers sent to it. */
  loaded: Set<string>;
  /** Why it stopped, when it threw. */
  failure?: Error;
}

/** See the module comment. */
export class TokenizerPool {
  /** Most worker threads. */
  readonly size: number;
  private workers: PoolWorker[] = [];
  private nextId = 1;
  private closed = false;
  private readonly identities = new WeakMap<TextTokenizer, { key: string; source: TokenizerSource }>();

  constructor(opts: TokenizerPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(opts.size ?? Math.min(2, availableParallelism() - 1)));
  }

  /** `tokenizer.encode(text, opts)` in a worker. */
  encode(tokenizer: TextTokenizer, text: string, opts: EncodeOptions = {}): Promise<number[]> {
    return this.run(tokenizer, (id, key) => ({ type: 'encode', id, key, text, opts }), () => tokenizer.encode(text, opts));
  }

  /**
   * `tokenizer.encodeChat(messages, opts)` in a worker. Template errors reject with the same classes
   * (ChatTemplateError, TemplateInputError) as on the calling thread.
   */
  encodeChat(tokenizer: TextTokenizer, messages: ReadonlyArray<ChatMessage>, opts: ChatTemplateOptions): Promise<number[]> {
    return this.run(tokenizer, (id, key) => ({ type: 'encodeChat', id, key, messages, opts }), () => tokenizer.encodeChat(messages, opts));
  }

  /** `tokenizer.decode(ids, opts)` in a worker. */
  decode(tokenizer: TextTokenizer, ids: ReadonlyArray<number>, opts: DecodeOptions = {}): Promise<string> {
    const packed = Uint32Array.from(ids);
    return this.run(tokenizer, (id, key) => ({ type: 'decode', id, key, ids: packed, opts }), () => tokenizer.decode(ids, opts), [packed.buffer]);
  }

  /** Starts every worker and has each build `tokenizer` now, so the first large request does not wait for it. */
  warm(tokenizer: TextTokenizer): void {
    if (this.closed) return;
    while (this.workers.length < this.size) this.workers.push(this.spawn());
    for (const w of this.workers) this.sendTokenizer(w, tokenizer);
  }

  /** Worker threads running, and tasks waiting for an answer. */
  stats(): { workers: number; pending: number } {
    return { workers: this.workers.length, pending: this.workers.reduce((a, w) => a + w.pending.size, 0) };
  }

  /** Stops the workers; their unanswered tasks reject. Later tasks run on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers;
    this.workers = [];
    for (const w of workers) this.failAll(w, new Error('the tokenizer pool was closed'));
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  /** Sends a task to a worker; `inline` computes the same result here once the pool is closed. */
  private run<T extends number[] | string>(
    tokenizer: TextTokenizer,
    task: (id: number, key: string) => PoolRequest,
    inline: () => T,
    transfer: ArrayBuffer[] = [],
  ): Promise<T> {
    if (this.closed) return Promise.resolve().then(inline);
    const w = this.pick();
    const key = this.sendTokenizer(w, tokenizer);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      // Referenced while it has work, so a process waiting on the answer does not exit under it.
      if (w.pending.size === 0) w.worker.ref();
      // The worker answers a task of kind T with a T (pool-worker.ts).
      w.pending.set(id, { resolve: resolve as (result: number[] | string) => void, reject });
      try {
        w.worker.postMessage(task(id, key), transfer);
      } catch (err) {
        this.settle(w, id); // e.g. a value that cannot be cloned
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** The least busy worker, or a new one while every worker is busy and the pool has room. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const w of this.workers) if (!best || w.pending.size < best.pending.size) best = w;
    if (best && (best.pending.size === 0 || this.workers.length >= this.size)) return best;
    const w = this.spawn();
    this.workers.push(w);
    return w;
  }

  /** Sends the tokenizer's files to a worker that does not have them yet; returns its key. */
  private sendTokenizer(w: PoolWorker, tokenizer: TextTokenizer): string {
    const { key, source } = this.identify(tokenizer);
    if (!w.loaded.has(key)) {
      w.worker.postMessage({ type: 'load', key, source } satisfies PoolRequest);
      w.loaded.add(key);
    }
    return key;
  }

  /** A key per distinct set of tokenizer files (a hash of their text), computed once per tokenizer. */
  private identify(tokenizer: TextTokenizer): { key: string; source: TokenizerSource } {
    let id = this.identities.get(tokenizer);
    if (!id) {
      const source = tokenizer.source();
      const hash = createHash('sha256');
      for (const part of [source.tokenizerJson, source.config, source.chatTemplateFile ?? '']) hash.update(`${part.length}:`).update(part);
      id = { key: hash.digest('hex').slice(0, 16), source };
      this.identities.set(tokenizer, id);
    }
    return id;
  }

  private spawn(): PoolWorker {
    const w: PoolWorker = { worker: new Worker(WORKER_ENTRY, { name: 'tokenizer-pool', workerData: { module: './tokenizer/pool-worker.ts' } }), pending: new Map(), loaded: new Set() };
    w.worker.unref();
    w.worker.on('message', (reply: PoolReply) => {
      const task = this.settle(w, reply.id);
      if (!task) return;
      if (!reply.ok) task.reject(reviveError(reply.error));
      else task.resolve('ids' in reply ? Array.from(reply.ids) : reply.text);
    });
    w.worker.on('error', (err) => (w.failure = err));
    w.worker.on('exit', (code) => {
      this.workers = this.workers.filter((x) => x !== w);
      const why = w.failure ? `: ${w.failure.message}` : ` with code ${code}`;
      this.failAll(w, new Error(`a tokenizer pool worker stopped${why}`));
    });
    return w;
  }

  /** Removes an answered task; unreferences the worker once it is idle. */
  private settle(w: PoolWorker, id: number): Task | undefined {
    const task = w.pending.get(id);
    w.pending.delete(id);
    if (w.pending.size === 0) w.worker.unref();
    return task;
  }

  private failAll(w: PoolWorker, err: Error): void {
    const tasks = [...w.pending.values()];
    w.pending.clear();
    w.worker.unref();
    for (const t of tasks) t.reject(err);
  }
}
