/**
 * HelpSteer2 evaluation as pure logic: correlation statistics, attribute rows (per-attribute Pearson and
 * Spearman between labels and the model's predictions), and preference rows (pairwise accuracy, split by
 * how strongly the annotators preferred one response). Reading files is eval-data.ts's job; scoring is
 * the caller's.
 *
 * Attribute row (nvidia/HelpSteer2 train/validation): `{prompt, response, helpfulness, correctness,
 * coherence, complexity, verbosity}`, each label a number in 0..4 (integers in the dataset; averaged
 * labels are accepted). A missing or null label leaves the row out of that attribute only.
 *
 * Preference row (nvidia/HelpSteer2 preference/preference.jsonl): `{prompt, response_1, response_2,
 * preference_strength}`, an integer in -3..3. Sign convention, as on the HelpSteer3 card of the same team
 * (-3 "Response 1 is much better than Response 2" … 0 "about the same" … 3 "Response 2 is much better
 * than Response 1") and in public code that pairs HelpSteer2 preferences: NEGATIVE means response_1 is
 * preferred, POSITIVE means response_2, 0 is a tie. The HelpSteer2 card itself could not be read here;
 * should it say otherwise, flip PREFERRED_WHEN_NEGATIVE. Extra fields (split, preference_statement, …) are ignored.
 *
 * Accuracy follows eval.ts (RewardBench): a pair is correct only when the preferred response scores
 * strictly higher; equal scores count as not correct and are reported as ties. Human ties (strength 0)
 * are left out of accuracy and reported on their own.
 */
import { decide, type Decision, type EvalCounts } from './eval.ts';
import { rowPlace, validateRows, type EvalData } from './eval-data.ts';

// ---------------------------------------------------------------------------------------------------------
// Correlation

function checkPaired(x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new RangeError(`correlation needs paired samples, got ${x.length} and ${y.length} values`);
  for (const v of [...x, ...y]) if (!Number.isFinite(v)) throw new RangeError(`correlation needs finite numbers, got ${v}`);
}

/**
 * Pearson's r of paired samples; null when it is undefined (fewer than 2 pairs, or either side constant).
 * @throws RangeError for unequal lengths or a non-finite value.
 */
export function pearson(x: readonly number[], y: readonly number[]): number | null {
  checkPaired(x, y);
  const n = x.length;
  if (n < 2) return null;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  // Clamp: rounding can push a perfect correlation a hair past ±1.
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based ranks; tied values all get the average of the ranks they span (e.g. [10, 20, 20, 30] → [1, 2.5, 2.5, 4]). */
export function averageRanks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]![0] === order[start]![0]) end++;
    const rank = (start + 1 + end) / 2; // mean of the 1-based ranks start+1 … end
    for (let k = start; k < end; k++) ranks[order[k]![1]] = rank;
    start = end;
  }
  return ranks;
}

/**
 * Spearman's rho: Pearson's r of the average ranks (the tie-correct form, not 1 − 6Σd²/(n(n²−1))).
 * null when undefined, as for pearson. @throws RangeError as pearson.
 */
export function spearman(x: readonly number[], y: readonly number[]): number | null {
  checkPaired(x, y);
  return pearson(averageRanks(x), averageRanks(y));
}

// ---------------------------------------------------------------------------------------------------------
// Attribute rows

/** The five HelpSteer2 attributes, in the dataset's order. */
export const HELPSTEER_ATTRIBUTES = ['helpfulness', 'correctness', 'coherence', 'complexity', 'verbosity'] as const;
export type HelpSteerAttribute = (typeof HELPSTEER_ATTRIBUTES)[number];

/** Per-attribute values; an attribute left out has no label (or no prediction). */
export type AttributeValues = Partial<Record<HelpSteerAttribute, number>>;

/** One validated attribute row. */
export interface HelpSteerRow {
  /** Where the row came from, for messages (`file:line` or `file: row n`). */
  place: string;
  prompt: string;
  response: string;
  labels: AttributeValues;
}

const LABEL_MIN = 0;
const LABEL_MAX = 4;

const describeType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

function requireStrings<K extends string>(o: Record<string, unknown>, fields: readonly K[]): string | undefined {
  for (const f of fields) {
    if (!(f in o) || o[f] === undefined) return `missing required field '${f}'`;
    if (typeof o[f] !== 'string') return `field '${f}' must be a string, got ${describeType(o[f])}`;
  }
  return undefined;
}

/** Validates one attribute row; returns what is wrong, or the row. */
export function toHelpSteerRow(o: Record<string, unknown>, place: string): HelpSteerRow | string {
  const bad = requireStrings(o, ['prompt', 'response']);
  if (bad) return bad;
  const labels: AttributeValues = {};
  for (const a of HELPSTEER_ATTRIBUTES) {
    const v = o[a];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) return `label '${a}' must be a number, got ${describeType(v)}`;
    if (v < LABEL_MIN || v > LABEL_MAX) return `label '${a}' must be in ${LABEL_MIN}..${LABEL_MAX}, got ${v}`;
    labels[a] = v;
  }
  return { place, prompt: o.prompt as string, response: o.response as string, labels };
}

/** Validates every row of `data`. @throws EvalDataError `<place>: <fault>` for the first bad row. */
export function helpSteerRows(data: EvalData): HelpSteerRow[] {
  return validateRows(data, (o, i) => toHelpSteerRow(o, rowPlace(data, i)));
}

/** Agreement on one attribute. `n` pairs entered the statistics. */
export interface AttributeStats {
  n: number;
  /** Rows without a label for this attribute. */
  skipped: number;
  /** Labelled rows without a prediction for it (the row could not be scored, or the model gave none). */
  errors: number;
  pearson: number | null;
  spearman: number | null;
}

/**
 * Per-attribute Pearson and Spearman between labels and predictions. `predictions[i]` belongs to
 * `rows[i]`; null means the row could not be scored. A non-finite prediction counts as missing.
 * @throws RangeError when the lengths differ.
 */
export function evaluateAttributes(
  rows: readonly HelpSteerRow[],
  predictions: readonly (AttributeValues | null)[],
): Record<HelpSteerAttribute, AttributeStats> {
  if (rows.length !== predictions.length) throw new RangeError(`${rows.length} rows but ${predictions.length} predictions`);
  const out = {} as Record<HelpSteerAttribute, AttributeStats>;
  for (const a of HELPSTEER_ATTRIBUTES) {
    const labels: number[] = [];
    const predicted: number[] = [];
    let skipped = 0;
    let errors = 0;
    rows.forEach((row, i) => {
      const label = row.labels[a];
      const p = predictions[i]?.[a];
      if (label === undefined) skipped++;
      else if (typeof p !== 'number' || !Number.isFinite(p)) errors++;
      else {
        labels.push(label);
        predicted.push(p);
      }
    });
    out[a] = { n: labels.length, skipped, errors, pearson: pearson(labels, predicted), spearman: spearman(labels, predicted) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Preference rows

/** One validated preference row. */
export interface PreferenceRow {
  place: string;
  prompt: string;
  response_1: string;
  response_2: string;
  /** -3..3; see the module comment for the sign. */
  preference_strength: number;
}

/** The dataset's sign: a negative strength prefers response_1 (see the module comment). */
const PREFERRED_WHEN_NEGATIVE = 'response_1' as const;

/** Which response the annotators preferred, or 'tie' for strength 0. */
export function preferredResponse(strength: number): 'response_1' | 'response_2' | 'tie' {
  if (strength === 0) return 'tie';
  const other = PREFERRED_WHEN_NEGATIVE === 'response_1' ? 'response_2' : 'response_1';
  return strength < 0 ? PREFERRED_WHEN_NEGATIVE : other;
}

/** Validates one preference row; returns what is wrong, or the row. */
export function toPreferenceRow(o: Record<string, unknown>, place: string): PreferenceRow | string {
  const bad = requireStrings(o, ['prompt', 'response_1', 'response_2']);
  if (bad) return bad;
  const s = o.preference_strength;
  if (s === undefined || s === null) return `missing required field 'preference_strength'`;
  if (typeof s !== 'number' || !Number.isInteger(s)) return `field 'preference_strength' must be an integer, got ${typeof s === 'number' ? s : describeType(s)}`;
  if (s < -3 || s > 3) return `field 'preference_strength' must be in -3..3, got ${s}`;
  return { place, prompt: o.prompt as string, response_1: o.response_1 as string, response_2: o.response_2 as string, preference_strength: s };
}

/** Validates every row of `data`. @throws EvalDataError `<place>: <fault>` for the first bad row. */
export function preferenceRows(data: EvalData): PreferenceRow[] {
  return validateRows(data, (o, i) => toPreferenceRow(o, rowPlace(data, i)));
}

/** The model's scores for a row's two responses. */
export interface PairScores {
  response_1: number;
  response_2: number;
}

/** The model's decision on a non-tie row: the preferred response strictly higher is correct. */
export function decidePreference(row: PreferenceRow, scores: PairScores): Decision {
  const preferred = preferredResponse(row.preference_strength);
  if (preferred === 'tie') throw new RangeError('a human tie has no correct side');
  const other = preferred === 'response_1' ? 'response_2' : 'response_1';
  return decide(scores[preferred], scores[other]);
}

/** Human-tie rows (strength 0): how many, how many scored, how many the model also scored exactly equal. */
export interface HumanTies {
  rows: number;
  scored: number;
  errors: number;
  modelTies: number;
}

/** Accuracy over non-tie rows, overall and by |strength|, with human ties apart. */
export interface PreferenceSummary {
  overall: EvalCounts;
  byStrength: Record<'1' | '2' | '3', EvalCounts>;
  humanTies: HumanTies;
}

const emptyCounts = (): EvalCounts => ({ rows: 0, scored: 0, correct: 0, wrong: 0, ties: 0, errors: 0, accuracy: null });

function tally(c: EvalCounts, d: Decision | 'error'): void {
  c.rows++;
  if (d === 'error') c.errors++;
  else {
    c.scored++;
    if (d === 'correct') c.correct++;
    else if (d === 'tie') c.ties++;
    else c.wrong++;
  }
}

const finish = (c: EvalCounts): EvalCounts => ({ ...c, accuracy: c.scored > 0 ? c.correct / c.scored : null });

/**
 * Pairwise accuracy. `scores[i]` belongs to `rows[i]`; null (or a non-finite score) means the row could
 * not be scored: it counts as an error, outside the accuracy. @throws RangeError when the lengths differ.
 */
export function evaluatePreferences(rows: readonly PreferenceRow[], scores: readonly (PairScores | null)[]): PreferenceSummary {
  if (rows.length !== scores.length) throw new RangeError(`${rows.length} rows but ${scores.length} score pairs`);
  const overall = emptyCounts();
  const byStrength = { '1': emptyCounts(), '2': emptyCounts(), '3': emptyCounts() };
  const humanTies: HumanTies = { rows: 0, scored: 0, errors: 0, modelTies: 0 };
  rows.forEach((row, i) => {
    const s = scores[i];
    const ok = s !== null && s !== undefined && Number.isFinite(s.response_1) && Number.isFinite(s.response_2);
    if (row.preference_strength === 0) {
      humanTies.rows++;
      if (!ok) humanTies.errors++;
      else {
        humanTies.scored++;
        if (s.response_1 === s.response_2) humanTies.modelTies++;
      }
      return;
    }
    const d = ok ? decidePreference(row, s) : 'error';
    tally(overall, d);
    tally(byStrength[String(Math.abs(row.preference_strength)) as '1' | '2' | '3'], d);
  });
  return {
    overall: finish(overall),
    byStrength: { '1': finish(byStrength['1']), '2': finish(byStrength['2']), '3': finish(byStrength['3']) },
    humanTies,
  };
}
