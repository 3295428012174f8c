/**
 * Serving hub models (main.ts): which configured models are named as org/name but missing from the
 * cache, and --pull's download of them before the engines start. Works on plain model descriptions so
 * the hub module does not depend on the server's config types.
 */
import { hubUrlFromEnv, tokenFromEnv } from './cli.ts';
import { ProgressBar, type ProgressOut } from './progress.ts';
import { pull } from './pull.ts';
import { notCachedMessage, type HubModelRef } from './resolve.ts';

/** A configured model, as far as the hub cares (ModelConfig fits it). */
export interface ServedModelRef {
  dir: string;
  hub?: HubModelRef;
}

/** The chat model and the reward model, as configured. */
export interface ServedModels {
  model: ServedModelRef;
  rewardModel: ServedModelRef | null;
}

function named(config: ServedModels): Array<[string, ServedModelRef]> {
  const out: Array<[string, ServedModelRef]> = [['--model', config.model]];
  if (config.rewardModel) out.push(['--reward-model', config.rewardModel]);
  return out;
}

/** One message per hub model that is not in the cache (empty: every model can be served as is). */
export function hubModelsNotCached(config: ServedModels): string[] {
  return named(config).flatMap(([flag, m]) => (m.hub && !m.hub.snapshotDir ? [notCachedMessage(m.hub, flag)] : []));
}

/** Minimal logger (pino fits it). */
export interface PullLog {
  info(obj: object, msg: string): void;
}

/**
 * --pull: downloads every hub model missing from the cache (progress on `out`), then points its `dir`
 * at the new snapshot. Models already cached are served as they are, without contacting the hub.
 * @throws PullError
 */
export async function pullHubModels(
  config: ServedModels,
  env: NodeJS.ProcessEnv,
  log: PullLog,
  out: ProgressOut = process.stderr,
): Promise<void> {
  for (const [flag, m] of named(config)) {
    if (!m.hub || m.hub.snapshotDir) continue;
    const { repo, revision, cacheDir } = m.hub;
    log.info({ repo, revision, cacheDir }, `${flag} ${repo} is not in the cache: pulling it (--pull)`);
    const result = await pull({
      repo,
      revision,
      cacheDir,
      hubUrl: hubUrlFromEnv(env),
      token: tokenFromEnv(env),
      progress: new ProgressBar(out),
    });
    m.hub.snapshotDir = result.snapshotDir;
    m.dir = result.snapshotDir;
    log.info({ repo, commit: result.commit, dir: result.snapshotDir }, `pulled ${repo} (commit ${result.commit})`);
  }
}
