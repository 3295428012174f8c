/**
 * Where KV bytes live. A `KvMemory` allocates flat element arrays where the model runs (host memory on
 * CPU, device memory on CUDA) and copies between them there; nothing here reads KV values on the host.
 * `HostKvMemory` is the plain typed-array implementation (unit tests, and the shape every other
 * implementation must match); the ONNX Runtime one lives in `../ort/memory.ts`.
 */

/** Element type of a model's KV cache. */
export type KvDType = 'float32' | 'float16';

/** One flat allocation of KV elements. Implementations add what they need (a pointer, a typed array). */
export interface KvArray {
  readonly elements: number;
}

/** An allocator and copier of KV arrays in one memory (host or device). */
export interface KvMemory<A extends KvArray = KvArray> {
  readonly location: 'host' | 'device';
  readonly dtype: KvDType;
  /** A new array of `elements` elements (contents unspecified). */
  alloc(elements: number): A;
  free(array: A): void;
  /** Copies `n` elements; overlapping ranges of one array are handled (memmove semantics). */
  copy(dst: A, dstOffset: number, src: A, srcOffset: number, n: number): void;
  /** Sets `n` elements to zero. */
  zero(dst: A, offset: number, n: number): void;
}

/** KV memory as JS typed arrays. */
export interface HostKvArray extends KvArray {
  data: Float32Array | Uint16Array;
}

/** Typed-array KV memory; counts live allocations so tests can check that steps allocate nothing. */
export class HostKvMemory implements KvMemory<HostKvArray> {
  readonly location = 'host' as const;
  allocations = 0;
  live = 0;
  constructor(readonly dtype: KvDType) {}

  alloc(elements: number): HostKvArray {
    this.allocations++;
    this.live++;
    return { elements, data: this.dtype === 'float16' ? new Uint16Array(elements) : new Float32Array(elements) };
  }

  free(_array: HostKvArray): void {
    this.live--;
  }

  copy(dst: HostKvArray, dstOffset: number, src: HostKvArray, srcOffset: number, n: number): void {
    if (n <= 0) return;
    if (dst === src) dst.data.copyWithin(dstOffset, srcOffset, srcOffset + n);
    else dst.data.set(src.data.subarray(srcOffset, srcOffset + n), dstOffset);
  }

  zero(dst: HostKvArray, offset: number, n: number): void {
    if (n > 0) dst.data.fill(0, offset, offset + n);
  }
}
