/**
 * Hugging Face Hub support: `pull` downloads a model or dataset into the hub cache shared with Python
 * tools, `resolveCachedDataset` finds a pulled dataset's split files offline, and
 * `resolveModelSource` turns `--model org/name` into its cached snapshot folder (never downloading).
 */
export { cachedSnapshot, hubCacheRoot, isHubRepoId, repoCacheDir, REPO_TYPES, type RepoType } from './cache.ts';
export {
  CachedDatasetError, isDataFile, pullDatasetCommand, resolveCachedDataset, splitOfFile,
  type CachedDataset, type CachedDatasetErrorKind, type ResolveDatasetOptions,
} from './dataset.ts';
export { runPullCli, tokenFromEnv, hubUrlFromEnv, PULL_HELP } from './cli.ts';
export { PullError, type PullErrorKind } from './errors.ts';
export { ProgressBar, SILENT_PROGRESS, type PullProgress } from './progress.ts';
export { DEFAULT_HUB_URL, pull, type PullOptions, type PullResult, type PulledFile } from './pull.ts';
export { notCachedMessage, resolveModelSource, type HubModelRef, type ModelSource } from './resolve.ts';
