/**
 * Test doubles for route tests: a scripted FakeEngine (satisfies EngineLike, no model, no worker) and
 * ServedModel builders that pair it with the real Llama 3.1 tokenizer.
 *
 * FakeEngine.generate(request) yields, for each sequence index 0..n-1 (interleaved, one token per index
 * per round), one token event per scripted delta (default "Hello", " world"), capped at request.maxTokens,
 * then an end event with the scripted finish reason (default 'length') and real token counts. Like the real
 * engine it throws EngineError synchronously when told to refuse, and ends every unfinished sequence
 * with finishReason 'abort' when the signal fires or the caller leaves the iteration early.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlama31TokenizerFiles } from '../../src/modelgen/tokenizer-files.ts';
import {
  EngineError,
  type EngineErrorCode,
  type EngineStats,
  type FinishReason,
  type GenerationEvent,
  type GenerationRequest,
} from '../../src/runtime/types.ts';
import type { EngineLike, ScorerLike, ServedModel } from '../../src/server/deps.ts';
import type { RewardReadout } from '../../src/runtime/model-loader.ts';
import type { Score } from '../../src/scoring/readout.ts';
import type { RewardEngineStats } from '../../src/scoring/reward-engine.ts';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/index.ts';

/** What a FakeEngine does; every field may be changed between requests (`engine.script.x = ...`). */
export interface FakeScript {
  /** Text of each generated token, in order (default ["Hello", " world"]). */
  deltas: string[];
  /** Token id of each delta (default: the tokenizer's first id for the delta, else 1000 + i). */
  tokenIds?: number[];
  /** Finish reason when every delta was produced (default 'length'). */
  finishReason: FinishReason;
  /** Reported with finishReason 'stop'. */
  stopReason?: string | number;
  /** Text released by the end event (held-back text), default ''. */
  endText: string;
  /** generate() throws EngineError with this code at once (e.g. 'overloaded'), before any event. */
  refuse?: EngineErrorCode;
  /** After this many token rounds, yield an error event then end every sequence with 'error'. */
  failAfter?: number;
  /** After this many token rounds, wait until aborted (for timeouts and disconnects). */
  stallAfter?: number;
  /** Delay before each event, ms (0: none, but still asynchronous). */
  delayMs: number;
}

/** Counters a test can assert on. */
export interface FakeCounters {
  /** generate() calls, refused ones included. */
  calls: number;
  /** Generations that ran to their scripted end. */
  completed: number;
  /** Generations ended by the signal or by the caller leaving the iteration. */
  aborted: number;
  /** Of those, ended by the caller leaving the iteration early (for-await break / return). */
  returnedEarly: number;
  /** Generations that failed mid-stream (failAfter). */
  failed: number;
  /** Generations now in progress. */
  active: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A scripted engine for route tests. */
export class FakeEngine implements EngineLike {
  readonly script: FakeScript;
  readonly counters: FakeCounters = { calls: 0, completed: 0, aborted: 0, returnedEarly: 0, failed: 0, active: 0 };
  /** Every request generate() accepted, in order. */
  readonly requests: GenerationRequest[] = [];
  /** The signal of each accepted request (undefined when none was passed). */
  readonly signals: Array<AbortSignal | undefined> = [];
  /** What stats().alive reports. */
  alive = true;

  constructor(
    script: Partial<FakeScript> = {},
    private readonly tokenizer?: TextTokenizer,
  ) {
    this.script = { deltas: ['Hello', ' world'], finishReason: 'length', endText: '', delayMs: 0, ...script };
  }

  /** The last accepted request (throws when there is none). */
  get lastRequest(): GenerationRequest {
    const r = this.requests.at(-1);
    if (!r) throw new Error('FakeEngine: no request yet');
    return r;
  }

  generate(request: GenerationRequest, signal?: AbortSignal): AsyncIterable<GenerationEvent> {
    this.counters.calls++;
    if (this.script.refuse) {
      const code = this.script.refuse;
      throw new EngineError(code === 'overloaded' ? 'server overloaded (fake)' : `refused (fake): ${code}`, code);
    }
    this.requests.push(request);
    this.signals.push(signal);
    return this.run(request, { ...this.script }, signal);
  }

  stats(): EngineStats {
    return {
      running: this.counters.active,
      waiting: 0,
      kvUsedTokens: 0,
      kvBudgetTokens: 4096,
      kvPeakTokens: 0,
      kvUsage: 0,
      recentStepMs: [],
      steps: this.counters.completed,
      alive: this.alive,
      restarts: 0,
    };
  }

  private tokenIdOf(i: number, script: FakeScript): number {
    const scripted = script.tokenIds?.[i];
    if (scripted !== undefined) return scripted;
    const ids = this.tokenizer?.encode(script.deltas[i]!, { addSpecialTokens: false });
    return ids?.[0] ?? 1000 + i;
  }

  private tokenEvent(request: GenerationRequest, index: number, i: number, script: FakeScript): GenerationEvent {
    const text = script.deltas[i]!;
    const tokenId = this.tokenIdOf(i, script);
    const event: GenerationEvent = { type: 'token', index, tokenId, text };
    const k = request.sampling.logprobs;
    if (k !== null) {
      event.logprob = -0.5;
      event.topLogprobs = Array.from({ length: k }, (_, j) => ({
        tokenId: tokenId + j,
        logprob: -0.5 - j,
        ...(request.returnTokenText ? { token: j === 0 ? text : `alt${j}` } : {}),
      }));
    }
    if (request.returnTokenText) event.token = text;
    return event;
  }

  private endEvent(request: GenerationRequest, index: number, reason: FinishReason, produced: number, text = ''): GenerationEvent {
    return {
      type: 'end',
      index,
      finishReason: reason,
      text,
      promptTokens: request.promptTokenIds.length,
      completionTokens: produced,
      ...(reason === 'stop' && this.script.stopReason !== undefined ? { stopReason: this.script.stopReason } : {}),
      cumulativeLogprob: -0.5 * produced,
    };
  }

  private async *run(request: GenerationRequest, script: FakeScript, signal?: AbortSignal): AsyncGenerator<GenerationEvent> {
    this.counters.active++;
    const rounds = Math.min(script.deltas.length, request.maxTokens);
    /** Tokens yielded per sequence index. */
    const produced = new Array<number>(request.n).fill(0);
    let outcome: 'completed' | 'aborted' | 'failed' | 'early' = 'early';
    const endAll = (reason: FinishReason, text = '') => produced.map((p, i) => this.endEvent(request, i, reason, p, text));
    try {
      for (let round = 0; round < rounds && !signal?.aborted; round++) {
        if (script.failAfter === round) {
          outcome = 'failed';
          yield { type: 'error', message: 'the model worker crashed (fake)', code: 'worker_crashed' };
          yield* endAll('error');
          return;
        }
        if (script.stallAfter === round) await sleep(2 ** 31 - 1, signal);
        for (let index = 0; index < request.n; index++) {
          await sleep(script.delayMs, signal);
          if (signal?.aborted) break;
          produced[index]!++;
          yield this.tokenEvent(request, index, round, script);
        }
      }
      if (signal?.aborted) {
        outcome = 'aborted';
        yield* endAll('abort');
        return;
      }
      outcome = 'completed';
      yield* endAll(script.finishReason, script.endText);
    } finally {
      this.counters.active--;
      if (outcome === 'completed') this.counters.completed++;
      else if (outcome === 'failed') this.counters.failed++;
      else {
        this.counters.aborted++;
        if (outcome === 'early') this.counters.returnedEarly++;
      }
    }
  }
}

let tokenizerPromise: Promise<TextTokenizer> | undefined;

/**
 * The real Llama 3.1 tokenizer, written to a temporary folder and loaded once per test file (node's
 * runner runs each file in its own process, so this module-level cache is per file).
 */
export function llamaTokenizer(): Promise<TextTokenizer> {
  tokenizerPromise ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fake-tokenizer-'));
    try {
      writeLlama31TokenizerFiles(dir);
      return await loadTokenizer(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return tokenizerPromise;
}

/**
 * A scripted reward scorer: each conversation's score is a pure function of its tokens (the sum of its
 * last three token ids / 1e5), so tests can predict rankings; `delayMs` and `fail` script timing and errors.
 */
export class FakeScorer implements ScorerLike {
  readonly readout: RewardReadout = { kind: 'token_logit', tokenId: 0 };
  readonly calls: number[][][] = [];
  delayMs = 0;
  fail?: string;

  static scoreOf(tokens: number[]): number {
    return tokens.slice(-3).reduce((a, b) => a + b, 0) / 1e5;
  }

  async score(items: number[][]): Promise<Score[]> {
    this.calls.push(items);
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.fail) throw new EngineError(this.fail, 'internal');
    return items.map((t) => ({ score: FakeScorer.scoreOf(t) }));
  }

  stats(): RewardEngineStats {
    return { pendingRequests: 0, pendingItems: 0, batches: this.calls.length, alive: true, restarts: 0 };
  }
}

/** Options of a fake served model. */
export interface FakeModelOptions {
  id?: string;
  task?: ServedModel['task'];
  engine?: EngineLike;
  scorer?: ScorerLike;
  maxScoreTokens?: number;
  contextLength?: number;
  root?: string;
  created?: number;
}

/** A ServedModel with the real Llama 3.1 tokenizer and a FakeEngine (unless one is given). */
export async function fakeModel(opts: FakeModelOptions = {}): Promise<ServedModel> {
  const tokenizer = await llamaTokenizer();
  const id = opts.id ?? (opts.task === 'reward' ? 'reward' : 'instruct');
  const base = {
    id,
    tokenizer,
    contextLength: opts.contextLength ?? 8192,
    root: opts.root ?? `/models/${id}`,
    created: opts.created ?? 1_700_000_000,
  };
  if (opts.task === 'reward') {
    return { ...base, task: 'reward', scorer: opts.scorer ?? new FakeScorer(), maxScoreTokens: opts.maxScoreTokens ?? base.contextLength };
  }
  return { ...base, task: 'generate', engine: opts.engine ?? new FakeEngine({}, tokenizer) };
}
