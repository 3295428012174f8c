/** Small statistics helpers for the benchmarks (pure; unit-tested in test/bench.test.ts). */

/**
 * The p-th percentile (0..100) of `values`, linearly interpolated between the closest ranks (numpy's
 * default, so p50 of [1, 2, 3, 4] is 2.5). NaN for an empty list. The input is not modified.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  const s = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

/** Count, mean, p50, p90, p99, min and max of a sample. */
export interface Summary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
}

/** Summarizes a sample (NaN figures when it is empty). */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  return {
    n,
    mean,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    min: n ? Math.min(...values) : NaN,
    max: n ? Math.max(...values) : NaN,
  };
}

/** The median of a sample. */
export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Rounds to `digits` significant decimals for JSON output (keeps NaN/null as null). */
export function round(x: number, digits = 3): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
