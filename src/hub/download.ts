/**
 * Downloads one file into `blobs/<etag>` with resume and verification.
 *
 * States of one blob: absent → `.incomplete` (growing; survives a crash or a dropped connection) →
 * verified → renamed to `blobs/<etag>`. A later attempt (in this run after a retry, or the next run)
 * reads the `.incomplete` file's length, hashes what is there, and asks for the rest with
 * `Range: bytes=<length>-`. A server that answers 200 instead of 206 restarts the file from zero.
 * A file whose size or hash differs from the hub's listing is deleted, never renamed into place.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { diskFullError, errorCode, formatBytes, isNetworkError, PullError } from './errors.ts';
import type { PullProgress } from './progress.ts';

/** What the hub's listing says a file must be. */
export interface ExpectedBlob {
  /** Path in the repo, for messages. */
  path: string;
  size: number;
  /** 'sha256' for LFS files (the listing's lfs.oid), 'git-sha1' for the others (the git blob oid). */
  hashKind: 'sha256' | 'git-sha1';
  /** Expected hex digest; also the blob's file name. */
  hash: string;
}

export interface BlobDownload {
  expected: ExpectedBlob;
  /** Final path `blobs/<etag>`; the download goes to `<blobPath>.incomplete`. */
  blobPath: string;
  /** Where to GET the bytes (the resolve URL, or where the hub redirected it). */
  url: string;
  /** Headers for every request (Authorization when the URL is the hub's). */
  headers: Record<string, string>;
  fetch: typeof fetch;
  progress: PullProgress;
  /** How many times a dropped connection is resumed within this call. */
  retries: number;
  retryDelayMs: number;
}

/** How the blob came to be complete. */
export interface BlobOutcome {
  /** Byte offset the first request of this call started at (> 0: resumed a partial file). */
  resumedFrom: number;
  /** Bytes received over the network in this call. */
  receivedBytes: number;
  /** Range requests made (each resume makes one). */
  rangeRequests: number;
}

/** A new hash of the kind the listing uses; git blobs hash "blob <size>\0" first. */
export function newHash(kind: ExpectedBlob['hashKind'], size: number): Hash {
  if (kind === 'sha256') return createHash('sha256');
  return createHash('sha1').update(`blob ${size}\0`);
}

/** Hashes an existing partial file into `hash`; returns its length. */
async function hashPrefix(path: string, hash: Hash): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    n += (chunk as Buffer).length;
  }
  return n;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Checks a 206 answer starts where asked; returns true if the server ignored the range (200). */
function checkRangeAnswer(res: Response, offset: number, size: number, path: string): boolean {
  if (offset === 0) return false;
  if (res.status === 200) return true;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  if (res.status !== 206 || !m || Number(m[1]) !== offset || (m[3] !== '*' && Number(m[3]) !== size)) {
    throw new PullError('integrity', `the server answered a resume of ${path} at byte ${offset} with HTTP ${res.status} ${res.headers.get('content-range') ?? ''}`);
  }
  return false;
}

/** Progress of one request: the offset it counts from and the bytes it received. */
interface Attempt {
  base: number;
  received: number;
}

/**
 * One request: appends the bytes from `offset` to the partial file, hashing them.
 * @returns the hash holding every byte of the partial file (a new one when the server ignored the range)
 */
async function fetchRest(d: BlobDownload, partial: string, attempt: Attempt, hashIn: Hash, outcome: BlobOutcome): Promise<Hash> {
  const { expected } = d;
  let hash = hashIn;
  const offset = attempt.base;
  const headers = { ...d.headers, ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) };
  if (offset > 0) outcome.rangeRequests++;
  const res = await d.fetch(d.url, { headers, redirect: 'follow' });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PullError('hub', `downloading ${expected.path} failed: HTTP ${res.status} from ${new URL(d.url).origin}`);
  }
  if (checkRangeAnswer(res, offset, expected.size, expected.path)) {
    // The range was ignored: the body is the whole file. Start over so bytes are not appended twice.
    d.progress.rewind(offset);
    d.progress.note(`the server ignored the resume request for ${expected.path}; downloading it from the start`);
    await truncate(partial, 0);
    attempt.base = 0;
    hash = newHash(expected.hashKind, expected.size);
  }
  let written = attempt.base;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      written += chunk.length;
      if (written > expected.size) {
        cb(new PullError('integrity', `${expected.path}: the server sent more than the listed ${expected.size} bytes`));
        return;
      }
      hash.update(chunk);
      attempt.received += chunk.length;
      outcome.receivedBytes += chunk.length;
      d.progress.advance(chunk.length);
      cb(null, chunk);
    },
  });
  const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  await pipeline(body, meter, createWriteStream(partial, { flags: attempt.base > 0 ? 'a' : 'w' }));
  return hash;
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Downloads (or resumes) one blob and verifies it; on success `blobPath` holds exactly the listed bytes.
 * @throws PullError: 'network' after the retries (the partial file is kept for the next run),
 *   'integrity' on a size or hash mismatch (the partial file is deleted), 'disk_full' on ENOSPC
 */
export async function downloadBlob(d: BlobDownload): Promise<BlobOutcome> {
  const { expected } = d;
  const partial = `${d.blobPath}.incomplete`;
  const outcome: BlobOutcome = { resumedFrom: -1, receivedBytes: 0, rangeRequests: 0 };
  let retriesLeft = d.retries;
  let restartedAfterMismatch = false;
  for (;;) {
    let offset = await sizeOf(partial);
    if (offset > expected.size) {
      await truncate(partial, 0);
      offset = 0;
    }
    let hash = newHash(expected.hashKind, expected.size);
    if (offset > 0) await hashPrefix(partial, hash);
    if (outcome.resumedFrom < 0) outcome.resumedFrom = offset;
    d.progress.file(expected.path, expected.size, offset);
    const attempt: Attempt = { base: offset, received: 0 };
    try {
      if (expected.size === 0) await writeFile(partial, '');
      else if (offset < expected.size) hash = await fetchRest(d, partial, attempt, hash, outcome);
    } catch (err) {
      const onDisk = await sizeOf(partial);
      // Bytes counted as they arrived but lost with the connection (buffered, never written).
      d.progress.rewind(attempt.base + attempt.received - onDisk);
      if (errorCode(err) === 'ENOSPC') throw diskFullError(d.blobPath, expected.size - onDisk, undefined, err);
      if (err instanceof PullError && err.kind === 'integrity') await rm(partial, { force: true });
      if (err instanceof PullError || !isNetworkError(err)) throw err;
      if (retriesLeft-- > 0) {
        const n = d.retries - retriesLeft;
        d.progress.note(`connection lost at ${formatBytes(onDisk)} of ${expected.path}; resuming (retry ${n} of ${d.retries})`);
        await delay(d.retryDelayMs * 2 ** (n - 1));
        continue;
      }
      throw new PullError(
        'network',
        `connection lost while downloading ${expected.path} (${formatBytes(onDisk)} of ${formatBytes(expected.size)} kept); ` +
          `run the same pull again to resume`,
        { cause: err },
      );
    }
    const got = await sizeOf(partial);
    const digest = hash.digest('hex');
    if (got === expected.size && digest === expected.hash) {
      await rename(partial, d.blobPath);
      return outcome;
    }
    await rm(partial, { force: true });
    // A resumed file may carry a bad prefix from an earlier run: try once more from zero.
    if (offset > 0 && !restartedAfterMismatch) {
      restartedAfterMismatch = true;
      d.progress.rewind(got);
      d.progress.note(`${expected.path} did not verify after resuming; downloading it again from the start`);
      continue;
    }
    throw new PullError(
      'integrity',
      `${expected.path} failed verification: got ${got} bytes with ${expected.hashKind} ${digest}, ` +
        `the hub lists ${expected.size} bytes with ${expected.hash}; the file was deleted, run the pull again`,
    );
  }
}
