/**
 * Initializer declarations and their bytes. Random weights are generated lazily, chunk by chunk, so a
 * multi-gigabyte model streams to disk without ever being held in memory whole.
 *
 * Determinism: each random tensor has its own generator, seeded from (model seed, tensor name), so a
 * tensor's values depend only on those two and its size, never on what else the model holds or the order
 * tensors are written. Only Math.imul / shifts / Math.fround are used: the same bytes on every machine.
 */

/** Element types the generated graphs use. */
export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

/** onnx.TensorProto.DataType codes. */
export const ONNX_DTYPE: Readonly<Record<ElemType, number>> = { float32: 1, float16: 10, int64: 7, int32: 6, bool: 9 };

const BYTES: Readonly<Record<ElemType, number>> = { float32: 4, float16: 2, int64: 8, int32: 4, bool: 1 };

/** Where an initializer's values come from. */
export type TensorSource =
  /** Uniform on [mean - std·√3, mean + std·√3) (standard deviation `std`) from a per-tensor generator. */
  | { kind: 'uniform'; seed: number; mean: number; std: number }
  /** Explicit values (converted to the element type). */
  | { kind: 'values'; values: ArrayLike<number> };

/** One graph initializer, declared before its bytes exist. */
export interface InitializerDecl {
  name: string;
  type: ElemType;
  dims: number[];
  source: TensorSource;
}

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Size in bytes of an initializer's data. */
export function byteLength(decl: InitializerDecl): number {
  return numel(decl.dims) * BYTES[decl.type];
}

/** FNV-1a over the UTF-16 code units of `s`, then mixed with the seed by murmur3's finalizer. */
export function tensorSeed(modelSeed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  h ^= Math.imul(modelSeed >>> 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32: a 32-bit state generator (period 2^32, enough for any one tensor here). */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Nearest IEEE half (round-to-nearest-even, via float32) as a bit pattern. */
export function toHalfBits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Value of a half bit pattern. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Encodes `values[start, start+count)` as little-endian bytes of `type`. */
function encode(type: ElemType, count: number, valueAt: (i: number) => number): Uint8Array {
  switch (type) {
    case 'float32': {
      const a = new Float32Array(count);
      for (let i = 0; i < count; i++) a[i] = valueAt(i);
      return new Uint8Array(a.buffer);
    }
    case 'float16': {
      const a = new Uint16Array(count);
      for (let i = 0; i < count; i++) a[i] = toHalfBits(valueAt(i));
      return new Uint8Array(a.buffer);
    }
    case 'int64': {
      const a = new BigInt64Array(count);
      for (let i = 0; i < count; i++) a[i] = BigInt(valueAt(i));
      return new Uint8Array(a.buffer);
    }
    case 'int32': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) a[i] = valueAt(i);
      return new Uint8Array(a.buffer);
    }
    case 'bool': {
      const a = new Uint8Array(count);
      for (let i = 0; i < count; i++) a[i] = valueAt(i) ? 1 : 0;
      return a;
    }
  }
}

/** The initializer's bytes, in chunks of at most `chunkElems` elements (little-endian, as ONNX raw_data). */
export function* tensorChunks(decl: InitializerDecl, chunkElems = 1 << 20): Generator<Uint8Array> {
  const total = numel(decl.dims);
  const src = decl.source;
  if (src.kind === 'values') {
    if (src.values.length !== total) throw new Error(`${decl.name}: ${src.values.length} values for ${total} elements`);
    if (total === 0) yield new Uint8Array(0);
    for (let start = 0; start < total; start += chunkElems) {
      const count = Math.min(chunkElems, total - start);
      yield encode(decl.type, count, (i) => src.values[start + i]!);
    }
    return;
  }
  if (decl.type !== 'float32' && decl.type !== 'float16') throw new Error(`${decl.name}: random ${decl.type}`);
  const next = mulberry32(tensorSeed(src.seed, decl.name));
  const halfWidth = src.std * Math.sqrt(3);
  for (let start = 0; start < total; start += chunkElems) {
    const count = Math.min(chunkElems, total - start);
    yield encode(decl.type, count, () => src.mean + halfWidth * (2 * next() - 1));
  }
}

/** All of an initializer's bytes in one array (small tensors and inline models). */
export function tensorBytes(decl: InitializerDecl): Uint8Array {
  const chunks = [...tensorChunks(decl, Number.MAX_SAFE_INTEGER)];
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(byteLength(decl));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
