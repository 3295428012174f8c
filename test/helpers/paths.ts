import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** Repository root. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The embedded default models (built by `npm run build:models`, which `npm test` runs first). */
export const MODELS = join(REPO, 'models');
export const INSTRUCT = join(MODELS, 'instruct');
export const INSTRUCT_GENAI = join(MODELS, 'instruct-genai');
export const REWARD = join(MODELS, 'reward');
/** The third-party ONNX Runtime GenAI export shipped in shared/fixtures. */
export const FIXTURE = resolve(REPO, '..', 'shared', 'fixtures', 'ortgenai-tiny-llama-fp16');
