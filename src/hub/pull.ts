/**
 * pull(): one model or dataset repo from the Hugging Face Hub into the shared hub cache (layout in cache.ts).
 *
 * Hub paths, as Python's huggingface_hub uses them (a dataset's have a `datasets` segment):
 *   model:   /api/models/{id}/revision/{rev}    /api/models/{id}/tree/{rev}    /{id}/resolve/{rev}/{path}
 *   dataset: /api/datasets/{id}/revision/{rev}  /api/datasets/{id}/tree/{rev}  /datasets/{id}/resolve/{rev}/{path}
 * and the cache folder is `models--org--name` or `datasets--org--name`.
 *
 * Steps: modelInfo / datasetInfo (revision → commit, gated?) → listFiles (every file of that commit with its size and
 * hash) → select (--include) → free-space check → for each file not yet in `blobs/`: fileDownloadInfo
 * (where to GET it, its size) then downloadBlob (Range resume, sha256 / git-sha1 check) → link it into
 * `snapshots/<commit>/` → write `refs/<revision>` last.
 *
 * @huggingface/hub provides the hub API calls (modelInfo, listFiles, fileDownloadInfo). The bytes are
 * fetched here with fetch: the library's downloadFile() returns a Blob whose stream() turns HTTP errors
 * into bare strings and does not check that a ranged request got a 206 from the right offset, and
 * snapshotDownload() has no resume, no progress and no verification — all needed here.
 */
import { datasetInfo, fileDownloadInfo, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { existsSync } from 'node:fs';
import { mkdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { COMMIT_RE, isHubRepoId, linkBlob, lockBlob, REPO_TYPES, repoCacheDir, writeRef, type RepoType } from './cache.ts';
import { downloadBlob, type ExpectedBlob } from './download.ts';
import { diskFullError, errorCode, hubError, PullError, repoPage, type HubErrorContext } from './errors.ts';
import { SILENT_PROGRESS, type PullProgress } from './progress.ts';

/** The public hub (HF_ENDPOINT overrides it). */
export const DEFAULT_HUB_URL = 'https://huggingface.co';

export interface PullOptions {
  /** org/name */
  repo: string;
  /** 'model' (default) or 'dataset'. */
  repoType?: RepoType;
  /** Branch, tag or commit; default 'main'. */
  revision?: string;
  /** fnmatch-style patterns (`*` also matches '/'); when given, only matching files (plus a model's root metadata). */
  include?: string[];
  /** Cache root (see hubCacheRoot()). */
  cacheDir: string;
  /** Hub address; default https://huggingface.co. */
  hubUrl?: string;
  /** Access token (starts with hf_). */
  token?: string;
  /** Resumes per file after a dropped connection within this call (default 5). */
  retries?: number;
  /** First retry delay, doubled each time (default 1000 ms). */
  retryDelayMs?: number;
  progress?: PullProgress;
  /** fetch for every request (tests may wrap it). */
  fetch?: typeof fetch;
  /** Free bytes at a folder (default: statfs); tests replace it to imitate a full disk. */
  freeBytes?: (dir: string) => Promise<number | undefined>;
}

/** One file of the pulled snapshot. */
export interface PulledFile {
  path: string;
  size: number;
  /** Blob file name: sha256 for LFS files, git blob sha1 for the others. */
  etag: string;
  /** 'cached': the blob was already complete; 'downloaded': fetched from zero; 'resumed': a partial file was continued. */
  status: 'cached' | 'downloaded' | 'resumed';
  rangeRequests: number;
  /** Bytes of this file received over the network in this pull. */
  receivedBytes: number;
}

export interface PullResult {
  repo: string;
  repoType: RepoType;
  revision: string;
  commit: string;
  /** snapshots/<commit>: the folder to serve. */
  snapshotDir: string;
  files: PulledFile[];
  /** Bytes received over the network. */
  downloadedBytes: number;
}

/** Root files that come along with any --include selection of a model: it cannot load without them (datasets: none). */
const ROOT_METADATA = [/\.json$/, /\.jinja$/, /^tokenizer\.model$/];

/** fnmatch → RegExp: `*` any run (slashes too, as Python's fnmatch), `?` one character, `[...]` a class. */
export function globToRegExp(pattern: string): RegExp {
  const p = pattern.endsWith('/') ? `${pattern}*` : pattern;
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[' && p.indexOf(']', i + 1) > i + 1) {
      const end = p.indexOf(']', i + 1);
      const body = p.slice(i + 1, end).replace(/\\/g, '\\\\');
      re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a repo file is selected by the include patterns (none: every file). A model's root metadata
 * always comes along; a dataset's root *.json may be data, so a dataset takes only what matches.
 */
export function selectedByInclude(path: string, include: readonly string[] | undefined, repoType: RepoType = 'model'): boolean {
  if (!include || include.length === 0) return true;
  if (repoType === 'model' && !path.includes('/') && ROOT_METADATA.some((r) => r.test(path))) return true;
  return include.some((g) => globToRegExp(g).test(path));
}

function checkRelativePath(path: string): void {
  const parts = path.split('/');
  if (path.startsWith('/') || path.includes('\\') || parts.some((p) => p === '..' || p === '.' || p === '')) {
    throw new PullError('hub', `the hub listed an unsafe file path '${path}'; refusing to write it`);
  }
}

/** What the listing says each selected file must be. */
function expectedOf(entry: ListFileEntry): ExpectedBlob {
  if (entry.lfs) return { path: entry.path, size: entry.lfs.size, hashKind: 'sha256', hash: entry.lfs.oid };
  if (!entry.oid) throw new PullError('hub', `the hub listed ${entry.path} without a hash`);
  return { path: entry.path, size: entry.size, hashKind: 'git-sha1', hash: entry.oid };
}

async function defaultFreeBytes(dir: string): Promise<number | undefined> {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  try {
    const s = await statfs(d);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

async function sizeOrZero(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
}

/** A fetch that remembers the X-Error-Code header of failed answers (the library keeps only the status). */
function trackingFetch(base: typeof fetch, codes: Map<string, string>): typeof fetch {
  return async (input, init) => {
    const res = await base(input, init);
    const code = res.ok ? null : res.headers.get('x-error-code');
    if (code) codes.set(res.url || String(input), code);
    return res;
  };
}

function validate(opts: PullOptions): { revision: string; repoType: RepoType } {
  const repoType = opts.repoType ?? 'model';
  if (!REPO_TYPES.includes(repoType)) {
    throw new PullError('bad_input', `'${String(repoType)}' is not a repo type: give ${REPO_TYPES.join(' or ')}`);
  }
  if (!isHubRepoId(opts.repo)) {
    const example = repoType === 'dataset' ? 'allenai/reward-bench' : 'nvidia/Llama-3.1-Nemotron-70B-Instruct-HF';
    throw new PullError('bad_input', `'${opts.repo}' is not a ${repoType} id: expected org/name, e.g. ${example}`);
  }
  const revision = opts.revision ?? 'main';
  if (!/^[\w.\-/]+$/.test(revision) || revision.split('/').some((p) => p === '..' || p === '')) {
    throw new PullError('bad_input', `'${revision}' is not a revision: give a branch, tag or commit hash`);
  }
  return { revision, repoType };
}

/** Asks the hub which commit `revision` is and lists that commit's files. */
async function listCommit(
  opts: PullOptions,
  revision: string,
  repoType: RepoType,
  common: { hubUrl: string; accessToken?: string; fetch: typeof fetch },
): Promise<{ commit: string; entries: ListFileEntry[] }> {
  const info: { sha?: string; gated?: unknown } =
    repoType === 'dataset'
      ? await datasetInfo({ ...common, name: opts.repo, revision, additionalFields: ['sha'] })
      : await modelInfo({ ...common, name: opts.repo, revision, additionalFields: ['sha'] });
  if (!info.sha || !COMMIT_RE.test(info.sha)) throw new PullError('hub', `${common.hubUrl} gave no commit hash for ${opts.repo}@${revision}`);
  // Gated models list their files to anyone; only downloads need the token. Say so before downloading.
  if (info.gated && !opts.token) {
    throw new PullError(
      'auth_required',
      `${opts.repo} is gated: accept its conditions at ${repoPage(common.hubUrl, opts.repo, repoType)}, then set HF_TOKEN to an access token ` +
        `of that account (https://huggingface.co/settings/tokens) and run the pull again`,
    );
  }
  const entries: ListFileEntry[] = [];
  for await (const e of listFiles({ ...common, repo: { type: repoType, name: opts.repo }, recursive: true, revision: info.sha })) {
    if (e.type === 'file') entries.push(e);
  }
  return { commit: info.sha, entries };
}

/** One selected file: what it must be, where it goes, and what the cache already has of it. */
interface PlannedFile {
  expected: ExpectedBlob;
  blobPath: string;
  linkPath: string;
  /** blobs/<etag> is there with the listed size. */
  complete: boolean;
  /** Bytes of blobs/<etag>.incomplete (0 when none). */
  partial: number;
}

async function planFiles(entries: ListFileEntry[], repoDir: string, snapshotDir: string): Promise<PlannedFile[]> {
  return Promise.all(
    entries.map(async (e) => {
      checkRelativePath(e.path);
      const expected = expectedOf(e);
      const blobPath = join(repoDir, 'blobs', expected.hash);
      const complete = existsSync(blobPath) && (await sizeOrZero(blobPath)) === expected.size;
      const partial = complete ? 0 : Math.min(await sizeOrZero(`${blobPath}.incomplete`), expected.size);
      return { expected, blobPath, linkPath: join(snapshotDir, ...e.path.split('/')), complete, partial };
    }),
  );
}

/**
 * Downloads `repo` at `revision` into the cache and returns its snapshot folder. Files already complete
 * in `blobs/` are not fetched again; partial ones are resumed.
 * @throws PullError (see PullErrorKind) with a message meant for the user
 */
export async function pull(opts: PullOptions): Promise<PullResult> {
  try {
    return await pullInto(opts);
  } catch (err) {
    if (!(err instanceof PullError) && errorCode(err) === 'ENOSPC') {
      throw new PullError('disk_full', `the disk is full (ENOSPC) under ${opts.cacheDir}: free some space or pull into another cache with --cache-dir; the next pull resumes`, { cause: err });
    }
    throw err;
  }
}

/** What every hub call of one pull shares. */
interface PullContext {
  opts: PullOptions;
  repoType: RepoType;
  commit: string;
  common: { hubUrl: string; accessToken?: string; fetch: typeof fetch };
  errors: HubErrorContext;
  progress: PullProgress;
}

/** The listed files --include selects; an include that matches nothing is an error, not an empty model. */
function selectEntries(all: ListFileEntry[], opts: PullOptions, revision: string, repoType: RepoType): ListFileEntry[] {
  const include = opts.include ?? [];
  const entries = all.filter((e) => selectedByInclude(e.path, include, repoType));
  const matched = include.length === 0 || all.some((e) => include.some((g) => globToRegExp(g).test(e.path)));
  if (entries.length === 0 || !matched) {
    throw new PullError('not_found', `no file of ${opts.repo}@${revision} matches --include ${include.join(' ')}`);
  }
  return entries;
}

/** Makes one planned file complete in blobs/ (downloading or resuming it) and links it into the snapshot. */
async function fetchPlanned(p: PlannedFile, c: PullContext): Promise<PulledFile> {
  const { expected } = p;
  const file: PulledFile = { path: expected.path, size: expected.size, etag: expected.hash, status: 'cached', rangeRequests: 0, receivedBytes: 0 };
  if (!p.complete) {
    const release = lockBlob(c.opts.cacheDir, c.opts.repo, expected.hash, c.repoType);
    try {
      const url = await downloadUrl(expected, c.commit, c.repoType, { ...c.common, repo: c.opts.repo }, c.errors);
      const outcome = await downloadBlob({
        expected,
        blobPath: p.blobPath,
        url,
        // fetch drops Authorization when the hub redirects to another origin (its CDN).
        headers: c.opts.token ? { Authorization: `Bearer ${c.opts.token}` } : {},
        fetch: c.common.fetch,
        progress: c.progress,
        retries: c.opts.retries ?? 5,
        retryDelayMs: c.opts.retryDelayMs ?? 1000,
      });
      file.status = outcome.resumedFrom > 0 ? 'resumed' : 'downloaded';
      file.rangeRequests = outcome.rangeRequests;
      file.receivedBytes = outcome.receivedBytes;
    } catch (err) {
      throw hubError(err, { ...c.errors, path: expected.path });
    } finally {
      release();
    }
    c.progress.fileDone(expected.path);
  }
  if ((await sizeOrZero(p.linkPath)) !== expected.size) await linkBlob(p.blobPath, p.linkPath);
  return file;
}

async function pullInto(opts: PullOptions): Promise<PullResult> {
  const { revision, repoType } = validate(opts);
  const hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
  const codes = new Map<string, string>();
  const common = { hubUrl, accessToken: opts.token, fetch: trackingFetch(opts.fetch ?? fetch, codes) };
  const errors: HubErrorContext = { repo: opts.repo, revision, hubUrl, hasToken: !!opts.token, errorCodes: codes, repoType };
  const repoDir = repoCacheDir(opts.cacheDir, opts.repo, repoType);

  let listed: { commit: string; entries: ListFileEntry[] };
  try {
    listed = await listCommit(opts, revision, repoType, common);
  } catch (err) {
    throw hubError(err, errors);
  }
  const { commit } = listed;
  const snapshotDir = join(repoDir, 'snapshots', commit);
  const plan = await planFiles(selectEntries(listed.entries, opts, revision, repoType), repoDir, snapshotDir);
  const total = plan.reduce((n, p) => n + p.expected.size, 0);
  const present = plan.reduce((n, p) => n + (p.complete ? p.expected.size : p.partial), 0);
  const free = await (opts.freeBytes ?? defaultFreeBytes)(repoDir);
  if (free !== undefined && total - present > free) throw diskFullError(repoDir, total - present, free);

  await mkdir(join(repoDir, 'blobs'), { recursive: true });
  const c: PullContext = { opts, repoType, commit, common, errors, progress: opts.progress ?? SILENT_PROGRESS };
  c.progress.start(total, present, plan.length);
  const files: PulledFile[] = [];
  try {
    for (const p of plan) files.push(await fetchPlanned(p, c));
  } finally {
    c.progress.finish();
  }
  // Last, so that a ref in the cache always names a complete snapshot.
  await writeRef(repoDir, revision, commit);
  const downloadedBytes = files.reduce((n, f) => n + f.receivedBytes, 0);
  return { repo: opts.repo, repoType, revision, commit, snapshotDir, files, downloadedBytes };
}

/**
 * The URL to GET a file from, after fileDownloadInfo (which follows the hub's redirect) confirmed that it
 * exists with the listed size. Every request goes to the resolve URL rather than to where it redirected
 * once: CDN links are signed and expire, and a resume may come hours later.
 */
async function downloadUrl(
  expected: ExpectedBlob,
  commit: string,
  repoType: RepoType,
  common: { repo: string; hubUrl: string; accessToken?: string; fetch: typeof fetch },
  ctx: HubErrorContext,
): Promise<string> {
  // Models: {hub}/{id}/resolve/…; datasets: {hub}/datasets/{id}/resolve/… (as fileDownloadInfo builds it).
  const resolveUrl = `${repoPage(common.hubUrl, common.repo, repoType)}/resolve/${commit}/${expected.path.split('/').map(encodeURIComponent).join('/')}`;
  // An empty file has no byte 0 to probe; its hash is checked all the same.
  if (expected.size === 0) return resolveUrl;
  const info = await fileDownloadInfo({ ...common, repo: { type: repoType, name: common.repo }, path: expected.path, revision: commit });
  if (!info) throw new PullError('not_found', `${expected.path} is listed in ${ctx.repo} but cannot be downloaded (HTTP 404)`);
  if (info.size !== expected.size) {
    throw new PullError('integrity', `${expected.path}: the hub lists ${expected.size} bytes but serves ${info.size}`);
  }
  return resolveUrl;
}
