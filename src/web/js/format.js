// Pure helpers of the page: number formatting, the Bradley-Terry ranking the server uses, mean token
// logprobs and a reader for the Prometheus text format. No DOM here.

/** A number as text with 3 decimals ("—" when it is not finite). */
export function fixed3(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '—';
}

/** Logistic function, stable for large |x| (as src/scoring/ranking.ts). */
export function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Ranks values best first, as the server's rankScores does: ties keep the original order; each entry's
 * win probability is sigmoid(v_i − max_{j≠i} v_j), the Bradley-Terry chance of beating the best other
 * (undefined with one value).
 * @param {number[]} values
 * @returns {{index: number, value: number, rank: number, winProbability?: number}[]}
 */
export function rankValues(values) {
  const order = values.map((_, i) => i).sort((a, b) => cmp(values[b], values[a]) || a - b);
  const best = order[0];
  const second = order[1];
  return order.map((index, k) => {
    const other = index === best ? second : best;
    return {
      index,
      value: values[index],
      rank: k + 1,
      winProbability: other === undefined ? undefined : sigmoid(values[index] - values[other]),
    };
  });
}

// -Infinity (an empty answer's mean logprob) sorts last; NaN differences would break the sort.
function cmp(a, b) {
  if (a === b) return 0;
  return a > b ? 1 : -1;
}

/** Mean of the token logprobs of a choice's `logprobs.content` (-Infinity when there are none). */
export function meanLogprob(content) {
  if (!Array.isArray(content) || content.length === 0) return -Infinity;
  return content.reduce((sum, t) => sum + t.logprob, 0) / content.length;
}

/**
 * Reads the Prometheus text format into {name → [{labels, value}]}. Only sample lines are read;
 * comments (# HELP, # TYPE) are skipped.
 * @param {string} text
 */
export function parsePrometheus(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    const list = out.get(m[1]) ?? [];
    list.push({ labels, value: Number(m[4]) });
    out.set(m[1], list);
  }
  return out;
}

/** Sum of a metric's samples (0 when absent). */
export function sumOf(metrics, name) {
  return (metrics.get(name) ?? []).reduce((a, s) => a + s.value, 0);
}

/** Largest sample of a metric (undefined when absent). */
export function maxOf(metrics, name) {
  const list = metrics.get(name);
  return list && list.length > 0 ? Math.max(...list.map((s) => s.value)) : undefined;
}
