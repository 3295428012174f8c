/**
 * Reward-model evaluation on RewardBench-style preference rows, as pure logic: reading and validating
 * rows, the /v1/score request a row becomes, the decision per row (chosen scored strictly above
 * rejected), and accuracy overall and per subset. The command (scripts/eval-reward.ts) does the I/O.
 *
 * A row: `{"prompt": string, "chosen": string, "rejected": string, "subset"?: string, "id"?: string|number}`.
 * Accuracy follows RewardBench: a row counts as correct only when chosen > rejected; a tie counts as not
 * correct and is reported on its own.
 */
import { readFileSync } from 'node:fs';

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
function toRow(value: unknown, line: number): RewardRow | string {
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
  const rows: RewardRow[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const src = raw.replace(/\r$/, '').replace(/^\uFEFF/, '');
    if (src.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(src);
    } catch (err) {
      throw new EvalDataError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    const row = toRow(value, i + 1);
    if (typeof row === 'string') throw new EvalDataError(`${file}:${i + 1}: ${row}`);
    rows.push(row);
  }
  if (rows.length === 0) throw new EvalDataError(`${file}: no rows (expected JSON Lines with prompt, chosen and rejected)`);
  return rows;
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
