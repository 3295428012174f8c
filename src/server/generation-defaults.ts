/**
 * Request defaults read from a model's `generation_config.json`, as vLLM does (`--generation-config
 * auto`): the sampling settings the model's authors ship (Llama 3.1 Instruct: temperature 0.6, top_p 0.9)
 * and `max_new_tokens` become what a request that leaves them out gets; a request's own values win.
 * `--generation-config vllm` ignores the file (OpenAI's defaults: temperature 1, top_p 1, max_tokens up to
 * the context), and `--generation-config DIR` reads the file from another folder.
 *
 * A value outside the range a request could ask for is ignored (and named in the start-up log), never
 * applied: the defaults must be values a client could have sent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Defaults for fields a request leaves out. */
export interface GenerationDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  /** Default max_tokens (still capped by --max-tokens and by what the context leaves). */
  maxNewTokens?: number;
}

/** What was read: the defaults, the file they came from, and the keys ignored (with why). */
export interface GenerationDefaultsSource {
  defaults: GenerationDefaults;
  file?: string;
  ignored: string[];
}

/** How `--generation-config` chooses: the model's own folder, none, or another folder. */
export type GenerationConfigMode = 'auto' | 'vllm' | { dir: string };

type Rule = { key: keyof GenerationDefaults; min: number; max: number; integer?: boolean; minExclusive?: boolean };

/** generation_config.json keys (Hugging Face names) and the range a request field accepts. */
const RULES: Record<string, Rule> = {
  temperature: { key: 'temperature', min: 0, max: 2 },
  top_p: { key: 'topP', min: 0, max: 1, minExclusive: true },
  top_k: { key: 'topK', min: -1, max: Number.MAX_SAFE_INTEGER, integer: true },
  repetition_penalty: { key: 'repetitionPenalty', min: 0, max: 10, minExclusive: true },
  max_new_tokens: { key: 'maxNewTokens', min: 1, max: Number.MAX_SAFE_INTEGER, integer: true },
};

/** Reads the defaults for a model in `modelDir` under `mode`. A missing file means no defaults. */
export function readGenerationDefaults(modelDir: string, mode: GenerationConfigMode = 'auto'): GenerationDefaultsSource {
  if (mode === 'vllm') return { defaults: {}, ignored: [] };
  const file = join(typeof mode === 'object' ? mode.dir : modelDir, 'generation_config.json');
  if (!existsSync(file)) return { defaults: {}, ignored: [] };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { defaults: {}, file, ignored: [`the file is not valid JSON (${(err as Error).message})`] };
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) return { defaults: {}, file, ignored: ['the file does not hold a JSON object'] };
  return { file, ...parseDefaults(json as Record<string, unknown>) };
}

/** The defaults a generation_config object gives, and the keys it gives out of range. */
export function parseDefaults(config: Record<string, unknown>): { defaults: GenerationDefaults; ignored: string[] } {
  const defaults: GenerationDefaults = {};
  const ignored: string[] = [];
  for (const [name, rule] of Object.entries(RULES)) {
    const v = config[name];
    if (v === undefined || v === null) continue;
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (rule.minExclusive ? v > rule.min : v >= rule.min) &&
      v <= rule.max &&
      (!rule.integer || Number.isInteger(v));
    if (ok) defaults[rule.key] = v;
    else ignored.push(`${name}: ${JSON.stringify(v)} is not a value a request could send`);
  }
  return { defaults, ignored };
}

/** The defaults in words, for the start-up log ("temperature 0.6, top_p 0.9, max_tokens 256"). */
export function describeDefaults(d: GenerationDefaults): string {
  const parts = Object.entries(RULES).flatMap(([name, rule]) => (d[rule.key] === undefined ? [] : [`${name === 'max_new_tokens' ? 'max_tokens' : name} ${d[rule.key]}`]));
  return parts.length ? parts.join(', ') : 'none (OpenAI defaults)';
}
