/**
 * KV memory allocated by ONNX Runtime where the model runs: the host allocator on CPU, the session's
 * CUDA allocator on CUDA. Re-packs copy on that memory: typed-array copies over host views on CPU,
 * device-to-device `cudaMemcpy` on CUDA (never through the host). Also the growable host staging
 * buffers a step fills with its small inputs (ids, positions, mask) and reads its logits from.
 */
import koffi from 'koffi';
import { ELEMENT_BYTES, type ElementName } from './api.ts';
import { hostView, NativeValue, type NativeSession } from './session.ts';
import type { KvArray, KvDType, KvMemory } from '../kv/memory.ts';

/** A KV array in ONNX Runtime memory. */
export interface OrtKvArray extends KvArray {
  readonly value: NativeValue;
  readonly address: bigint;
  /** Host memory only: a typed view for copies. */
  readonly view?: Float32Array | Uint16Array;
}

/** The two CUDA runtime calls re-packs need, loaded on first use on CUDA machines (libcudart 12). */
interface CudaRuntime {
  memcpy(dst: bigint, src: bigint, bytes: number, kind: number): number;
  memset(dst: bigint, value: number, bytes: number): number;
}
let cudart: CudaRuntime | undefined;
function cuda(): CudaRuntime {
  if (!cudart) {
    const lib = koffi.load(process.platform === 'win32' ? 'cudart64_12.dll' : 'libcudart.so.12');
    cudart = {
      memcpy: lib.func('int cudaMemcpy(void* dst, void* src, size_t bytes, int kind)') as CudaRuntime['memcpy'],
      memset: lib.func('int cudaMemset(void* dst, int value, size_t bytes)') as CudaRuntime['memset'],
    };
  }
  return cudart;
}

function deviceCopy(dst: bigint, src: bigint, bytes: number): void {
  // 3 = cudaMemcpyDeviceToDevice. Overlapping ranges are not allowed there: callers copy through
  // disjoint ranges only (see OrtKvMemory.copy).
  const rc = cuda().memcpy(dst, src, bytes, 3);
  if (rc !== 0) throw new Error(`cudaMemcpy device-to-device of ${bytes} bytes failed with CUDA error ${rc}`);
}

/** See the module comment. */
export class OrtKvMemory implements KvMemory<OrtKvArray> {
  readonly location: 'host' | 'device';
  /** Arrays allocated and not yet freed. */
  live = 0;
  private readonly bytes: number;

  constructor(
    private readonly session: NativeSession,
    readonly dtype: KvDType,
  ) {
    this.location = session.provider === 'cuda' ? 'device' : 'host';
    this.bytes = ELEMENT_BYTES[dtype];
  }

  alloc(elements: number): OrtKvArray {
    const value = NativeValue.allocate(this.session.deviceAllocator, this.dtype, [elements]);
    const address = value.data();
    this.live++;
    if (this.location === 'device') return { elements, value, address };
    const buf = hostView(address, elements * this.bytes);
    return { elements, value, address, view: this.dtype === 'float16' ? new Uint16Array(buf) : new Float32Array(buf) };
  }

  free(array: OrtKvArray): void {
    array.value.release();
    this.live--;
  }

  zero(dst: OrtKvArray, offset: number, n: number): void {
    if (n <= 0) return;
    if (dst.view) {
      dst.view.fill(0, offset, offset + n);
      return;
    }
    const rc = cuda().memset(dst.address + BigInt(offset * this.bytes), 0, n * this.bytes);
    if (rc !== 0) throw new Error(`cudaMemset of ${n * this.bytes} bytes failed with CUDA error ${rc}`);
  }

  copy(dst: OrtKvArray, dstOffset: number, src: OrtKvArray, srcOffset: number, n: number): void {
    if (n <= 0) return;
    if (dst.view && src.view) {
      if (dst === src) dst.view.copyWithin(dstOffset, srcOffset, srcOffset + n);
      else dst.view.set(src.view.subarray(srcOffset, srcOffset + n), dstOffset);
      return;
    }
    const b = this.bytes;
    const d = dst.address + BigInt(dstOffset * b);
    const s = src.address + BigInt(srcOffset * b);
    const gap = Math.abs(dstOffset - srcOffset);
    if (dst !== src || gap >= n) {
      deviceCopy(d, s, n * b);
      return;
    }
    // Overlapping move within one array: in pieces no longer than the gap, in the safe direction.
    const step = Math.max(gap, 1);
    if (dstOffset < srcOffset) {
      for (let i = 0; i < n; i += step) deviceCopy(d + BigInt(i * b), s + BigInt(i * b), Math.min(step, n - i) * b);
    } else {
      for (let i = n; i > 0; i -= step) {
        const len = Math.min(step, i);
        deviceCopy(d + BigInt((i - len) * b), s + BigInt((i - len) * b), len * b);
      }
    }
  }
}

/** A growable host buffer that a step's small tensors are written into (reused across steps). */
export class HostStaging {
  private value: NativeValue | undefined;
  private address = 0n;
  private capacity = 0;
  private buffer: ArrayBuffer = new ArrayBuffer(0);

  constructor(
    private readonly session: NativeSession,
    readonly type: ElementName,
  ) {}

  /** Makes room for `elements` elements (grows by doubling; never shrinks). */
  reserve(elements: number): void {
    if (elements <= this.capacity) return;
    const capacity = Math.max(elements, this.capacity * 2, 64);
    this.value?.release();
    this.value = NativeValue.allocate(this.session.hostAllocator, this.type, [capacity]);
    this.address = this.value.data();
    this.capacity = capacity;
    this.buffer = hostView(this.address, capacity * ELEMENT_BYTES[this.type]);
  }

  /** A typed view of the first `elements` elements. */
  int64(elements: number): BigInt64Array {
    this.reserve(elements);
    return new BigInt64Array(this.buffer, 0, elements);
  }

  float32(elements: number): Float32Array {
    this.reserve(elements);
    return new Float32Array(this.buffer, 0, elements);
  }

  uint16(elements: number): Uint16Array {
    this.reserve(elements);
    return new Uint16Array(this.buffer, 0, elements);
  }

  /** A tensor over the buffer with `dims` (released by whoever binds it). */
  tensor(dims: readonly number[]): NativeValue {
    this.reserve(dims.reduce((a, b) => a * b, 1));
    return NativeValue.over(this.session.hostInfo, this.address, this.type, dims);
  }

  release(): void {
    this.value?.release();
    this.value = undefined;
    this.capacity = 0;
  }
}
