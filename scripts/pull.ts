/**
 * `npm run pull -- <org/name> [--repo-type model|dataset] [--revision R] [--include GLOB] [--cache-dir D]`:
 * downloads a model (default) or a dataset from the Hugging Face Hub into the hub cache
 * (models--org--name/ or datasets--org--name/). See `npm run pull -- --help` and docs/models.md.
 */
import { runPullCli } from '../src/hub/cli.ts';

process.exitCode = await runPullCli(process.argv.slice(2));
