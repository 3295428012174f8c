/**
 * Token sampling for one sequence: logits processors, then a draw from the request's own PRNG.
 *
 * Order (vLLM's and Hugging Face's): min_tokens ({@link applyMinTokens}, called by the engine first),
 * repetition penalty, frequency and presence penalties, logit_bias, then temperature, top-k, top-p, min-p. The first three rewrite the logits row in place (the engine
 * hands over a row it owns); the last four act on a reusable scratch buffer of weights
 * `w = exp((logit - max) / T)`, so the row left behind holds the penalised, biased logits.
 *
 * Logprobs follow OpenAI: `logprob` and `topLogprobs` are the log-softmax of the logits AFTER penalties
 * and logit_bias and BEFORE temperature, top-k, top-p and min-p. That is the distribution the request
 * shaped on purpose (a banned token reports about -100, not its raw value), and it does not depend on the
 * sampling knobs, so a greedy and a sampled run of one prompt report the same numbers for the same token,
 * and a token cut by top-k still gets a finite logprob. (vLLM's default, the raw model log-softmax before
 * any processing, would ignore the request's own bans and penalties.)
 *
 * Cost per token over a vocabulary of V: greedy is two O(V) passes (argmax, log-sum-exp) and no sort.
 * Sampling adds one O(V) pass of `exp`; top-k is a k-entry heap; top-p without top-k fills a log-scale
 * histogram of the weights and sorts only the one bin (weights within a factor 2^(1/16)) where the
 * cumulative mass crosses p. Ties are always broken toward the lower token id. Scratch buffers are module-level and fully rewritten on each call,
 * which is safe because sampling is synchronous; nothing is carried from one call to the next.
 */
import { createPrng, type Prng } from './prng.ts';

/** Temperatures below this are greedy (argmax), as in vLLM. */
export const GREEDY_TEMPERATURE_EPS = 1e-5;

/** Most alternatives a request may ask for in `logprobs` (OpenAI's `top_logprobs` limit). */
export const MAX_TOP_LOGPROBS = 20;

/** Validated sampling settings of one request (every default filled in at the edge). */
export interface SamplingParams {
  /** 0 (or below {@link GREEDY_TEMPERATURE_EPS}) means greedy argmax. */
  temperature: number;
  /** Nucleus sampling: keep the smallest most-likely set whose probability reaches `topP`; 1 = off. */
  topP: number;
  /** Keep only the `topK` most likely tokens; 0 or -1 = off. */
  topK: number;
  /** Drop tokens whose probability is below `minP` times the top token's; 0 = off. */
  minP: number;
  /** vLLM/HF semantics over prompt + output tokens: positive logits divided, negative multiplied; 1 = off. */
  repetitionPenalty: number;
  /** OpenAI semantics: subtracted once from every token that appears in the output so far. */
  presencePenalty: number;
  /** OpenAI semantics: subtracted once per occurrence of the token in the output so far. */
  frequencyPenalty: number;
  /** Added to the logit of each token id (OpenAI: -100 bans, +100 forces). Ids out of range are ignored. */
  logitBias: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
  /** Seed of the request's PRNG; a random one is drawn when absent. */
  seed?: number;
  /** null: no logprobs; k (0..20): the sampled token's logprob plus the k most likely alternatives. */
  logprobs: number | null;
}

/** Defaults matching OpenAI's: temperature 1, no truncation, no penalties, no logprobs. */
export const DEFAULT_SAMPLING_PARAMS: Readonly<SamplingParams> = Object.freeze({
  temperature: 1,
  topP: 1,
  topK: 0,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
  logitBias: Object.freeze({}),
  logprobs: null,
});

/** Per-sequence state the sampler reads; the engine owns it and records each new token. */
export interface SamplingState {
  /** This request's generator; never shared with another request. */
  readonly prng: Prng;
  /** How many times each token id occurs in the output so far (see {@link recordOutputToken}). */
  readonly outputTokenCounts: Map<number, number>;
  /** Distinct prompt token ids; needed only when the repetition penalty is on. */
  readonly promptTokenSet?: ReadonlySet<number>;
}

/** One token and its log-probability. */
export interface TokenLogprob {
  tokenId: number;
  /** May be -Infinity for a token whose logit is -Infinity. */
  logprob: number;
}

/** What {@link sampleToken} chose. */
export interface SampledToken {
  tokenId: number;
  /** Log-probability of `tokenId` (see the module comment for which distribution). */
  logprob: number;
  /** The `params.logprobs` most likely tokens, most likely first; absent when `logprobs` is null. */
  topLogprobs?: TokenLogprob[];
}

/** The state for a new sequence: a PRNG from `params.seed` (or a random seed) and empty counts. */
export function createSamplingState(params: SamplingParams, promptTokenIds: Iterable<number> = []): SamplingState {
  return {
    prng: createPrng(params.seed),
    outputTokenCounts: new Map(),
    promptTokenSet: params.repetitionPenalty !== 1 ? new Set(promptTokenIds) : undefined,
  };
}

/** Counts one generated token, for the penalties of the following steps. */
export function recordOutputToken(state: SamplingState, tokenId: number): void {
  state.outputTokenCounts.set(tokenId, (state.outputTokenCounts.get(tokenId) ?? 0) + 1);
}

/**
 * Throws a RangeError naming the first field out of range. The edge validates the wire request; this is
 * the runtime's own guard for callers that build params directly.
 */
export function validateSamplingParams(p: SamplingParams): void {
  const fail = (field: string, rule: string): never => {
    throw new RangeError(`${field} must be ${rule}`);
  };
  if (!(p.temperature >= 0 && Number.isFinite(p.temperature))) fail('temperature', 'a finite number >= 0');
  if (!(p.topP > 0 && p.topP <= 1)) fail('topP', 'in (0, 1]');
  if (!Number.isInteger(p.topK) || p.topK < -1) fail('topK', 'an integer >= -1');
  if (!(p.minP >= 0 && p.minP <= 1)) fail('minP', 'in [0, 1]');
  if (!(p.repetitionPenalty > 0 && Number.isFinite(p.repetitionPenalty))) fail('repetitionPenalty', 'finite and > 0');
  if (!Number.isFinite(p.presencePenalty)) fail('presencePenalty', 'finite');
  if (!Number.isFinite(p.frequencyPenalty)) fail('frequencyPenalty', 'finite');
  for (const [id, bias] of biasEntries(p.logitBias)) {
    if (!Number.isInteger(id) || id < 0 || !Number.isFinite(bias)) fail('logitBias', 'integer ids >= 0 with finite values');
  }
  if (p.seed !== undefined && !Number.isSafeInteger(p.seed)) fail('seed', 'a safe integer');
  if (p.logprobs !== null && !(Number.isInteger(p.logprobs) && p.logprobs >= 0 && p.logprobs <= MAX_TOP_LOGPROBS)) {
    fail('logprobs', `null or an integer in [0, ${MAX_TOP_LOGPROBS}]`);
  }
}

/**
 * Processes `logits` in place and draws one token. Same seed, params and logits sequence give the same
 * tokens whatever else runs. Logits must be finite or -Infinity. Does not record the token in `state`.
 * With `wantLogprob` false and no logprobs asked for, the log-softmax normalizer (a full pass of exp over
 * the vocabulary) is skipped and `logprob` is NaN: greedy decoding then costs one argmax pass.
 */
export function sampleToken(
  logits: Float32Array,
  params: SamplingParams,
  state: SamplingState,
  wantLogprob = true,
): SampledToken {
  applyPenalties(logits, params, state);
  applyLogitBias(logits, params.logitBias);
  const best = argmax(logits);
  const tokenId = params.temperature < GREEDY_TEMPERATURE_EPS ? best : drawToken(logits, best, params, state.prng);
  if (!wantLogprob && params.logprobs === null) return { tokenId, logprob: NaN };
  const logZ = logSumExp(logits, logits[best]!);
  const sampled: SampledToken = { tokenId, logprob: toLogprob(logits[tokenId]!, logZ) };
  if (params.logprobs !== null) sampled.topLogprobs = topLogprobs(logits, params.logprobs, logZ);
  return sampled;
}

/**
 * Repetition penalty (each distinct prompt or output token once: positive logits divided by it, others
 * multiplied), then frequency (times the output count) and presence (once) penalties subtracted.
 */
export function applyPenalties(logits: Float32Array, params: SamplingParams, state: SamplingState): void {
  const counts = state.outputTokenCounts;
  const rep = params.repetitionPenalty;
  if (rep !== 1) {
    const prompt = state.promptTokenSet;
    if (prompt) for (const id of prompt) penalizeRepetition(logits, id, rep);
    for (const [id, count] of counts) {
      if (count > 0 && !prompt?.has(id)) penalizeRepetition(logits, id, rep);
    }
  }
  const { presencePenalty: presence, frequencyPenalty: frequency } = params;
  if (presence === 0 && frequency === 0) return;
  for (const [id, count] of counts) {
    if (count > 0 && id >= 0 && id < logits.length) logits[id] = logits[id]! - (frequency * count + presence);
  }
}

function penalizeRepetition(logits: Float32Array, id: number, penalty: number): void {
  if (id < 0 || id >= logits.length) return;
  const v = logits[id]!;
  logits[id] = v > 0 ? v / penalty : v * penalty;
}

/** Adds each bias to its token's logit; ids outside the row are ignored. */
export function applyLogitBias(logits: Float32Array, bias: SamplingParams['logitBias']): void {
  for (const [id, b] of biasEntries(bias)) {
    if (Number.isInteger(id) && id >= 0 && id < logits.length) logits[id] = logits[id]! + b;
  }
}

function biasEntries(bias: SamplingParams['logitBias']): Iterable<[number, number]> {
  if (bias instanceof Map) return bias.entries();
  return Object.keys(bias).map((key): [number, number] => [Number(key), (bias as Record<string, number>)[key]!]);
}

/**
 * vLLM's min_tokens (its MinTokensLogitsProcessor): while a sequence is shorter than its minimum, the
 * tokens that would end it get -Infinity. The engine applies it before {@link sampleToken}, so penalties
 * and logit_bias cannot lift them. When they are the only tokens with a finite logit (a constraint whose
 * value is finished allows only EOS), the row is left as it was and false returned: ending wins over the
 * minimum rather than sampling a token nothing allows.
 * @param endIds - the ids that end the sequence (StopConditions.endTokenIds); ids outside the row are ignored
 */
export function applyMinTokens(logits: Float32Array, endIds: readonly number[]): boolean {
  const saved = endIds.map((id) => logits[id]);
  for (const id of endIds) if (id >= 0 && id < logits.length) logits[id] = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > -Infinity) return true;
  endIds.forEach((id, k) => {
    if (id >= 0 && id < logits.length) logits[id] = saved[k]!;
  });
  return false;
}

/** Index of the largest value, lowest index on ties; NaN never wins. 0 for an all -Infinity/NaN row. */
export function argmax(values: Float32Array): number {
  // Four independent lanes (i mod 4) let the CPU compare in parallel: ~2x faster on a 128k row. Each lane
  // keeps its first maximum; lanes are merged by value, then lowest index, so ties still go to the lowest id.
  const n = values.length;
  let b0 = 0, b1 = 1, b2 = 2, b3 = 3;
  let v0 = -Infinity, v1 = -Infinity, v2 = -Infinity, v3 = -Infinity;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = values[i]!, b = values[i + 1]!, c = values[i + 2]!, d = values[i + 3]!;
    if (a > v0) { v0 = a; b0 = i; }
    if (b > v1) { v1 = b; b1 = i + 1; }
    if (c > v2) { v2 = c; b2 = i + 2; }
    if (d > v3) { v3 = d; b3 = i + 3; }
  }
  let best = 0;
  let bestValue = -Infinity;
  for (const [v, b] of [[v0, b0], [v1, b1], [v2, b2], [v3, b3]] as const) {
    if (v > bestValue || (v === bestValue && v !== -Infinity && b < best)) {
      bestValue = v;
      best = b;
    }
  }
  for (; i < n; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** log(sum(exp(values))), given the row's maximum; NaN entries count as -Infinity. */
export function logSumExp(values: Float32Array, max: number): number {
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += expNonPositive(values[i]! - max);
  return max + Math.log(sum);
}

const POW2_NEG = Float64Array.from({ length: 1024 }, (_, k) => 2 ** -k);

/**
 * exp(d) for d <= 0 (callers subtract the row maximum) within 1e-8 relative error; 0 for d <= -700,
 * -Infinity or NaN. Measured about twice as fast as `Math.exp` over a vocabulary row, and being plain
 * IEEE arithmetic (the spec leaves `Math.exp`'s precision to the engine) it gives the same bits anywhere.
 */
export function expNonPositive(d: number): number {
  if (!(d > -700)) return 0;
  const t = d * Math.LOG2E;
  const k = (0.5 - t) | 0; // round(-t), so that 2^t = 2^-k · 2^(t + k) with |t + k| <= 1/2
  const f = (t + k) * Math.LN2; // |f| <= ln(2)/2: a degree-7 Taylor polynomial is within 1e-8
  return POW2_NEG[k]! * (1 + f * (1 + f * (1 / 2 + f * (1 / 6 + f * (1 / 24 + f * (1 / 120 + f * (1 / 720 + f / 5040)))))));
}

function toLogprob(logit: number, logZ: number): number {
  return logit === -Infinity ? -Infinity : logit - logZ;
}

/** The `k` most likely tokens of `logits` with their log-softmax (given `logZ`), most likely first. */
export function topLogprobs(logits: Float32Array, k: number, logZ: number): TokenLogprob[] {
  const ids = new Int32Array(Math.min(k, logits.length));
  const values = new Float64Array(ids.length);
  const n = selectTopK(logits, ids.length, ids, values);
  const out: TokenLogprob[] = [];
  for (let j = 0; j < n; j++) out.push({ tokenId: ids[j]!, logprob: toLogprob(values[j]!, logZ) });
  return out;
}

/**
 * Partial selection: writes the ids of the `k` largest values to `outIds[0..n)` and the values to
 * `outValues`, largest first, lower id first on ties (NaN counts as -Infinity); returns n = min(k, length).
 * O(length · log k) worst case with a k-entry heap whose root is the weakest entry kept; most entries
 * cost one comparison. Both outputs need room for k entries.
 */
export function selectTopK(values: Float32Array, k: number, outIds: Int32Array, outValues: Float64Array): number {
  const n = Math.min(k, values.length);
  if (n <= 0) return 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    outIds[i] = i;
    outValues[i] = v === v ? v : -Infinity;
    siftUp(outIds, outValues, i);
  }
  // Later ids are larger, so an equal value never displaces a kept one: only a strictly larger value does.
  let weakest = outValues[0]!;
  for (let i = n; i < values.length; i++) {
    const v = values[i]!;
    if (v > weakest) {
      outIds[0] = i;
      outValues[0] = v;
      siftDown(outIds, outValues, 0, n);
      weakest = outValues[0]!;
    }
  }
  // Heap sort in place: the weakest goes to the end, leaving the strongest first.
  for (let end = n - 1; end > 0; end--) {
    swap(outIds, outValues, 0, end);
    siftDown(outIds, outValues, 0, end);
  }
  return n;
}

/** Whether heap entry a ranks below entry b (smaller value, or equal value and larger id). */
function weaker(ids: Int32Array, vals: Float64Array, a: number, b: number): boolean {
  return vals[a]! < vals[b]! || (vals[a] === vals[b] && ids[a]! > ids[b]!);
}

function swap(ids: Int32Array, vals: Float64Array, a: number, b: number): void {
  const id = ids[a]!;
  ids[a] = ids[b]!;
  ids[b] = id;
  const v = vals[a]!;
  vals[a] = vals[b]!;
  vals[b] = v;
}

function siftUp(ids: Int32Array, vals: Float64Array, pos: number): void {
  while (pos > 0) {
    const parent = (pos - 1) >> 1;
    if (!weaker(ids, vals, pos, parent)) return;
    swap(ids, vals, pos, parent);
    pos = parent;
  }
}

function siftDown(ids: Int32Array, vals: Float64Array, pos: number, size: number): void {
  for (;;) {
    const left = 2 * pos + 1;
    if (left >= size) return;
    const right = left + 1;
    const child = right < size && weaker(ids, vals, right, left) ? right : left;
    if (!weaker(ids, vals, child, pos)) return;
    swap(ids, vals, pos, child);
    pos = child;
  }
}

// ---- Sampling proper: candidates as (id, weight) pairs in scratch buffers. ----

let scratchIds = new Int32Array(0);
let scratchWeights = new Float64Array(0);
let scratchSort = new Float64Array(0);
let scratchBins = new Uint16Array(0);

/** Top-p histogram: bin b holds weights in (2^-(b+1)/16, 2^-b/16]; the last bin takes everything lighter. */
const BINS_PER_OCTAVE = 16;
const BIN_COUNT = 1024;
const binMass = new Float64Array(BIN_COUNT);

function ensureScratch(size: number): void {
  if (scratchIds.length >= size) return;
  scratchIds = new Int32Array(size);
  scratchWeights = new Float64Array(size);
  scratchSort = new Float64Array(size);
  scratchBins = new Uint16Array(size);
}

/** Temperature, top-k, top-p, min-p, then one draw. `best` is the argmax of `logits`. */
function drawToken(logits: Float32Array, best: number, params: SamplingParams, prng: Prng): number {
  const max = logits[best]!;
  if (!Number.isFinite(max)) return best;
  ensureScratch(logits.length);
  const invT = 1 / params.temperature;
  const topK = params.topK > 0 && params.topK < logits.length ? params.topK : 0;
  let n = topK > 0 ? topKCandidates(logits, topK, max, invT, params.topP) : vocabCandidates(logits, max, invT, params.topP);
  // min-p: p / p_max = w / 1, since the argmax (weight exactly 1) survives top-k and top-p.
  if (params.minP > 0) n = compact(n, params.minP);
  return drawFromCandidates(n, prng.next(), best);
}

/** Top-k (then top-p over the k, which come sorted) into scratch; returns the candidate count. */
function topKCandidates(logits: Float32Array, k: number, max: number, invT: number, topP: number): number {
  const n = selectTopK(logits, k, scratchIds, scratchWeights);
  let total = 0;
  for (let j = 0; j < n; j++) {
    const w = expNonPositive((scratchWeights[j]! - max) * invT);
    scratchWeights[j] = w;
    total += w;
  }
  if (topP >= 1) return n;
  const target = topP * total;
  let cumulative = 0;
  for (let j = 0; j < n; j++) {
    cumulative += scratchWeights[j]!;
    if (cumulative >= target) return j + 1;
  }
  return n;
}

/**
 * Every token with non-zero weight, or only the top-p nucleus, into scratch in id order. For top-p each
 * weight also goes into a log-scale histogram bin, so only the one bin where the cumulative mass crosses
 * `topP` needs sorting.
 */
function vocabCandidates(logits: Float32Array, max: number, invT: number, topP: number): number {
  const size = logits.length;
  const nucleus = topP < 1;
  if (nucleus) binMass.fill(0);
  const binScale = -Math.LOG2E * BINS_PER_OCTAVE;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const d = (logits[i]! - max) * invT;
    const w = expNonPositive(d);
    scratchWeights[i] = w;
    total += w;
    if (nucleus && w > 0) {
      const x = d * binScale;
      const bin = x < BIN_COUNT - 1 ? x | 0 : BIN_COUNT - 1;
      scratchBins[i] = bin;
      binMass[bin] += w;
    }
  }
  const [lastBin, cutoff, ties] = nucleus ? nucleusCutoff(size, topP * total) : [BIN_COUNT, 0, 0];
  let tiesLeft = ties;
  // In-place compaction: write index n never passes read index i.
  let n = 0;
  for (let i = 0; i < size; i++) {
    const w = scratchWeights[i]!;
    if (!(w > 0)) continue;
    const bin = nucleus ? scratchBins[i]! : 0;
    if (bin < lastBin || (bin === lastBin && (w > cutoff || (w === cutoff && tiesLeft-- > 0)))) {
      scratchIds[n] = i;
      scratchWeights[n++] = w;
    }
  }
  return n;
}

/**
 * The nucleus boundary as [bin where the mass crosses `target`, weight cutoff in that bin, how many
 * tokens weighing exactly the cutoff to keep (lowest ids)]. Tokens in lighter bins are all dropped,
 * tokens in heavier bins all kept; only the crossing bin is sorted.
 */
function nucleusCutoff(size: number, target: number): [number, number, number] {
  let bin = 0;
  let heavier = 0;
  while (bin < BIN_COUNT - 1 && heavier + binMass[bin]! < target) heavier += binMass[bin++]!;
  let m = 0;
  for (let i = 0; i < size; i++) {
    if (scratchWeights[i]! > 0 && scratchBins[i] === bin) scratchSort[m++] = scratchWeights[i]!;
  }
  if (m === 0) return [bin, 0, 0]; // only reachable through rounding with topP next to 1: keep all
  const sorted = scratchSort.subarray(0, m).sort();
  let cumulative = heavier;
  let j = m - 1;
  for (; j > 0; j--) {
    cumulative += sorted[j]!;
    if (cumulative >= target) break;
  }
  const cutoff = sorted[j]!;
  let ties = 0;
  while (j + ties < m && sorted[j + ties] === cutoff) ties++;
  return [bin, cutoff, ties];
}

/** Keeps the candidates weighing at least `minWeight`, in order; returns the new count. */
function compact(n: number, minWeight: number): number {
  let kept = 0;
  for (let j = 0; j < n; j++) {
    const w = scratchWeights[j]!;
    if (w >= minWeight) {
      scratchIds[kept] = scratchIds[j]!;
      scratchWeights[kept++] = w;
    }
  }
  return kept;
}

/** Inverse-CDF draw over the candidates' weights with `u` in [0, 1). */
function drawFromCandidates(n: number, u: number, fallback: number): number {
  let total = 0;
  for (let j = 0; j < n; j++) total += scratchWeights[j]!;
  let r = u * total;
  let last = fallback;
  for (let j = 0; j < n; j++) {
    const w = scratchWeights[j]!;
    if (w <= 0) continue;
    last = scratchIds[j]!;
    r -= w;
    if (r < 0) return last;
  }
  return last; // rounding left r at or just above 0: the last candidate with weight
}
