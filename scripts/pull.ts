/**
 * `npm run pull -- <org/name> [--revision R] [--include GLOB] [--cache-dir D]`: downloads a model from the
 * Hugging Face Hub into the hub cache. See `npm run pull -- --help` and docs/models.md.
 */
import { runPullCli } from '../src/hub/cli.ts';

process.exitCode = await runPullCli(process.argv.slice(2));
