/**
 * `npm run eval:reward -- --data FILE.jsonl [...]`: reward-model accuracy on RewardBench-style rows
 * (`prompt`, `chosen`, `rejected`, optional `subset` and `id`), overall and per subset. A row is correct when
 * chosen scores strictly above rejected; ties are reported on their own. Each row is one /v1/score request
 * (form 2: the prompt as the user turn, [chosen, rejected] as candidates), so both replies share a batch.
 *
 * Against a running server with --url, or in process (no --url): the reward model in --reward-model-dir
 * runs in its own worker (RewardEngine), and each row goes through the server's own request parsing
 * (parseScoreRequest: chat template without generation prompt, tokenization, length limit).
 *
 * Progress on stderr; the table (or with --json, a JSON summary with per-row results) on stdout.
 * Exit status: 0 done (rows the server refused, e.g. too long, are counted as errors and left out of the
 * accuracy), 1 the server or model failed, 2 bad arguments or data.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatDuration } from '../src/hub/progress.ts';
import { RewardEngine } from '../src/scoring/reward-engine.ts';
import { EvalDataError, decide, formatSummaryTable, readRewardRows, scoreRequestFor, summarize } from '../src/scoring/eval.ts';
import type { RewardRow, RowResult } from '../src/scoring/eval.ts';
import { DEFAULT_SERVER_LIMITS, type AppDeps, type RewardModel } from '../src/server/deps.ts';
import { ApiError } from '../src/server/errors.ts';
import { parseScoreRequest } from '../src/server/score-request.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run eval:reward -- --data FILE.jsonl [options]

  --data FILE              JSON Lines: {"prompt", "chosen", "rejected", "subset"?, "id"?} per line (required)
  --url URL                a running server (http://host:port); without it the model runs in this process
  --model NAME             reward model name (server: default its only reward model; in process: the folder name)
  --api-key KEY            bearer key for --url (default: $API_KEY)
  --reward-model-dir DIR   in-process model folder (default: models/reward)
  --concurrency N          rows in flight at once (default 8)
  --limit N                only the first N rows
  --json                   print a JSON summary (with per-row results) on stdout instead of the table
  --quiet                  no progress on stderr
  -h, --help               this text`;

/** Bad arguments: exit status 2 (with the usage text unless `showUsage` is false). */
class UsageError extends Error {
  constructor(
    message: string,
    readonly showUsage = true,
  ) {
    super(message);
  }
}
/** A row the scorer refused (4xx other than for the model): counted as an error, the run goes on. */
class RowError extends Error {}

/** Scores one row: [chosen, rejected]. Throws RowError for a refused row, anything else to stop the run. */
type RowScorer = (row: RewardRow) => Promise<[number, number]>;

interface Scorer {
  describe: string;
  /** The model name answers carry (known after the first answer for --url without --model). */
  model: () => string | undefined;
  score: RowScorer;
  close(): Promise<void>;
}

function positiveInt(v: string | undefined, flag: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, got '${v}'`);
  return n;
}

// ---- against a running server -------------------------------------------------------------------

/** The server's root URL (a trailing "/" or "/v1" is dropped). */
function baseUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8000, got '${raw}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url must use http or https, got '${raw}'`);
  return u.href.replace(/\/+$/, '').replace(/\/v1$/, '');
}

/** fetch, with a network failure turned into a message naming the URL and the cause. */
async function call(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new Error(`cannot reach the server at ${new URL(url).origin} (${why}); is it running? (npm start)`);
  }
}

/** An error answer's message and param (OpenAI's error shape, else the text). */
async function errorOf(r: Response): Promise<{ message: string; param: string | null }> {
  const text = await r.text();
  try {
    const e = (JSON.parse(text) as { error?: { message?: string; param?: string | null } }).error;
    return { message: e?.message ?? text, param: e?.param ?? null };
  } catch {
    return { message: text.slice(0, 300), param: null };
  }
}

/** Checks the server answers (and the key and model), before the first row. */
async function preflight(base: string, headers: Record<string, string>, model: string | undefined): Promise<void> {
  const r = await call(`${base}/v1/models`, { headers });
  if (r.status === 401) throw new Error(`the server at ${base} refused the API key (401): pass --api-key or set API_KEY`);
  if (!r.ok) throw new Error(`the server at ${base} answered ${r.status} to GET /v1/models: ${(await errorOf(r)).message}`);
  const ids = ((await r.json()) as { data?: Array<{ id: string }> }).data?.map((m) => m.id) ?? [];
  if (model !== undefined && !ids.includes(model)) {
    throw new Error(`the server at ${base} does not serve a model '${model}' (it serves ${ids.map((i) => `'${i}'`).join(', ') || 'none'})`);
  }
}

async function httpScorer(rawUrl: string, model: string | undefined, apiKey: string | undefined): Promise<Scorer> {
  const base = baseUrl(rawUrl);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
  await preflight(base, headers, model);
  let served = model;
  const score: RowScorer = async (row) => {
    for (let attempt = 0; ; attempt++) {
      const r = await call(`${base}/v1/score`, { method: 'POST', headers, body: JSON.stringify(scoreRequestFor(row, model)) });
      if ((r.status === 429 || r.status === 503) && attempt < 5) {
        const wait = Number(r.headers.get('retry-after') ?? 1);
        await r.body?.cancel();
        await new Promise((res) => setTimeout(res, 1000 * Math.min(10, Number.isFinite(wait) ? wait : 1)));
        continue;
      }
      if (r.ok) {
        const body = (await r.json()) as { model: string; data: Array<{ index: number; score: number }> };
        served ??= body.model;
        const by = (i: number) => body.data.find((d) => d.index === i)?.score;
        const [c, j] = [by(0), by(1)];
        if (typeof c !== 'number' || typeof j !== 'number') throw new Error(`the server's /v1/score answer lacks two scores: ${JSON.stringify(body).slice(0, 200)}`);
        return [c, j];
      }
      // A 400 about the row (e.g. longer than the model accepts) is that row's error; about the model, fatal.
      const { message, param } = await errorOf(r);
      if (r.status === 400 && param !== 'model') throw new RowError(message);
      throw new Error(`the server answered ${r.status} to POST /v1/score: ${message}`);
    }
  };
  return { describe: base, model: () => served, score, close: async () => {} };
}

// ---- in process ---------------------------------------------------------------------------------

async function inProcessScorer(dirArg: string | undefined, model: string | undefined): Promise<Scorer> {
  const dir = resolve(dirArg ?? join(REPO, 'models', 'reward'));
  if (!existsSync(join(dir, 'config.json')) && !existsSync(join(dir, 'genai_config.json'))) {
    throw new UsageError(`reward model folder not found: ${dir} (build the default one with npm run build:models, or pass --url)`, false);
  }
  const tokenizer = await loadTokenizer(dir);
  const engine = await RewardEngine.start({ modelDir: dir });
  const ctx = engine.spec.contextLength;
  const id = model ?? basename(dir);
  const reward: RewardModel = { id, task: 'reward', scorer: engine, tokenizer, contextLength: ctx, maxScoreTokens: ctx, root: dir, created: 0 };
  const deps: AppDeps = { models: [reward], limits: DEFAULT_SERVER_LIMITS, isReady: () => true, logger: false, version: 'eval' };
  const score: RowScorer = async (row) => {
    let items: number[][];
    try {
      // The server's own parsing: same conversation shape, chat template, tokenization and length limit.
      items = (await parseScoreRequest(scoreRequestFor(row, id), deps)).items;
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) throw new RowError(err.message);
      throw err;
    }
    const [c, j] = await engine.score(items);
    return [c!.score, j!.score];
  };
  return { describe: `${dir} (in process)`, model: () => id, score, close: () => engine.close() };
}

// ---- the run ------------------------------------------------------------------------------------

/** done/total, rate and ETA on stderr: redrawn in place on a terminal, plain lines (each ~10%) elsewhere. */
class RowProgress {
  private done = 0;
  private lastDraw = Date.now();
  private lastDecile = 0;
  private readonly t0 = Date.now();
  constructor(
    private readonly total: number,
    private readonly out: NodeJS.WriteStream | null,
  ) {}

  tick(): void {
    this.done++;
    if (!this.out) return;
    const now = Date.now();
    if (this.out.isTTY) {
      if (now - this.lastDraw < 100 && this.done < this.total) return;
      this.lastDraw = now;
      const filled = Math.round((24 * this.done) / this.total);
      this.out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(24 - filled)}] ${this.status(now)}\x1b[K`);
      if (this.done === this.total) this.out.write('\n');
      return;
    }
    const decile = Math.floor((10 * this.done) / this.total);
    if (decile > this.lastDecile || now - this.lastDraw > 10_000 || this.done === this.total) {
      this.lastDecile = decile;
      this.lastDraw = now;
      this.out.write(`eval: ${this.status(now)}\n`);
    }
  }

  private status(now: number): string {
    const s = (now - this.t0) / 1000;
    const rate = s > 0 ? this.done / s : 0;
    const eta = this.done === this.total ? 'done' : `ETA ${rate > 0 ? formatDuration((this.total - this.done) / rate) : '--'}`;
    return `${this.done}/${this.total} rows  ${Math.floor((100 * this.done) / this.total)}%  ${rate.toFixed(1)} rows/s  ${eta}`;
  }
}

/** Scores every row, `concurrency` at a time; the first non-row error stops the run. */
async function scoreAll(rows: RewardRow[], scorer: Scorer, concurrency: number, progress: RowProgress): Promise<RowResult[]> {
  const results = new Array<RowResult>(rows.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < rows.length) {
      const i = next++;
      const row = rows[i]!;
      const base = { line: row.line, ...(row.id !== undefined ? { id: row.id } : {}), subset: row.subset };
      try {
        const [chosen, rejected] = await scorer.score(row);
        results[i] = { ...base, chosen, rejected, decision: decide(chosen, rejected) };
      } catch (err) {
        if (!(err instanceof RowError)) {
          failed = true;
          throw err;
        }
        results[i] = { ...base, error: err.message };
      }
      progress.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      url: { type: 'string' },
      model: { type: 'string' },
      'api-key': { type: 'string' },
      'reward-model-dir': { type: 'string' },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.data) throw new UsageError('--data FILE.jsonl is required');
  if (values.url && values['reward-model-dir']) throw new UsageError('--reward-model-dir is for in-process runs; with --url the server has its model');
  const concurrency = positiveInt(values.concurrency, 'concurrency', 8);
  const limit = positiveInt(values.limit, 'limit', Number.POSITIVE_INFINITY);
  const rows = readRewardRows(values.data).slice(0, limit);

  const scorer = values.url
    ? await httpScorer(values.url, values.model, values['api-key'] ?? process.env.API_KEY)
    : await inProcessScorer(values['reward-model-dir'], values.model);
  const t0 = performance.now();
  let results: RowResult[];
  try {
    if (!values.quiet) process.stderr.write(`eval: ${rows.length} rows from ${values.data}, scored by ${scorer.describe}, ${concurrency} at a time\n`);
    results = await scoreAll(rows, scorer, concurrency, new RowProgress(rows.length, values.quiet ? null : process.stderr));
  } finally {
    await scorer.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = summarize(results);
  const errors = results.filter((r): r is Extract<RowResult, { error: string }> => 'error' in r);
  if (values.json) {
    const out = { data: values.data, mode: values.url ? 'http' : 'in-process', scorer: scorer.describe, model: scorer.model() ?? null, seconds, ...summary, results };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const o = summary.overall;
    console.log(`reward model '${scorer.model() ?? '?'}' (${scorer.describe}) on ${values.data}: ${rows.length} rows in ${seconds.toFixed(1)}s\n`);
    console.log(formatSummaryTable(summary));
    const acc = o.accuracy === null ? 'n/a' : `${(100 * o.accuracy).toFixed(1)}%`;
    console.log(`\naccuracy ${acc}: chosen scored above rejected in ${o.correct} of ${o.scored} rows; ${o.ties} tie(s), ${o.errors} row(s) not scored`);
  }
  for (const e of errors.slice(0, 5)) process.stderr.write(`warning: ${values.data}:${e.line}: not scored: ${e.error}\n`);
  if (errors.length > 5) process.stderr.write(`warning: ${errors.length - 5} more row(s) not scored\n`);
}

main().catch((err: unknown) => {
  const usage = err instanceof UsageError || err instanceof EvalDataError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(`eval-reward: ${(err as Error).message ?? String(err)}\n`);
  if ((err instanceof UsageError && err.showUsage) || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) process.stderr.write(`\n${USAGE}\n`);
  process.exit(usage ? 2 : 1);
});
