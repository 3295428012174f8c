/**
 * Hugging Face Hub support: `pull` downloads a model into the hub cache shared with Python tools, and
 * `resolveModelSource` turns `--model org/name` into its cached snapshot folder (never downloading).
 */
export { cachedSnapshot, hubCacheRoot, isHubRepoId, repoCacheDir } from './cache.ts';
export { runPullCli, tokenFromEnv, hubUrlFromEnv, PULL_HELP } from './cli.ts';
export { PullError, type PullErrorKind } from './errors.ts';
export { ProgressBar, SILENT_PROGRESS, type PullProgress } from './progress.ts';
export { DEFAULT_HUB_URL, pull, type PullOptions, type PullResult, type PulledFile } from './pull.ts';
export { notCachedMessage, resolveModelSource, type HubModelRef, type ModelSource } from './resolve.ts';
