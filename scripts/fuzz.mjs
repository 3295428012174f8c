// `npm run fuzz [runs]`: the property tests (test/property-*.test.ts) with a random seed and many runs.
// The seed is printed first so a failure can be replayed: FUZZ_SEED=<seed> FUZZ_RUNS=<runs> npm run fuzz.
import { spawnSync } from 'node:child_process';
const runs = process.env.FUZZ_RUNS ?? process.argv[2] ?? '20000';
const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
console.log(`fuzz: seed ${seed}, ${runs} runs per property`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', 'test/property-endpoints.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_SEED: seed },
});
process.exit(r.status ?? 1);
