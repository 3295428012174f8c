import type { FinishReason } from './types.ts';

/** Per-request figures the engine reports when a request ends (plain numbers; metrics/ owns prom-client). */
export interface RequestMetrics {
  promptTokens: number;
  /** Generated tokens, all sequences together. */
  completionTokens: number;
  /** One per sequence. */
  finishReasons: FinishReason[];
  /** From generate() to the start of its prefill (main-thread queue + worker admission). */
  queueSeconds: number;
  /** From generate() to the first token of any sequence; null when none came. */
  ttftSeconds: number | null;
  /** From generate() to the last end event. */
  e2eSeconds: number;
  /** Gaps between consecutive tokens of each sequence. */
  interTokenSeconds: number[];
}

/** Timestamps of one request, taken on the main thread as the worker's messages arrive. */
export class RequestTiming {
  private readonly submitted = performance.now();
  private startedAt: number | undefined;
  private firstTokenAt: number | undefined;
  private readonly lastTokenAt = new Map<number, number>();
  private readonly gaps: number[] = [];
  private readonly reasons: FinishReason[] = [];
  private tokens = 0;

  /** The worker began its prefill. */
  started(): void {
    this.startedAt ??= performance.now();
  }

  /** A token of sequence `index` arrived. */
  token(index: number): void {
    const now = performance.now();
    this.firstTokenAt ??= now;
    this.startedAt ??= now;
    const last = this.lastTokenAt.get(index);
    if (last !== undefined) this.gaps.push((now - last) / 1000);
    this.lastTokenAt.set(index, now);
  }

  /** A sequence ended. */
  ended(reason: FinishReason, completionTokens: number): void {
    this.reasons.push(reason);
    this.tokens += completionTokens;
  }

  /** The request's figures. */
  summary(promptTokens: number): RequestMetrics {
    const now = performance.now();
    return {
      promptTokens,
      completionTokens: this.tokens,
      finishReasons: [...this.reasons],
      queueSeconds: ((this.startedAt ?? now) - this.submitted) / 1000,
      ttftSeconds: this.firstTokenAt === undefined ? null : (this.firstTokenAt - this.submitted) / 1000,
      e2eSeconds: (now - this.submitted) / 1000,
      interTokenSeconds: this.gaps,
    };
  }
}
