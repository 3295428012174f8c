/**
 * The Hugging Face hub cache, laid out as Python's huggingface_hub lays it out, so that both share it:
 *
 * ```
 * <root>/models--{org}--{name}/     (datasets: datasets--{org}--{name}/, same inside)
 *   blobs/<etag>                  file contents; etag = sha256 (LFS files) or git blob sha1 (others)
 *   blobs/<etag>.incomplete       a download in progress (resumed with an HTTP Range request)
 *   snapshots/<commit>/<path>     symlinks to ../../blobs/<etag> (copies where symlinks fail)
 *   refs/<revision>               the commit hash a branch or tag resolved to at the last pull
 * ```
 *
 * Invariant kept by pull(): refs/<revision> is written only after every selected file of that commit is
 * in its snapshot folder, so a ref found here points at a complete snapshot.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { copyFile, lstat, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { PullError } from './errors.ts';

/** The kinds of hub repo pull() handles; the cache folder and API paths depend on it. */
export type RepoType = 'model' | 'dataset';

export const REPO_TYPES: readonly RepoType[] = ['model', 'dataset'];

/** `models--org--name` or `datasets--org--name`, as Python's huggingface_hub names a repo's cache folder. */
export function repoFolderName(repo: string, repoType: RepoType = 'model'): string {
  return `${repoType}s--${repo.split('/').join('--')}`;
}

/** A 40-hex git commit hash. */
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** org/name as the hub allows it: letters, digits, '-', '_', '.'; no '..', no leading punctuation. */
const REPO_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/** True when `s` has the shape of a hub model id (`org/name`). */
export function isHubRepoId(s: string): boolean {
  return REPO_ID_RE.test(s) && !s.includes('..') && !s.endsWith('.git');
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

/**
 * The cache root: `override` (--cache-dir), else HF_HUB_CACHE (or its old name HUGGINGFACE_HUB_CACHE),
 * else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub — the order
 * Python's huggingface_hub uses. Empty variables count as unset.
 */
export function hubCacheRoot(env: NodeJS.ProcessEnv = process.env, override?: string, cwd = process.cwd()): string {
  const pick = (...vals: Array<string | undefined>) => vals.find((v) => v !== undefined && v.trim() !== '');
  const direct = pick(override, env.HF_HUB_CACHE, env.HUGGINGFACE_HUB_CACHE);
  if (direct) return resolve(cwd, expandHome(direct));
  const home = pick(env.HF_HOME);
  if (home) return resolve(cwd, expandHome(home), 'hub');
  const xdg = pick(env.XDG_CACHE_HOME);
  return resolve(cwd, xdg ? expandHome(xdg) : join(homedir(), '.cache'), 'huggingface', 'hub');
}

/** The folder of one repo in the cache: `<root>/models--org--name` (datasets: `<root>/datasets--org--name`). */
export function repoCacheDir(cacheRoot: string, repo: string, repoType: RepoType = 'model'): string {
  return join(cacheRoot, repoFolderName(repo, repoType));
}

/** The commit a revision points to in the cache (a commit hash is its own), or undefined. */
export function readRef(repoDir: string, revision: string): string | undefined {
  if (COMMIT_RE.test(revision)) return revision;
  const refPath = join(repoDir, 'refs', revision);
  if (!existsSync(refPath)) return undefined;
  const commit = readFileSync(refPath, 'utf8').trim();
  return COMMIT_RE.test(commit) ? commit : undefined;
}

/** Records that `revision` resolved to `commit` (nothing to record when the revision is the commit). */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const refPath = join(repoDir, 'refs', revision);
  await mkdir(dirname(refPath), { recursive: true });
  await writeFile(refPath, commit);
}

/**
 * The snapshot folder of `repo` at `revision` in the cache, when present (refs/<revision> → commit →
 * snapshots/<commit>). Reads the file system only; never reaches the network.
 */
export function cachedSnapshot(cacheRoot: string, repo: string, revision = 'main', repoType: RepoType = 'model'): string | undefined {
  const repoDir = repoCacheDir(cacheRoot, repo, repoType);
  const commit = readRef(repoDir, revision);
  if (!commit) return undefined;
  const dir = join(repoDir, 'snapshots', commit);
  return existsSync(dir) ? dir : undefined;
}

/**
 * Makes `linkPath` name the blob: a relative symlink (the cache can move), or a copy where the file
 * system refuses symlinks. Replaces whatever was there.
 */
export async function linkBlob(blobPath: string, linkPath: string): Promise<'symlink' | 'copy'> {
  await mkdir(dirname(linkPath), { recursive: true });
  await rm(linkPath, { force: true });
  try {
    await symlink(relative(dirname(linkPath), blobPath), linkPath);
    return 'symlink';
  } catch {
    await copyFile(blobPath, linkPath);
    return 'copy';
  }
}

/** True when something (a file, or a symlink even if broken) is at `p`. */
export async function pathPresent(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes an exclusive lock on one blob download so two pulls never append to the same `.incomplete`
 * file. The lock file holds the owner's pid; a lock whose owner is gone is taken over.
 * @returns the release function
 * @throws PullError('locked') while another live process holds it
 */
export function lockBlob(cacheRoot: string, repo: string, etag: string, repoType: RepoType = 'model'): () => void {
  const lockPath = join(cacheRoot, '.locks', repoFolderName(repo, repoType), `${etag}.node-pull.lock`);
  // Synchronous, so the lock is held before any async work starts.
  mkdirSync(dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new PullError('locked', `another pull (process ${owner}) is downloading this file; wait for it, or stop it and retry`);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new PullError('locked', `cannot take the download lock ${lockPath}`);
}
