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
