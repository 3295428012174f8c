/**
 * IEEE half-precision helpers. Node 20 has no Float16Array: onnxruntime-node hands float16 tensors over
 * as Uint16Array bit patterns, so logits rows are widened here before sampling.
 */

let table: Float32Array | undefined;

/** Lazily built table of all 65,536 half values as float32 (256 KiB, built once per thread). */
function halfTable(): Float32Array {
  if (table) return table;
  table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = frac * 2 ** -24;
    else if (exp === 31) v = frac ? NaN : Infinity;
    else v = (1 + frac / 1024) * 2 ** (exp - 15);
    table[h] = sign * v;
  }
  return table;
}

/** Widens half bit patterns into `out` (or a new Float32Array). */
export function halfToFloat32(src: Uint16Array, out?: Float32Array): Float32Array {
  const t = halfTable();
  const dst = out ?? new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]!]!;
  return dst;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds one number to the nearest half (round-to-nearest-even) and returns its bit pattern. */
export function float32ToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
