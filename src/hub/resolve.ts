/**
 * What `--model X` names: a local folder, or a hub model `org/name` served from the hub cache.
 * Resolution reads the file system only; serving never downloads unless --pull is given (main.ts).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { cachedSnapshot, hubCacheRoot, isHubRepoId, repoCacheDir } from './cache.ts';

/** A hub model named on the command line. */
export interface HubModelRef {
  /** org/name */
  repo: string;
  revision: string;
  /** Cache root it is looked up in (and pulled into). */
  cacheDir: string;
  /** snapshots/<commit> when the cache has it, else undefined. */
  snapshotDir?: string;
}

export type ModelSource = { kind: 'local'; dir: string } | ({ kind: 'hub' } & HubModelRef);

export interface ResolveOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** --cache-dir */
  cacheDir?: string;
  /** --revision (for a hub model; default main) */
  revision?: string;
}

/**
 * An existing path is a local folder; otherwise a value shaped like `org/name` is a hub model; anything
 * else is a local folder that does not exist (the loader says so).
 */
export function resolveModelSource(value: string, opts: ResolveOptions): ModelSource {
  const local = resolve(opts.cwd, value);
  if (existsSync(local) || !isHubRepoId(value)) return { kind: 'local', dir: local };
  const cacheDir = hubCacheRoot(opts.env, opts.cacheDir, opts.cwd);
  const revision = opts.revision ?? 'main';
  return { kind: 'hub', repo: value, revision, cacheDir, snapshotDir: cachedSnapshot(cacheDir, value, revision) };
}

/** The error shown when a hub model is not in the cache and --pull was not given. */
export function notCachedMessage(ref: HubModelRef, flag = '--model'): string {
  const rev = ref.revision === 'main' ? '' : ` --revision ${ref.revision}`;
  const cache = ` --cache-dir ${ref.cacheDir}`;
  return (
    `${flag} ${ref.repo}: no local folder of that name, and the model is not in the Hugging Face cache ` +
    `(${repoCacheDir(ref.cacheDir, ref.repo)}${ref.revision === 'main' ? '' : ` at revision ${ref.revision}`}). ` +
    `Download it first with: npm run pull -- ${ref.repo}${rev}${cache}   (or start the server with --pull)`
  );
}
