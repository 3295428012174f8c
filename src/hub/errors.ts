/**
 * One error type for everything a pull can fail on, with a message that tells the user what to do.
 * HubApiError (from @huggingface/hub) and file-system errors are mapped here, nowhere else.
 */
import { HubApiError } from '@huggingface/hub';
import type { RepoType } from './cache.ts';

/** What went wrong, for callers that branch on it (the CLI's exit code, tests). */
export type PullErrorKind =
  | 'bad_input' // a malformed repo id, revision, token or flag
  | 'not_found' // repo, revision or file missing (404, or 401 RepoNotFound when anonymous)
  | 'auth_required' // 401: gated or private and no (valid) token
  | 'forbidden' // 403: the token has no access (gated and not accepted, or a fine-grained token)
  | 'disk_full' // ENOSPC, or the free-space check before downloading
  | 'integrity' // size or hash of a downloaded file differs from the hub's listing
  | 'network' // connection lost or refused, after the retries
  | 'locked' // another live process downloads the same blob
  | 'hub'; // any other hub answer

/** A pull failed; `message` says why and what to do. */
export class PullError extends Error {
  override name = 'PullError';
  constructor(
    readonly kind: PullErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Context used to word hub errors. */
export interface HubErrorContext {
  repo: string;
  revision: string;
  hubUrl: string;
  hasToken: boolean;
  /** X-Error-Code header of failed responses, by response URL (the library drops headers). */
  errorCodes: Map<string, string>;
  /** The file being fetched, when the error came from a file request. */
  path?: string;
  /** 'model' (default) or 'dataset': words the messages and the repo's page address. */
  repoType?: RepoType;
}

/** The repo's page on the hub: `{hub}/org/name` for a model, `{hub}/datasets/org/name` for a dataset. */
export function repoPage(hubUrl: string, repo: string, repoType: RepoType = 'model'): string {
  return `${hubUrl}/${repoType === 'model' ? '' : `${repoType}s/`}${repo}`;
}

/** Maps an error thrown by @huggingface/hub (or fetch) to a PullError; other errors pass through. */
export function hubError(err: unknown, ctx: HubErrorContext): unknown {
  if (err instanceof PullError) return err;
  if (err instanceof TypeError && /access token must start with/.test(err.message)) {
    return new PullError('bad_input', 'HF_TOKEN must be a Hugging Face access token (it starts with "hf_")', { cause: err });
  }
  if (!(err instanceof HubApiError)) {
    if (isNetworkError(err)) {
      return new PullError('network', `cannot reach ${ctx.hubUrl}: ${describeNetworkError(err)} (set HF_ENDPOINT for a mirror)`, {
        cause: err,
      });
    }
    return err;
  }
  const code = ctx.errorCodes.get(err.url) ?? '';
  const kind = ctx.repoType ?? 'model';
  const page = repoPage(ctx.hubUrl, ctx.repo, kind);
  const what = ctx.path ? `${ctx.path} in ${ctx.repo}` : ctx.repo;
  switch (err.statusCode) {
    case 404:
      if (code === 'RevisionNotFound') {
        return new PullError('not_found', `revision '${ctx.revision}' of ${ctx.repo} was not found (HTTP 404)`, { cause: err });
      }
      if (code === 'EntryNotFound') return new PullError('not_found', `${what} was not found (HTTP 404)`, { cause: err });
      return new PullError(
        'not_found',
        `${kind} ${ctx.repo} was not found on ${ctx.hubUrl} (HTTP 404): check the name (org/name, as on its page)`,
        { cause: err },
      );
    case 401:
      if (ctx.hasToken) {
        return new PullError('auth_required', `HF_TOKEN was refused by ${ctx.hubUrl} (HTTP 401): it is invalid or expired`, { cause: err });
      }
      if (code === 'GatedRepo') {
        return new PullError(
          'auth_required',
          `${ctx.repo} is gated (HTTP 401): accept its conditions at ${page}, then set HF_TOKEN to an access ` +
            `token of that account (https://huggingface.co/settings/tokens) and run the pull again`,
          { cause: err },
        );
      }
      return new PullError(
        'auth_required',
        `${ctx.repo} needs authentication (HTTP 401): it is private or gated, or does not exist. ` +
          `Check the name; if it is private or gated, set HF_TOKEN to an access token with read access`,
        { cause: err },
      );
    case 403:
      return new PullError(
        'forbidden',
        `HF_TOKEN has no access to ${what} (HTTP 403): for a gated ${kind}, request access at ${page}; ` +
          `for a fine-grained token, give it read access to this repository`,
        { cause: err },
      );
    default:
      return new PullError('hub', `${ctx.hubUrl} answered HTTP ${err.statusCode} for ${what}: ${err.message}`, { cause: err });
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** The error code of an error or of its cause chain (fetch wraps socket errors in `cause`). */
export function errorCode(err: unknown): string | undefined {
  for (let e: any = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** True for a lost or refused connection (fetch's "fetch failed" / "terminated" and socket errors). */
export function isNetworkError(err: unknown): boolean {
  const code = errorCode(err);
  if (code && NETWORK_CODES.has(code)) return true;
  return err instanceof TypeError && (err.message === 'fetch failed' || err.message === 'terminated');
}

function describeNetworkError(err: unknown): string {
  const code = errorCode(err);
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return [code, cause ?? (err as Error)?.message].filter(Boolean).join(' ');
}

/** A user-facing size: 1.5 GB, 812 MB, 4.0 kB (decimal units, as the hub shows sizes). */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** The disk-full error: how much was needed and where, and that the next pull resumes. */
export function diskFullError(dir: string, needed: number, free: number | undefined, cause?: unknown): PullError {
  const freeText = free === undefined ? '' : `, ${formatBytes(free)} free`;
  return new PullError(
    'disk_full',
    `not enough disk space in ${dir}: ${formatBytes(needed)} more needed${freeText}. Free some space or pull into ` +
      `another cache with --cache-dir (or HF_HUB_CACHE); partial files are kept and the next pull resumes them`,
    { cause },
  );
}
