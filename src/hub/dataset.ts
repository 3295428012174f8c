/**
 * Finding a pulled dataset in the hub cache, for commands that read one (the reward evaluation):
 * `resolveCachedDataset('allenai/reward-bench', { split: 'filtered' })` → the snapshot folder and the data
 * files of that split. Reads the file system only; never reaches the network. A dataset gets into the
 * cache with `npm run pull -- --repo-type dataset org/name` (datasets--org--name/, layout in cache.ts).
 *
 * Which files belong to a split, in the common layouts of hub datasets:
 *   data/{split}-00000-of-00001.parquet   {split}.jsonl   {split}/0000.parquet   data/{split}.csv
 *   {config}/{split}/*.parquet            filtered.jsonl (a single data file: split "filtered")
 * A file's split is its name without extensions and shard suffix (-00000-of-00003, -0001, _2), or, when
 * nothing but digits remains, its folder's name. Given a split, the files whose split is that name or
 * that lie in a folder of that name are taken; failing those, files naming it between separators
 * (`*[-._ 0-9/]{split}[-._ 0-9]*`, as the `datasets` library matches). When one split is in several formats
 * (filtered.jsonl and data/filtered-*.parquet), only the preferred format is returned (parquet, arrow,
 * jsonl, json, csv, tsv), so that no example is read twice.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hubCacheRoot, isHubRepoId, readRef, repoCacheDir } from './cache.ts';

export interface ResolveDatasetOptions {
  /** Branch, tag or commit the dataset was pulled at [default: main]. */
  revision?: string;
  /** Cache root [default: hubCacheRoot(env): HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub]. */
  cacheDir?: string;
  /** Split name (e.g. 'filtered', 'test'); omitted: the dataset's only split. */
  split?: string;
  /** Environment read for the default cache root [default: process.env]. */
  env?: NodeJS.ProcessEnv;
}

export interface CachedDataset {
  /** The snapshot folder: <cache>/datasets--org--name/snapshots/<commit>. */
  dir: string;
  /** Absolute paths of the split's data files (inside `dir`), sorted, so shards come in order. */
  files: string[];
  /** The split the files belong to (the one asked for, or the only one found). */
  split: string;
  /** Commit of the snapshot. */
  commit: string;
}

/** Why a cached dataset could not be resolved. */
export type CachedDatasetErrorKind = 'bad_input' | 'not_cached' | 'no_data_files' | 'split_not_found' | 'ambiguous_split';

export class CachedDatasetError extends Error {
  override name = 'CachedDatasetError';
  constructor(
    readonly kind: CachedDatasetErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** Data file extensions, most preferred first (a split present in several formats gets the first). */
const FORMATS = ['parquet', 'arrow', 'jsonl', 'ndjson', 'json', 'csv', 'tsv'] as const;
const DATA_FILE_RE = new RegExp(`\\.(${FORMATS.join('|')})(\\.(gz|bz2|xz|zst))?$`, 'i');
/** Metadata that `datasets` writes next to data, in data formats. */
const NOT_DATA = new Set(['dataset_infos.json', 'dataset_info.json', 'dataset_dict.json', 'state.json']);

/** Relative paths ('/'-separated) of every file under `dir`, following the snapshot's symlinks. */
function listFilesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const full = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const s = statSync(full);
        isDir = s.isDirectory();
        isFile = s.isFile();
      } catch {
        continue; // a broken link: its blob is gone
      }
    }
    if (isDir) out.push(...listFilesUnder(full, rel));
    else if (isFile) out.push(rel);
  }
  return out;
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The format of a data file: its data extension, lower case ('jsonl' for foo.jsonl.gz). */
function formatOf(path: string): string {
  return (DATA_FILE_RE.exec(path)?.[1] ?? '').toLowerCase();
}

/** True for a file that holds examples (by extension), not dataset metadata. */
export function isDataFile(path: string): boolean {
  return DATA_FILE_RE.test(path) && !NOT_DATA.has(baseName(path));
}

/**
 * The split a data file belongs to by its name: `data/train-00000-of-00002.parquet` → train,
 * `filtered.jsonl` → filtered, `test/0000.parquet` → test.
 */
export function splitOfFile(path: string): string {
  const segs = path.split('/');
  let stem = segs[segs.length - 1]!.replace(DATA_FILE_RE, '');
  stem = stem.replace(/[-_.]\d+-of-\d+$/, '').replace(/[-_]\d+$/, '');
  if (stem === '' || /^\d+$/.test(stem)) return segs.length > 1 ? segs[segs.length - 2]! : stem;
  return stem;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The data files of `split`: by file split or folder name, else by the name between separators. */
function filesOfSplit(dataFiles: string[], split: string): string[] {
  const exact = dataFiles.filter((p) => splitOfFile(p) === split || p.split('/').slice(0, -1).includes(split));
  if (exact.length > 0) return exact;
  const loose = new RegExp(`(^|[-._ 0-9/])${escapeRe(split)}([-._ 0-9/]|$)`);
  return dataFiles.filter((p) => loose.test(p.replace(DATA_FILE_RE, '')));
}

/** Keeps the files of the most preferred format present. */
function preferredFormat(files: string[]): string[] {
  for (const f of FORMATS) {
    const of = files.filter((p) => formatOf(p) === f);
    if (of.length > 0) return of;
  }
  return files;
}

/** The command that puts the dataset in the cache. */
export function pullDatasetCommand(id: string, revision: string, cacheDir?: string): string {
  const rev = revision === 'main' ? '' : ` --revision ${revision}`;
  const cache = cacheDir ? ` --cache-dir ${cacheDir}` : '';
  return `npm run pull -- --repo-type dataset ${id}${rev}${cache}`;
}

/**
 * The cached snapshot of dataset `id` (org/name) and the data files of one split. No network access.
 * @throws CachedDatasetError: 'not_cached' (with the pull command to run), 'split_not_found' and
 *   'ambiguous_split' (naming the splits found), 'no_data_files', 'bad_input'
 */
export function resolveCachedDataset(id: string, opts: ResolveDatasetOptions = {}): CachedDataset {
  if (!isHubRepoId(id)) {
    throw new CachedDatasetError('bad_input', `'${id}' is not a dataset id: expected org/name, e.g. allenai/reward-bench`);
  }
  const revision = opts.revision ?? 'main';
  const cacheDir = hubCacheRoot(opts.env ?? process.env, opts.cacheDir);
  const repoDir = repoCacheDir(cacheDir, id, 'dataset');
  const commit = /^[\w.\-/]+$/.test(revision) && !revision.split('/').includes('..') ? readRef(repoDir, revision) : undefined;
  const dir = commit ? join(repoDir, 'snapshots', commit) : undefined;
  if (!commit || !dir || !existsSync(dir)) {
    const at = revision === 'main' ? '' : ` at revision ${revision}`;
    throw new CachedDatasetError(
      'not_cached',
      `dataset ${id}${at} is not in the Hugging Face cache (${repoDir}). ` +
        `Download it first with: ${pullDatasetCommand(id, revision, opts.cacheDir === undefined ? undefined : cacheDir)}`,
    );
  }
  const dataFiles = listFilesUnder(dir).filter(isDataFile).sort();
  if (dataFiles.length === 0) {
    throw new CachedDatasetError(
      'no_data_files',
      `dataset ${id} in ${dir} has no data files (${FORMATS.join(', ')}); if it was pulled with --include, pull its data files too`,
    );
  }
  const splits = [...new Set(dataFiles.map(splitOfFile))].sort();
  let split = opts.split;
  let files: string[];
  if (split === undefined) {
    if (splits.length !== 1) {
      throw new CachedDatasetError('ambiguous_split', `dataset ${id} has several splits (${splits.join(', ')}); name the one to use`);
    }
    split = splits[0]!;
    files = dataFiles;
  } else {
    files = filesOfSplit(dataFiles, split);
    if (files.length === 0) {
      throw new CachedDatasetError('split_not_found', `dataset ${id} has no split '${split}' in the cache; its splits: ${splits.join(', ')}`);
    }
  }
  return { dir, files: preferredFormat(files).map((p) => join(dir, ...p.split('/'))), split, commit };
}
