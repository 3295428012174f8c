/**
 * `npm run eval:reward -- --data FILE [...]`: a reward model on preference or rating data, in one of four
 * formats (--format, default detected from the first row; see buildTask in src/scoring/eval.ts):
 *   rewardbench            {prompt, chosen, rejected, subset?, id?}: one /v1/score per row, [chosen, rejected];
 *                          subset accuracies, the four sections weighted by published counts, overall
 *   rewardbench2           {prompt, chosen: [...], rejected: [...], subset, id}: one /v1/score per prompt with
 *                          every answer ([...chosen, ...rejected]); per subset (Ties by its own rule), overall
 *   helpsteer2             {prompt, response, helpfulness, …}: one /v1/score per row, reading the model's
 *                          `attributes` (an attribute-head model); Pearson/Spearman per attribute
 *   helpsteer2-preference  {prompt, response_1, response_2, preference_strength}: one /v1/score per row,
 *                          accuracy overall and by |strength|
 * HelpSteer2 prompts holding `<extra_id_1>` markers are split into user/assistant turns (promptTurns).
 * Data from --data (JSON Lines, JSON, Parquet, gzip) or --dataset ORG/NAME already in the hub cache.
 *
 * Against a running server with --url, or in process (no --url): the reward model in --reward-model-dir
 * runs in its own worker (RewardEngine), and each row goes through the server's own request parsing
 * (parseScoreRequest: chat template without generation prompt, tokenization, length limit).
 *
 * Progress on stderr; tables (or with --json, a JSON summary with per-row results) on stdout; --report
 * writes Markdown with an SVG chart. Exit status: 0 done (rows the server refused, e.g. too long, are
 * listed and left out of every figure), 1 the server or model failed, 2 bad arguments or data (a dataset
 * not in the cache included: the message names the pull command).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CachedDatasetError, resolveCachedDataset } from '../src/hub/dataset.ts';
import { formatDuration } from '../src/hub/progress.ts';
import { readEvalData, type EvalData } from '../src/scoring/eval-data.ts';
import { formatTextReport, markdownReport, type ReferenceScores } from '../src/scoring/eval-report.ts';
import { RewardEngine } from '../src/scoring/reward-engine.ts';
import { buildTask, EVAL_FORMATS, EvalDataError, summarizeTask } from '../src/scoring/eval.ts';
import type { EvalFormat, EvalItem, FormatSummary, ItemOutcome } from '../src/scoring/eval.ts';
import { DEFAULT_SERVER_LIMITS, type AppDeps, type RewardModel } from '../src/server/deps.ts';
import { ApiError } from '../src/server/errors.ts';
import { parseScoreRequest } from '../src/server/score-request.ts';
import { loadTokenizer } from '../src/tokenizer/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run eval:reward -- (--data FILE | --dataset ORG/NAME) [options]

  --data FILE              rows in JSON Lines, JSON or Parquet (optionally gzip)
  --dataset ORG/NAME       a dataset pulled into the hub cache (npm run pull -- --repo-type dataset ORG/NAME); never downloads
  --split S, --revision R, --cache-dir D   which split / revision / cache root of --dataset
  --format F               rewardbench | rewardbench2 | helpsteer2 | helpsteer2-preference (default: from the first row)
  --url URL                a running server (http://host:port); without it the model runs in this process
  --model NAME             reward model name (server: default its only reward model; in process: the folder name)
  --api-key KEY            bearer key for --url (default: $API_KEY)
  --reward-model-dir DIR   in-process model folder (default: models/reward; helpsteer2 needs models/reward-attributes)
  --concurrency N          rows in flight at once (default 8)
  --limit N                only the first N rows
  --json                   print a JSON summary (with per-row results) on stdout instead of the table
  --report FILE.md         also write a Markdown report with an SVG bar chart
  --reference FILE.json    published numbers to show beside ours, e.g. {"Chat": 97.5, "Overall": 94.1}
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

/** One score (and attributes, for attribute heads) per response. */
type ItemScores = Array<{ score: number; attributes?: Record<string, number> }>;
/** Scores one item's responses. Throws RowError for a refused row, anything else to stop the run. */
type RowScorer = (item: EvalItem) => Promise<ItemScores>;
const requestFor = (item: EvalItem, model?: string) => ({ ...(model !== undefined ? { model } : {}), messages: item.messages, responses: item.responses });

interface Scorer {
  describe: string;
  /** The model name answers carry (known after the first answer for --url without --model). */
  model: () => string | undefined;
  score: RowScorer;
  close(): Promise<void>;
  /** The model is one of ours (random weights), when that can be told. */
  ours?: boolean;
}

/**
 * Our random-weight models: a folder named reward* under models/, or a config.json with `nemotron_onnx`
 * (written by this project's model builder). Through --url only the name is known: reward or reward-*.
 */
function isOurModel(dir: string): boolean {
  try {
    if ((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { nemotron_onnx?: unknown }).nemotron_onnx !== undefined) return true;
  } catch {
    // no readable config.json: judge by the path
  }
  return resolve(dir).startsWith(join(REPO, 'models', 'reward'));
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
  const score: RowScorer = async (item) => {
    for (let attempt = 0; ; attempt++) {
      const r = await call(`${base}/v1/score`, { method: 'POST', headers, body: JSON.stringify(requestFor(item, model)) });
      if ((r.status === 429 || r.status === 503) && attempt < 5) {
        const wait = Number(r.headers.get('retry-after') ?? 1);
        await r.body?.cancel();
        await new Promise((res) => setTimeout(res, 1000 * Math.min(10, Number.isFinite(wait) ? wait : 1)));
        continue;
      }
      if (r.ok) {
        const body = (await r.json()) as { model: string; data: Array<{ index: number; score: number; attributes?: Record<string, number> }> };
        served ??= body.model;
        const scores = item.responses.map((_, i) => body.data.find((d) => d.index === i));
        if (scores.some((d) => typeof d?.score !== 'number')) {
          throw new Error(`the server's /v1/score answer lacks ${item.responses.length} scores: ${JSON.stringify(body).slice(0, 200)}`);
        }
        return scores.map((d) => ({ score: d!.score, ...(d!.attributes ? { attributes: d!.attributes } : {}) }));
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
  const score: RowScorer = async (item) => {
    let items: number[][];
    try {
      // The server's own parsing: same conversation shape, chat template, tokenization and length limit.
      items = (await parseScoreRequest(requestFor(item, id), deps)).items;
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) throw new RowError(err.message);
      throw err;
    }
    return engine.score(items);
  };
  return { describe: `${dir} (in process)`, model: () => id, score, close: () => engine.close(), ours: isOurModel(dir) };
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

/** Scores every item, `concurrency` at a time; the first non-row error stops the run. */
async function scoreAll(items: EvalItem[], scorer: Scorer, concurrency: number, progress: RowProgress, needAttributes: boolean): Promise<ItemOutcome[]> {
  const outcomes = new Array<ItemOutcome>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        const scores = await scorer.score(items[i]!);
        if (needAttributes && scores.some((s) => s.attributes === undefined)) {
          throw new Error(`reward model '${scorer.model() ?? '?'}' returns no attributes: helpsteer2 needs an attribute-head model (e.g. --reward-model-dir models/reward-attributes)`);
        }
        outcomes[i] = { scores: scores.map((s) => s.score), ...(needAttributes ? { attributes: scores.map((s) => s.attributes) } : {}) };
      } catch (err) {
        if (!(err instanceof RowError)) {
          failed = true;
          throw err;
        }
        outcomes[i] = { error: err.message };
      }
      progress.tick();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return outcomes;
}

/** What to evaluate and with what (the command's flags). */
export interface EvalOptions {
  data?: string;
  dataset?: string;
  split?: string;
  revision?: string;
  cacheDir?: string;
  format?: EvalFormat;
  url?: string;
  model?: string;
  apiKey?: string;
  rewardModelDir?: string;
  concurrency?: number;
  limit?: number;
  /** Progress stream (default none). */
  progress?: NodeJS.WriteStream | null;
}

/** A finished evaluation: the format's summary and what produced it. */
export type EvalRun = FormatSummary & { data: string; mode: 'http' | 'in-process'; scorer: string; model: string | null; seconds: number; meaningless: boolean };

/** The rows of --data, or of a cached --dataset's split (files concatenated in order; never downloads). */
async function loadData(o: EvalOptions): Promise<{ data: EvalData; source: string }> {
  if ((o.data === undefined) === (o.dataset === undefined)) throw new UsageError('give one of --data FILE or --dataset ORG/NAME');
  if (o.data !== undefined) return { data: await readEvalData(o.data), source: o.data };
  let cached;
  try {
    cached = resolveCachedDataset(o.dataset!, { split: o.split, revision: o.revision, cacheDir: o.cacheDir });
  } catch (err) {
    if (err instanceof CachedDatasetError) throw new UsageError(err.message, false);
    throw err;
  }
  const parts = await Promise.all(cached.files.map((f) => readEvalData(f)));
  const source = `${o.dataset}:${cached.split}@${cached.commit.slice(0, 12)}`;
  if (parts.length === 1) return { data: parts[0]!, source };
  const rows = parts.flatMap((p) => p.rows);
  return { data: { file: source, format: 'json', rows, locations: rows.map((_, i) => i + 1) }, source };
}

/** The command's core: reads the rows, scores them (in process or through --url), summarizes them. */
export async function runEvaluation(o: EvalOptions): Promise<EvalRun> {
  if (o.url && o.rewardModelDir) throw new UsageError('--reward-model-dir is for in-process runs; with --url the server has its model');
  const { data, source } = await loadData(o);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  const sliced: EvalData = { ...data, rows: data.rows.slice(0, limit), locations: data.locations.slice(0, limit) };
  const task = buildTask(sliced, o.format);
  const concurrency = o.concurrency ?? 8;
  const scorer = o.url ? await httpScorer(o.url, o.model, o.apiKey) : await inProcessScorer(o.rewardModelDir, o.model);
  const t0 = performance.now();
  let outcomes: ItemOutcome[];
  try {
    o.progress?.write(`eval: ${task.items.length} ${task.format} rows from ${source}, scored by ${scorer.describe}, ${concurrency} at a time\n`);
    outcomes = await scoreAll(task.items, scorer, concurrency, new RowProgress(task.items.length, o.progress ?? null), task.format === 'helpsteer2');
  } finally {
    await scorer.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const model = scorer.model() ?? null;
  const meaningless = scorer.ours ?? /^reward(-[\w.-]+)?$/.test(model ?? '');
  return { data: source, mode: o.url ? 'http' : 'in-process', scorer: scorer.describe, model, seconds, meaningless, ...summarizeTask(task, outcomes) };
}

function readReference(path: string | undefined): ReferenceScores | undefined {
  if (path === undefined) return undefined;
  let ref: unknown;
  try {
    ref = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--reference ${path}: cannot read it as JSON (${(err as Error).message})`, false);
  }
  if (typeof ref !== 'object' || ref === null || Array.isArray(ref) || !Object.values(ref).every((v) => typeof v === 'number')) {
    throw new UsageError(`--reference ${path}: expected an object of numbers such as {"Chat": 97.5, "Overall": 94.1}`, false);
  }
  return ref as ReferenceScores;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      data: { type: 'string' },
      dataset: { type: 'string' },
      split: { type: 'string' },
      revision: { type: 'string' },
      'cache-dir': { type: 'string' },
      format: { type: 'string' },
      url: { type: 'string' },
      model: { type: 'string' },
      'api-key': { type: 'string' },
      'reward-model-dir': { type: 'string' },
      concurrency: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      report: { type: 'string' },
      reference: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.format !== undefined && !(EVAL_FORMATS as readonly string[]).includes(values.format)) {
    throw new UsageError(`--format must be one of ${EVAL_FORMATS.join(', ')}, got '${values.format}'`);
  }
  const reference = readReference(values.reference);
  const run = await runEvaluation({
    data: values.data,
    dataset: values.dataset,
    split: values.split,
    revision: values.revision,
    cacheDir: values['cache-dir'],
    format: values.format as EvalFormat | undefined,
    url: values.url,
    model: values.model,
    apiKey: values['api-key'] ?? process.env.API_KEY,
    rewardModelDir: values['reward-model-dir'],
    concurrency: positiveInt(values.concurrency, 'concurrency', 8),
    limit: positiveInt(values.limit, 'limit', Number.POSITIVE_INFINITY),
    progress: values.quiet ? null : process.stderr,
  });
  const note = run.meaningless ? 'NOTE: this model has random weights (built by this project): the figures are meaningless.\n' : '';
  if (values.json) process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  else {
    console.log(`reward model '${run.model ?? '?'}' (${run.scorer}) on ${run.data} [${run.format}]: ${run.rows} rows in ${run.seconds.toFixed(1)}s\n${note}`);
    console.log(formatTextReport(run, reference));
    if (run.format === 'rewardbench') {
      const o = run.overall;
      const acc = o.accuracy === null ? 'n/a' : `${(100 * o.accuracy).toFixed(1)}%`;
      console.log(`\naccuracy ${acc}: chosen scored above rejected in ${o.correct} of ${o.scored} rows; ${o.ties} tie(s), ${o.errors} row(s) not scored`);
    }
  }
  if (values.report) {
    const meta = { title: `Reward evaluation: ${run.format}`, model: run.model ?? '?', scorer: run.scorer, data: run.data, seconds: run.seconds, meaningless: run.meaningless };
    writeFileSync(values.report, markdownReport(run, meta, reference));
    if (!values.quiet) process.stderr.write(`eval: report written to ${values.report}\n`);
  }
  for (const e of run.refused.slice(0, 5)) process.stderr.write(`warning: ${e.place}: not scored: ${e.error}\n`);
  if (run.refused.length > 5) process.stderr.write(`warning: ${run.refused.length - 5} more row(s) not scored\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    const usage = err instanceof UsageError || err instanceof EvalDataError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`eval-reward: ${(err as Error).message ?? String(err)}\n`);
    if ((err instanceof UsageError && err.showUsage) || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) process.stderr.write(`\n${USAGE}\n`);
    process.exit(usage ? 2 : 1);
  });
}
