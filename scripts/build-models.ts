/**
 * Builds the project's random-weight Llama 3.1 model folders.
 *
 *   tsx scripts/build-models.ts                      instruct, instruct-genai, reward → models/<name>/
 *   tsx scripts/build-models.ts --only bench         named presets (comma list)
 *   tsx scripts/build-models.ts --if-missing         skip folders that are complete and current
 *   tsx scripts/build-models.ts --out DIR            another parent folder
 *   tsx scripts/build-models.ts --only bench --set hiddenSize=2048 --set numLayers=16 --set dtype=float16 --as bench-2048
 *                                                    override spec fields (numbers, booleans or strings);
 *                                                    --as names the output folder (one preset only)
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildModelFolder, isModelFolderComplete } from '../src/modelgen/folder.ts';
import { DEFAULT_PRESETS, parameterCount, resolveSpec, type SpecOverrides } from '../src/modelgen/spec.ts';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

function parseOverrides(sets: string[]): SpecOverrides {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects key=value, got "${s}"`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    const value = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
    if (key.startsWith('init.')) out.init = { ...(out.init as object), [key.slice(5)]: value };
    else out[key] = value;
  }
  return out as SpecOverrides;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      'if-missing': { type: 'boolean', default: false },
      out: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      as: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: build-models [--only a,b] [--if-missing] [--out DIR] [--set key=value]... [--as NAME]');
    return;
  }
  const names = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [...DEFAULT_PRESETS];
  if (values.as && names.length !== 1) throw new Error('--as needs exactly one preset');
  const overrides = parseOverrides(values.set ?? []);
  const outDir = resolve(values.out ?? join(repoRoot, 'models'));
  const started = performance.now();
  for (const name of names) {
    const spec = resolveSpec(name, overrides);
    const dir = join(outDir, values.as ?? name);
    if (values['if-missing'] && isModelFolderComplete(dir, spec)) {
      console.log(`[build-models] ${name}: up to date at ${dir}`);
      continue;
    }
    const params = parameterCount(spec);
    console.log(`[build-models] ${name}: building ${(params / 1e6).toFixed(1)}M parameters (${spec.ioStyle}, ${spec.dtype}) ...`);
    const built = buildModelFolder(spec, dir);
    const files = Object.entries(built.files).map(([f, size]) => `${f} ${mib(size)}`).join(', ');
    console.log(`[build-models] ${name}: built ${dir} in ${built.seconds.toFixed(2)} s: ${files}`);
  }
  console.log(`[build-models] done in ${((performance.now() - started) / 1000).toFixed(2)} s`);
}

try {
  main();
} catch (err) {
  console.error(`[build-models] ${(err as Error).message}`);
  process.exit(1);
}
