/**
 * Reading evaluation data files into plain row objects, whatever the container: JSON Lines, a JSON array
 * (or an object holding a `rows` or `data` array), or Parquet, each optionally gzipped (HelpSteer2 ships
 * `*.jsonl.gz`). What a row must contain is the caller's business (eval.ts, helpsteer.ts); this module
 * only guarantees that every row is a plain JSON-like object and says where each row came from.
 *
 * Format: by extension (`.jsonl`/`.ndjson`, `.json`, `.parquet`, any of them + `.gz`), else sniffed:
 * gzip magic (1f 8b) → unwrap and sniff again; `PAR1` magic → Parquet; text that parses whole as an array
 * or a `{rows|data: [...]}` object → JSON; any other text → JSON Lines. A `.json` file that does not parse
 * whole but whose first line parses alone is read as JSON Lines (datasets often name JSONL `.json`).
 *
 * Parquet values come out JSON-like: lists (RewardBench 2's `chosen: list<string>`) as JS arrays, structs
 * as objects, int64 (bigint in hyparquet) as numbers, or as decimal strings beyond 2^53 so no digit is
 * silently lost, typed arrays as arrays, timestamps as ISO strings.
 *
 * The whole file is read into memory: the files are small to medium (HelpSteer2 is ~40 MB unzipped).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parquetReadObjects } from 'hyparquet';
import { EvalDataError } from './eval.ts';

export { EvalDataError };

/** The container formats read here. */
export type EvalDataFormat = 'jsonl' | 'json' | 'parquet';

/** A plain row object as read from the file. */
export type EvalRecord = Record<string, unknown>;

/** Rows read from one file. `locations[i]` is row i's 1-based line (JSON Lines) or 1-based row number (JSON, Parquet). */
export interface EvalData {
  file: string;
  format: EvalDataFormat;
  rows: EvalRecord[];
  locations: number[];
}

/** `<file>:<line>` for JSON Lines, `<file>: row <n>` otherwise: the prefix of a message about row i. */
export function rowPlace(data: EvalData, i: number): string {
  const at = data.locations[i] ?? i + 1;
  return data.format === 'jsonl' ? `${data.file}:${at}` : `${data.file}: row ${at}`;
}

/**
 * Validates every row of `data` with `check` (which returns the row, or what is wrong with it).
 * @throws EvalDataError `<place>: <fault>` for the first bad row.
 */
export function validateRows<R>(data: EvalData, check: (o: EvalRecord, i: number) => R | string): R[] {
  return data.rows.map((o, i) => {
    const row = check(o, i);
    if (typeof row === 'string') throw new EvalDataError(`${rowPlace(data, i)}: ${row}`);
    return row;
  });
}

const describeType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);
const isRecord = (v: unknown): v is EvalRecord => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The format named by the file's extension (after any `.gz`), or undefined when it names none. */
export function formatFromName(file: string): EvalDataFormat | undefined {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.json')) return 'json';
  if (name.endsWith('.parquet')) return 'parquet';
  return undefined;
}

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const isParquet = (b: Uint8Array): boolean => b.length >= 8 && Buffer.from(b.subarray(0, 4)).toString('latin1') === 'PAR1';

/** Where JSON.parse failed, as ` at line L column C`, when V8's message gives a `position N` (not all do). */
function jsonErrorPlace(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line} column ${before.length - before.lastIndexOf('\n')}`;
}

/**
 * Parses JSON Lines text; blank lines are skipped, a BOM and CRLF endings are tolerated.
 * @throws EvalDataError `<file>:<line>: <fault>` for the first bad line, or when there is no row.
 */
export function parseJsonLines(text: string, file: string): EvalData {
  const rows: EvalRecord[] = [];
  const locations: number[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const src = raw.replace(/\r$/, '').replace(/^\uFEFF/, '');
    if (src.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(src);
    } catch (err) {
      throw new EvalDataError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (!isRecord(value)) throw new EvalDataError(`${file}:${i + 1}: expected a JSON object, got ${describeType(value)}`);
    rows.push(value);
    locations.push(i + 1);
  }
  if (rows.length === 0) throw new EvalDataError(`${file}: no rows`);
  return { file, format: 'jsonl', rows, locations };
}

/** The row array of a parsed JSON document, or undefined when it holds none. */
function rowArrayOf(doc: unknown): unknown[] | undefined {
  if (Array.isArray(doc)) return doc;
  if (isRecord(doc)) {
    if (Array.isArray(doc.rows)) return doc.rows;
    if (Array.isArray(doc.data)) return doc.data;
  }
  return undefined;
}

function fromRowArray(list: unknown[], file: string): EvalData {
  const rows: EvalRecord[] = [];
  for (const [i, value] of list.entries()) {
    if (!isRecord(value)) throw new EvalDataError(`${file}: row ${i + 1}: expected a JSON object, got ${describeType(value)}`);
    rows.push(value);
  }
  if (rows.length === 0) throw new EvalDataError(`${file}: no rows`);
  return { file, format: 'json', rows, locations: rows.map((_, i) => i + 1) };
}

/**
 * Parses a JSON document: an array of row objects, or an object with a `rows` (else `data`) array.
 * @throws EvalDataError naming the file, and the row or the line and column of a syntax error.
 */
export function parseJsonDocument(text: string, file: string): EvalData {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    const why = (err as Error).message.replace(/\s+/g, ' ');
    throw new EvalDataError(`${file}: not valid JSON${jsonErrorPlace(text, err as Error)} (${why})`);
  }
  const list = rowArrayOf(doc);
  if (!list) throw new EvalDataError(`${file}: expected a JSON array of rows or an object with a 'rows' or 'data' array, got ${describeType(doc)}`);
  return fromRowArray(list, file);
}

function parsesWhole(text: string): boolean {
  try {
    JSON.parse(text.replace(/^\uFEFF/, ''));
    return true;
  } catch {
    return false;
  }
}

/** A `.json` file that is really JSON Lines: the whole fails to parse, the first non-blank line alone parses. */
function looksLikeJsonLines(text: string): boolean {
  const first = text.split('\n').find((l) => l.trim() !== '');
  if (first === undefined) return false;
  try {
    return isRecord(JSON.parse(first.replace(/^\uFEFF/, '')));
  } catch {
    return false;
  }
}

function parseText(text: string, file: string, named: EvalDataFormat | undefined): EvalData {
  if (named === 'jsonl') return parseJsonLines(text, file);
  if (named === 'json') {
    // Only a syntax error sends a .json file to JSON Lines; a well-formed document of the wrong shape is an error.
    if (!parsesWhole(text) && looksLikeJsonLines(text)) return parseJsonLines(text, file);
    return parseJsonDocument(text, file);
  }
  // Sniffed: a whole-document parse decides; anything else is JSON Lines (whose errors then name the line).
  try {
    const list = rowArrayOf(JSON.parse(text.replace(/^\uFEFF/, '')));
    if (list) return fromRowArray(list, file);
  } catch {
    /* not one JSON document */
  }
  return parseJsonLines(text, file);
}

/** A Parquet value made JSON-like (see the module comment). */
export function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(plainValue);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, plainValue);
  if (v instanceof Date) return v.toISOString();
  if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainValue(x)]));
  return v;
}

/**
 * Parses Parquet bytes into row objects (all columns, all row groups).
 * @throws EvalDataError `<file>: not a readable Parquet file (...)`, or when there is no row.
 */
export async function parseParquet(bytes: Uint8Array, file: string): Promise<EvalData> {
  // hyparquet reads from an ArrayBuffer; copy out of a possibly pooled or offset Buffer.
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let raw: Record<string, unknown>[];
  try {
    raw = await parquetReadObjects({ file: buffer });
  } catch (err) {
    throw new EvalDataError(`${file}: not a readable Parquet file (${(err as Error).message})`);
  }
  const rows = raw.map((r) => plainValue({ ...r }) as EvalRecord);
  if (rows.length === 0) throw new EvalDataError(`${file}: no rows`);
  return { file, format: 'parquet', rows, locations: rows.map((_, i) => i + 1) };
}

/** Parses file bytes whose name is `file` (used for the format and in messages). */
export async function parseEvalData(bytes: Uint8Array, file: string): Promise<EvalData> {
  const named = formatFromName(file);
  let body = bytes;
  if (isGzip(body)) {
    try {
      body = gunzipSync(body);
    } catch (err) {
      throw new EvalDataError(`${file}: cannot decompress gzip data (${(err as Error).message})`);
    }
  }
  if (named === 'parquet' || (named === undefined && isParquet(body))) return parseParquet(body, file);
  if (named === undefined && body.length === 0) throw new EvalDataError(`${file}: no rows`);
  return parseText(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'), file, named);
}

/**
 * Reads an evaluation data file into plain row objects.
 * @throws EvalDataError for a missing or unreadable file, a malformed one, or one with no rows.
 */
export async function readEvalData(path: string): Promise<EvalData> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EvalDataError(`${path}: data file not found`);
    if (code === 'EISDIR') throw new EvalDataError(`${path}: is a directory, expected a .jsonl, .json or .parquet file`);
    throw new EvalDataError(`${path}: cannot read the data file (${(err as Error).message})`);
  }
  return parseEvalData(bytes, path);
}
