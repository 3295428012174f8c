/**
 * Rotary embedding frequencies with Llama 3.1 ("llama3") scaling.
 *
 * Mirrors transformers' `_compute_default_rope_parameters` + `_compute_llama3_parameters`, which run in
 * float32 tensors: every intermediate below is rounded with Math.fround in the same order, so the
 * results equal transformers' float32 `inv_freq` (up to the last bit of the platform's powf).
 */
import type { Llama3RopeScaling } from './spec.ts';

const f = Math.fround;

/** Unscaled inverse frequencies: 1 / theta^(2i/dim), i = 0 .. dim/2-1, in float32 arithmetic. */
export function defaultInvFreq(headDim: number, theta: number): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const exponent = f((2 * i) / headDim);
    out[i] = f(1 / f(Math.pow(theta, exponent)));
  }
  return out;
}

/**
 * Llama 3.1 scaled inverse frequencies (length headDim/2):
 * wavelengths shorter than original/high_freq_factor keep their frequency, longer than
 * original/low_freq_factor are divided by `factor`, and those in between are interpolated smoothly.
 */
export function llama3InvFreq(headDim: number, theta: number, scaling: Llama3RopeScaling): Float32Array {
  const invFreq = defaultInvFreq(headDim, theta);
  const { factor, low_freq_factor: low, high_freq_factor: high } = scaling;
  const oldContext = scaling.original_max_position_embeddings;
  const lowFreqWavelen = oldContext / low;
  const highFreqWavelen = oldContext / high;
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(invFreq.length);
  for (let i = 0; i < invFreq.length; i++) {
    const inv = invFreq[i]!;
    const wavelen = f(twoPi / inv);
    const llama = wavelen > lowFreqWavelen ? f(inv / factor) : inv;
    const smooth = f(f(f(oldContext / wavelen) - low) / (high - low));
    const smoothed = f(f(f(f(1 - smooth) * llama) / factor) + f(smooth * llama));
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    out[i] = isMedium ? smoothed : llama;
  }
  return out;
}

/**
 * cos/sin tables [rows, headDim/2] as the GenAI builder stores them (cos_cache / sin_cache):
 * angle = float32(position × inv_freq), then cos/sin, as transformers' LlamaRotaryEmbedding computes.
 */
export function rotaryTables(invFreq: Float32Array, rows: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(rows * half);
  const sin = new Float32Array(rows * half);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f(p * invFreq[i]!);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
