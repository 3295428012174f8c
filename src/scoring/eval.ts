/**
 * Reward-model evaluation on RewardBench-style preference rows, as pure logic: reading and validating
 * rows, the /v1/score request a row becomes, the decision per row (chosen scored strictly above
 * rejected), and accuracy overall and per subset. The command (scripts/eval-reward.ts) does the I/O.
 *
 * The formats beyond that row (RewardBench 2, HelpSteer2, HelpSteer2-Preference) are in the second half:
 * each data row becomes one /v1/score request (an EvalItem), and the per-item scores become the format's
 * summary through the pure scorers of rewardbench.ts and helpsteer.ts.
 *
 * A row: `{"prompt": string, "chosen": string, "rejected": string, "subset"?: string, "id"?: string|number}`.
 * Accuracy follows RewardBench: a row counts as correct only when chosen > rejected; a tie counts as not
 * correct and is reported on its own.
 */
import { readFileSync } from 'node:fs';
import { parseJsonLines, rowPlace, validateRows, type EvalData } from './eval-data.ts';
import {
  evaluateAttributes,
  evaluatePreferences,
  HELPSTEER_ATTRIBUTES,
  helpSteerRows,
  preferenceRows,
  type AttributeStats,
  type AttributeValues,
  type HelpSteerAttribute,
  type HelpSteerRow,
  type PreferenceRow,
  type PreferenceSummary,
} from './helpsteer.ts';
import { scoreRewardBench, scoreRewardBench2, type RewardBench2Report, type RewardBenchReport } from './rewardbench.ts';

/** One preference row, validated. */
export interface RewardRow {
  /** 1-based line in the data file. */
  line: number;
  id?: string | number;
  prompt: string;
  chosen: string;
  rejected: string;
  /** The row's subset, or DEFAULT_SUBSET when it names none. */
  subset: string;
}

/** Subset of rows that name none. */
export const DEFAULT_SUBSET = 'default';

/** A data file that cannot be read or has a bad line; the message names file (and line) and the fault. */
export class EvalDataError extends Error {
  override name = 'EvalDataError';
}

const describeType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** Validates one parsed line; returns what is wrong, or the row. */
export function toRow(value: unknown, line: number): RewardRow | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return `expected a JSON object, got ${describeType(value)}`;
  const o = value as Record<string, unknown>;
  for (const field of ['prompt', 'chosen', 'rejected'] as const) {
    if (!(field in o)) return `missing required field '${field}'`;
    if (typeof o[field] !== 'string') return `field '${field}' must be a string, got ${describeType(o[field])}`;
  }
  if (o.subset !== undefined && o.subset !== null && typeof o.subset !== 'string') {
    return `field 'subset' must be a string, got ${describeType(o.subset)}`;
  }
  if (o.id !== undefined && o.id !== null && typeof o.id !== 'string' && typeof o.id !== 'number') {
    return `field 'id' must be a string or a number, got ${describeType(o.id)}`;
  }
  return {
    line,
    ...(o.id !== undefined && o.id !== null ? { id: o.id as string | number } : {}),
    prompt: o.prompt as string,
    chosen: o.chosen as string,
    rejected: o.rejected as string,
    subset: typeof o.subset === 'string' && o.subset !== '' ? o.subset : DEFAULT_SUBSET,
  };
}

/**
 * Parses JSON Lines text into rows; blank lines are skipped. `file` is only used in messages.
 * @throws EvalDataError `<file>:<line>: <what is wrong>` for the first bad line, or when there is no row.
 */
export function parseRewardRows(text: string, file: string): RewardRow[] {
  const data = parseJsonLines(text, file);
  return validateRows(data, (value, k) => toRow(value, data.locations[k]!));
}

/** Reads and parses a data file. @throws EvalDataError for a missing or unreadable file, or a bad line. */
export function readRewardRows(path: string): RewardRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EvalDataError(`${path}: data file not found`);
    if (code === 'EISDIR') throw new EvalDataError(`${path}: is a directory, expected a .jsonl file`);
    throw new EvalDataError(`${path}: cannot read the data file (${(err as Error).message})`);
  }
  return parseRewardRows(text, path);
}

/**
 * The /v1/score body (form 2) that scores a row: the prompt as the user turn, chosen and rejected as the
 * two candidate replies, so both share one request (and one batch). `model` undefined lets the server
 * pick its only reward model.
 */
export function scoreRequestFor(row: RewardRow, model?: string): Record<string, unknown> {
  return {
    ...(model !== undefined ? { model } : {}),
    messages: [{ role: 'user', content: row.prompt }],
    responses: [row.chosen, row.rejected],
  };
}

/** What happened to one row. */
export type Decision = 'correct' | 'wrong' | 'tie';

/** chosen strictly above rejected is correct; equal scores are a tie. */
export function decide(chosen: number, rejected: number): Decision {
  return chosen > rejected ? 'correct' : chosen === rejected ? 'tie' : 'wrong';
}

/** One row's result: its scores and decision, or why it could not be scored (e.g. too long: a 400). */
export type RowResult =
  | { line: number; id?: string | number; subset: string; chosen: number; rejected: number; decision: Decision }
  | { line: number; id?: string | number; subset: string; error: string };

/** Counts of one group of rows. Accuracy = correct / scored (ties count as not correct); null when none scored. */
export interface EvalCounts {
  rows: number;
  scored: number;
  correct: number;
  wrong: number;
  ties: number;
  /** Rows that could not be scored (left out of the accuracy). */
  errors: number;
  accuracy: number | null;
}

/** Overall and per-subset counts (subsets in the order they first appear). */
export interface EvalSummary {
  overall: EvalCounts;
  subsets: Record<string, EvalCounts>;
}

function counts(results: RowResult[]): EvalCounts {
  const c = { rows: results.length, scored: 0, correct: 0, wrong: 0, ties: 0, errors: 0 };
  for (const r of results) {
    if ('error' in r) c.errors++;
    else {
      c.scored++;
      if (r.decision === 'correct') c.correct++;
      else if (r.decision === 'tie') c.ties++;
      else c.wrong++;
    }
  }
  return { ...c, accuracy: c.scored > 0 ? c.correct / c.scored : null };
}

/** Accuracy overall and per subset. */
export function summarize(results: RowResult[]): EvalSummary {
  const groups = new Map<string, RowResult[]>();
  for (const r of results) {
    const g = groups.get(r.subset);
    if (g) g.push(r);
    else groups.set(r.subset, [r]);
  }
  return { overall: counts(results), subsets: Object.fromEntries([...groups].map(([k, g]) => [k, counts(g)])) };
}

const pct = (a: number | null): string => (a === null ? 'n/a' : `${(100 * a).toFixed(1)}%`);

/** The summary as a text table: one line per subset, then the overall line. */
export function formatSummaryTable(summary: EvalSummary): string {
  const header = ['subset', 'rows', 'correct', 'wrong', 'ties', 'errors', 'accuracy'];
  const line = (name: string, c: EvalCounts) => [name, c.rows, c.correct, c.wrong, c.ties, c.errors, pct(c.accuracy)].map(String);
  const body = Object.entries(summary.subsets).map(([k, c]) => line(k, c));
  const total = line('overall', summary.overall);
  const all = [header, ...body, total];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [fmt(header), rule, ...body.map(fmt), rule, fmt(total)].join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Formats: data rows → /v1/score requests → the format's summary

/** The data formats the evaluation reads. */
export const EVAL_FORMATS = ['rewardbench', 'rewardbench2', 'helpsteer2', 'helpsteer2-preference'] as const;
export type EvalFormat = (typeof EVAL_FORMATS)[number];

/**
 * The format a row's fields suggest: response_1/response_2 (or preference_strength) → helpsteer2-preference;
 * response with any HelpSteer2 label → helpsteer2; chosen/rejected arrays → rewardbench2; strings → rewardbench.
 */
export function detectFormat(row: Record<string, unknown>): EvalFormat | undefined {
  if (('response_1' in row && 'response_2' in row) || 'preference_strength' in row) return 'helpsteer2-preference';
  if ('response' in row && HELPSTEER_ATTRIBUTES.some((a) => a in row)) return 'helpsteer2';
  if (Array.isArray(row.chosen) || Array.isArray(row.rejected)) return 'rewardbench2';
  if (typeof row.chosen === 'string' || typeof row.rejected === 'string') return 'rewardbench';
  return undefined;
}

/** A turn of a prompt conversation. */
export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

/** HelpSteer2's turn separator: `user 1<extra_id_1>Assistant\nreply 1<extra_id_1>User\nuser 2`. */
const TURN_MARKER = '<extra_id_1>';

/**
 * A HelpSteer2 prompt as a conversation. The text before the first `<extra_id_1>` is the first user turn;
 * each later piece is a turn whose role is its first line (`User` or `Assistant`, dropped from the
 * content); a piece without that line takes the role after the previous turn's. Contents are trimmed.
 * A prompt without markers is one user turn.
 */
export function promptTurns(prompt: string): Turn[] {
  const [first, ...rest] = prompt.split(TURN_MARKER);
  const turns: Turn[] = [{ role: 'user', content: first!.trim() }];
  for (const piece of rest) {
    const m = /^[ \t]*(user|assistant)[ \t]*(\r?\n|$)/i.exec(piece);
    const role = m ? (m[1]!.toLowerCase() as Turn['role']) : turns.at(-1)!.role === 'user' ? 'assistant' : 'user';
    turns.push({ role, content: piece.slice(m ? m[0].length : 0).trim() });
  }
  return turns;
}

/** One /v1/score request of an evaluation (form 2: a prompt conversation and candidate replies). */
export interface EvalItem {
  /** `file:line` or `file: row n`, for messages. */
  place: string;
  /** 1-based line (JSON Lines) or row number. */
  line: number;
  id?: string | number;
  subset: string;
  messages: Turn[];
  responses: string[];
}

/** A RewardBench 2 row: one or more chosen and rejected answers. */
export interface RewardBench2Row {
  id?: string | number;
  subset: string;
  prompt: string;
  chosen: string[];
  rejected: string[];
}

/** Rows of one format with the requests that score them (`items[i]` scores `rows[i]`). */
export type EvalTask =
  | { format: 'rewardbench'; rows: RewardRow[]; items: EvalItem[] }
  | { format: 'rewardbench2'; rows: RewardBench2Row[]; items: EvalItem[] }
  | { format: 'helpsteer2'; rows: HelpSteerRow[]; items: EvalItem[] }
  | { format: 'helpsteer2-preference'; rows: PreferenceRow[]; items: EvalItem[] };

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');

function toRewardBench2Row(o: Record<string, unknown>): RewardBench2Row | string {
  if (typeof o.prompt !== 'string') return `field 'prompt' must be a string, got ${describeType(o.prompt)}`;
  for (const f of ['chosen', 'rejected'] as const) {
    if (!isStringList(o[f])) return `field '${f}' must be a non-empty array of strings`;
  }
  if (o.id !== undefined && o.id !== null && typeof o.id !== 'string' && typeof o.id !== 'number') return `field 'id' must be a string or a number`;
  const id = typeof o.id === 'string' || typeof o.id === 'number' ? { id: o.id } : {};
  const subset = typeof o.subset === 'string' && o.subset !== '' ? o.subset : DEFAULT_SUBSET;
  return { ...id, subset, prompt: o.prompt, chosen: o.chosen as string[], rejected: o.rejected as string[] };
}


const itemAt = (data: EvalData, i: number, subset: string, id?: string | number) => ({
  place: rowPlace(data, i),
  line: data.locations[i] ?? i + 1,
  ...(id !== undefined ? { id } : {}),
  subset,
});

/**
 * Validates the rows of `data` as `format` (detected from the first row when undefined) and builds one
 * /v1/score request per row: v1 [chosen, rejected]; RB2 [...chosen, ...rejected]; HelpSteer2 [response];
 * preference [response_1, response_2]. HelpSteer2 prompts are split into turns (promptTurns).
 * @throws EvalDataError for an undetectable format or a bad row (naming its place).
 */
export function buildTask(data: EvalData, format?: EvalFormat): EvalTask {
  const fmt = format ?? detectFormat(data.rows[0] ?? {});
  if (fmt === undefined) {
    throw new EvalDataError(`${data.file}: cannot tell the format from the first row's fields (${Object.keys(data.rows[0] ?? {}).join(', ')}); pass --format`);
  }
  switch (fmt) {
    case 'rewardbench': {
      const rows = validateRows(data, (o, i) => toRow(o, data.locations[i] ?? i + 1));
      const items = rows.map((r, i) => ({ ...itemAt(data, i, r.subset, r.id), messages: [{ role: 'user' as const, content: r.prompt }], responses: [r.chosen, r.rejected] }));
      return { format: fmt, rows, items };
    }
    case 'rewardbench2': {
      const rows = validateRows(data, toRewardBench2Row);
      const items = rows.map((r, i) => ({ ...itemAt(data, i, r.subset, r.id), messages: [{ role: 'user' as const, content: r.prompt }], responses: [...r.chosen, ...r.rejected] }));
      return { format: fmt, rows, items };
    }
    case 'helpsteer2': {
      const rows = helpSteerRows(data);
      const items = rows.map((r, i) => ({ ...itemAt(data, i, DEFAULT_SUBSET), messages: promptTurns(r.prompt), responses: [r.response] }));
      return { format: fmt, rows, items };
    }
    case 'helpsteer2-preference': {
      const rows = preferenceRows(data);
      const items = rows.map((r, i) => ({ ...itemAt(data, i, `strength ${Math.abs(r.preference_strength)}`), messages: promptTurns(r.prompt), responses: [r.response_1, r.response_2] }));
      return { format: fmt, rows, items };
    }
  }
}

/** What scoring one item gave: a score (and attributes, for attribute heads) per response, or why not. */
export type ItemOutcome = { scores: number[]; attributes?: Array<Record<string, number> | undefined> } | { error: string };

/** A row the scorer refused (e.g. too long): listed in every report, left out of every statistic. */
export interface RefusedRow {
  place: string;
  line: number;
  id?: string | number;
  error: string;
}

interface EvalSummaryBase {
  rows: number;
  refused: RefusedRow[];
}

type Base = { line: number; id?: string | number; subset: string };
/** Per-row results of the formats beyond v1 (scores as the command reports them). */
export type RewardBench2RowResult = (Base & { chosenScores: number[]; rejectedScores: number[] }) | (Base & { error: string });
export type HelpSteerRowResult = (Base & { score: number; attributes: AttributeValues }) | (Base & { error: string });
export type PreferenceRowResult = (Base & { strength: number; response_1: number; response_2: number }) | (Base & { error: string });

/** The summary of one format, with its per-row results. */
export type FormatSummary = EvalSummaryBase &
  (
    | ({ format: 'rewardbench'; rewardbench: RewardBenchReport; results: RowResult[] } & EvalSummary)
    | { format: 'rewardbench2'; rewardbench2: RewardBench2Report; results: RewardBench2RowResult[] }
    | { format: 'helpsteer2'; attributes: Record<HelpSteerAttribute, AttributeStats>; results: HelpSteerRowResult[] }
    | { format: 'helpsteer2-preference'; preferences: PreferenceSummary; results: PreferenceRowResult[] }
  );

/** The known HelpSteer2 attributes of a model's attribute output. */
function knownAttributes(a: Record<string, number> | undefined): AttributeValues {
  const out: AttributeValues = {};
  for (const k of HELPSTEER_ATTRIBUTES) if (a && typeof a[k] === 'number') out[k] = a[k];
  return out;
}

/**
 * The format's summary from one outcome per item (`outcomes[i]` for `task.items[i]`). Refused items are
 * listed in `refused` and left out of the statistics (the pure scorers see only scored rows, or null).
 */
export function summarizeTask(task: EvalTask, outcomes: readonly ItemOutcome[]): FormatSummary {
  if (outcomes.length !== task.items.length) throw new RangeError(`${task.items.length} items but ${outcomes.length} outcomes`);
  const base = (i: number): Base => {
    const { line, id, subset } = task.items[i]!;
    return { line, ...(id !== undefined ? { id } : {}), subset };
  };
  const refused: RefusedRow[] = [];
  outcomes.forEach((o, i) => {
    if ('error' in o) refused.push({ place: task.items[i]!.place, ...base(i), error: o.error });
  });
  const head = { rows: task.items.length, refused };
  const ok = (o: ItemOutcome): o is Exclude<ItemOutcome, { error: string }> => !('error' in o);
  switch (task.format) {
    case 'rewardbench': {
      const results: RowResult[] = outcomes.map((o, i) =>
        ok(o) ? { ...base(i), chosen: o.scores[0]!, rejected: o.scores[1]!, decision: decide(o.scores[0]!, o.scores[1]!) } : { ...base(i), error: o.error },
      );
      const scored = results.flatMap((r) => ('error' in r ? [] : [{ subset: r.subset, chosenScore: r.chosen, rejectedScore: r.rejected }]));
      return { format: task.format, ...head, ...summarize(results), rewardbench: scoreRewardBench(scored), results };
    }
    case 'rewardbench2': {
      const results: RewardBench2RowResult[] = outcomes.map((o, i) => {
        const k = task.rows[i]!.chosen.length;
        return ok(o) ? { ...base(i), chosenScores: o.scores.slice(0, k), rejectedScores: o.scores.slice(k) } : { ...base(i), error: o.error };
      });
      const scored = results.flatMap((r) => ('error' in r ? [] : [r]));
      return { format: task.format, ...head, rewardbench2: scoreRewardBench2(scored), results };
    }
    case 'helpsteer2': {
      const results: HelpSteerRowResult[] = outcomes.map((o, i) =>
        ok(o) ? { ...base(i), score: o.scores[0]!, attributes: knownAttributes(o.attributes?.[0]) } : { ...base(i), error: o.error },
      );
      const predictions = results.map((r) => ('error' in r ? null : r.attributes));
      return { format: task.format, ...head, attributes: evaluateAttributes(task.rows, predictions), results };
    }
    case 'helpsteer2-preference': {
      const results: PreferenceRowResult[] = outcomes.map((o, i) => {
        const strength = task.rows[i]!.preference_strength;
        return ok(o) ? { ...base(i), strength, response_1: o.scores[0]!, response_2: o.scores[1]! } : { ...base(i), error: o.error };
      });
      const pairs = results.map((r) => ('error' in r ? null : { response_1: r.response_1, response_2: r.response_2 }));
      return { format: task.format, ...head, preferences: evaluatePreferences(task.rows, pairs), results };
    }
  }
}
