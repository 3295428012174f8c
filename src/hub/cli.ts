/**
 * The `pull` command: `npm run pull -- <org/name> [flags]` (scripts/pull.ts) and `npm start -- pull …`
 * (main.ts). Prints progress on stderr and, on success, the snapshot folder on stdout.
 * Exit codes: 0 done, 1 the pull failed, 2 bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { hubCacheRoot, REPO_TYPES, type RepoType } from './cache.ts';
import { formatBytes, PullError } from './errors.ts';
import { ProgressBar, SILENT_PROGRESS, type ProgressOut } from './progress.ts';
import { DEFAULT_HUB_URL, pull, type PullResult } from './pull.ts';

export const PULL_HELP = `Usage: npm run pull -- <org/name> [options]     (or: npm start -- pull <org/name> [options])

Downloads a model (or, with --repo-type dataset, a dataset) from the Hugging Face Hub into the hub
cache shared with Python tools (models--org--name/ or datasets--org--name/, each {blobs,snapshots,refs}).
Partial files are resumed; every file is checked against the hub's size and sha256 (LFS) or git hash.
Serve a model with: npm start -- --model <org/name>

Options:
  --repo-type <TYPE>   model or dataset [default: model]
  --revision <REV>     branch, tag or commit hash [default: main]
  --include <GLOB>     only files matching GLOB (repeatable; '*' also matches '/'), e.g. 'onnx/model_q4*';
                       for a model the root *.json, *.jinja and tokenizer.model files always come along
  --cache-dir <DIR>    cache root [default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub]
  --retries <N>        resumes per file after a dropped connection [default: 5]
  --quiet              no progress output
  --help               print this help

Environment: HF_TOKEN (access token for gated or private repos; else the token file that
\`huggingface-cli login\` writes), HF_ENDPOINT (hub address) [default: ${DEFAULT_HUB_URL}]
`;

/** The access token: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, else the token file huggingface-cli login writes. */
export function tokenFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const direct = [env.HF_TOKEN, env.HUGGING_FACE_HUB_TOKEN].find((t) => t && t.trim() !== '');
  if (direct) return direct.trim();
  const home = env.HF_HOME && env.HF_HOME.trim() !== '' ? env.HF_HOME : join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  const file = env.HF_TOKEN_PATH && env.HF_TOKEN_PATH.trim() !== '' ? env.HF_TOKEN_PATH : join(home, 'token');
  if (!existsSync(file)) return undefined;
  const t = readFileSync(file, 'utf8').trim();
  return t === '' ? undefined : t;
}

/** The hub address: HF_ENDPOINT, else the public hub. */
export function hubUrlFromEnv(env: NodeJS.ProcessEnv): string {
  const e = env.HF_ENDPOINT?.trim();
  return e ? e.replace(/\/+$/, '') : DEFAULT_HUB_URL;
}

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: ProgressOut;
}

/** One line per file category, then the folder to serve. */
function summary(r: PullResult): string {
  const count = (s: string) => r.files.filter((f) => f.status === s).length;
  const parts = [`${count('downloaded')} downloaded`, `${count('resumed')} resumed`, `${count('cached')} already cached`];
  return `pulled ${r.repoType === 'model' ? '' : `${r.repoType} `}${r.repo}@${r.revision} (commit ${r.commit}): ${r.files.length} files, ${parts.join(', ')}, ${formatBytes(r.downloadedBytes)} received\n`;
}

/**
 * Runs `pull` with command-line arguments (after the word `pull`).
 * @returns the exit code
 */
export async function runPullCli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let values: Record<string, string | string[] | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        revision: { type: 'string' },
        'repo-type': { type: 'string' },
        include: { type: 'string', multiple: true },
        'cache-dir': { type: 'string' },
        retries: { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n\n${PULL_HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(PULL_HELP);
    return 0;
  }
  const repoType = (values['repo-type'] ?? 'model') as RepoType;
  if (!REPO_TYPES.includes(repoType)) {
    io.stderr.write(`error: --repo-type must be ${REPO_TYPES.join(' or ')}, got '${String(values['repo-type'])}'\n`);
    return 2;
  }
  if (positionals.length !== 1) {
    io.stderr.write(`error: give exactly one ${repoType} id (org/name)\n\n${PULL_HELP}`);
    return 2;
  }
  const retries = values.retries === undefined ? 5 : Number(values.retries);
  if (!Number.isInteger(retries) || retries < 0) {
    io.stderr.write(`error: --retries must be an integer >= 0, got '${String(values.retries)}'\n`);
    return 2;
  }
  const cacheDir = hubCacheRoot(env, values['cache-dir'] as string | undefined);
  const progress = values.quiet ? SILENT_PROGRESS : new ProgressBar(io.stderr);
  try {
    io.stderr.write(`pulling ${repoType === 'model' ? '' : `${repoType} `}${positionals[0]} from ${hubUrlFromEnv(env)} into ${cacheDir}\n`);
    const result = await pull({
      repo: positionals[0]!,
      repoType,
      revision: values.revision as string | undefined,
      include: values.include as string[] | undefined,
      cacheDir,
      hubUrl: hubUrlFromEnv(env),
      token: tokenFromEnv(env),
      retries,
      progress,
    });
    io.stderr.write(summary(result));
    io.stdout.write(`${result.snapshotDir}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof PullError)) {
      // Unexpected (a permission error, a bug): the message and where it came from, without hiding it.
      io.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
      return 1;
    }
    io.stderr.write(`error: ${err.message}\n`);
    return err.kind === 'bad_input' ? 2 : 1;
  }
}
