/**
 * Sessions, values and IO binding over ONNX Runtime's C API (see api.ts). What onnxruntime-node does
 * not offer and the KV cache needs: inputs and outputs bound to memory we own, on the device the model
 * runs on, so a step moves only what it must.
 *
 * Ownership: every native object here has one owner that releases it (`release()`); values made for a
 * single run are released right after it (`NativeRun`).
 */
import koffi from 'koffi';
import { ELEMENT, ELEMENT_BYTES, elementName, OrtApi, OrtError, type ElementName } from './api.ts';

/** Where and how a native session runs. */
export interface NativeSessionOptions {
  provider: 'cpu' | 'cuda';
  deviceId: number;
  /** Intra-op threads; 0 lets ONNX Runtime decide. */
  intraOpThreads: number;
  /** CUDA memory arena limit in bytes (0 = no limit). */
  cudaMemLimit?: number;
}

/** Metadata of one graph input or output (a symbolic dimension reads as -1). */
export interface NativeIoMeta {
  name: string;
  type: string;
  shape: number[];
}

let envPtr: bigint | undefined;

/** The process's OrtEnv (ONNX Runtime keeps one per process; onnxruntime-node shares it). */
function env(api: OrtApi): bigint {
  envPtr ??= api.out<bigint>('creating the ONNX Runtime environment', 'CreateEnv', 3, 'nemotron-onnx-server');
  return envPtr;
}

/** A memory description ("Cpu" host memory, or "Cuda" memory of one device). */
export class MemoryInfo {
  private constructor(readonly ptr: bigint, readonly location: 'host' | 'device') {}

  static host(api = OrtApi.get()): MemoryInfo {
    // OrtDeviceAllocator (0), OrtMemTypeDefault (0).
    return new MemoryInfo(api.out<bigint>('describing host memory', 'CreateCpuMemoryInfo', 0, 0), 'host');
  }

  static cuda(deviceId: number, api = OrtApi.get()): MemoryInfo {
    return new MemoryInfo(api.out<bigint>(`describing CUDA memory of device ${deviceId}`, 'CreateMemoryInfo', 'Cuda', 0, deviceId, 0), 'device');
  }

  release(): void {
    OrtApi.get().call('ReleaseMemoryInfo', this.ptr);
  }
}

/** An OrtValue holding a tensor (owned: released by `release`). */
export class NativeValue {
  constructor(readonly ptr: bigint) {}

  /** A tensor over memory someone else owns (`data` stays valid while the value is used). */
  static over(info: MemoryInfo, data: bigint, type: ElementName, dims: readonly number[]): NativeValue {
    const bytes = dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[type];
    const shape = BigInt64Array.from(dims, (d) => BigInt(d));
    const api = OrtApi.get();
    return new NativeValue(
      api.out<bigint>('creating a tensor', 'CreateTensorWithDataAsOrtValue', info.ptr, data, bytes, shape, dims.length, ELEMENT[type]),
    );
  }

  /** A new tensor allocated by `allocator` (host or device memory). */
  static allocate(allocator: bigint, type: ElementName, dims: readonly number[]): NativeValue {
    const shape = BigInt64Array.from(dims, (d) => BigInt(d));
    return new NativeValue(OrtApi.get().out<bigint>('allocating a tensor', 'CreateTensorAsOrtValue', allocator, shape, dims.length, ELEMENT[type]));
  }

  /** Address of the tensor's first element. */
  data(): bigint {
    return OrtApi.get().out<bigint>('reading a tensor address', 'GetTensorMutableData', this.ptr);
  }

  /** Element type and dims. */
  info(): { type: string; dims: number[] } {
    const api = OrtApi.get();
    const tsi = api.out<bigint>('reading a tensor shape', 'GetTensorTypeAndShape', this.ptr);
    try {
      return { type: elementName(api.out<number>('reading a tensor type', 'GetTensorElementType', tsi)), dims: readDims(api, tsi) };
    } finally {
      api.call('ReleaseTensorTypeAndShapeInfo', tsi);
    }
  }

  release(): void {
    OrtApi.get().call('ReleaseValue', this.ptr);
  }
}

function readDims(api: OrtApi, tsi: bigint): number[] {
  const rank = Number(api.out<number | bigint>('reading a tensor rank', 'GetDimensionsCount', tsi));
  const dims = new BigInt64Array(rank);
  api.check('reading tensor dims', 'GetDimensions', tsi, dims, rank);
  return Array.from(dims, Number);
}

/** A JS view of `bytes` bytes of host memory at `address` (valid while the memory lives). */
export function hostView(address: bigint, bytes: number): ArrayBuffer {
  return koffi.view(address, bytes);
}

/** A session opened through the C API. */
export class NativeSession {
  readonly inputs: NativeIoMeta[];
  readonly outputs: NativeIoMeta[];
  /** Host memory (inputs we fill, outputs we read). */
  readonly hostInfo: MemoryInfo;
  /** Where the model runs: host memory on CPU, the device's memory on CUDA. */
  readonly deviceInfo: MemoryInfo;
  /** Allocates in deviceInfo's memory. */
  readonly deviceAllocator: bigint;
  /** The default host allocator (owned by ONNX Runtime; not released). */
  readonly hostAllocator: bigint;
  private released = false;

  private constructor(
    readonly ptr: bigint,
    readonly path: string,
    readonly provider: 'cpu' | 'cuda',
    deviceId: number,
  ) {
    const api = OrtApi.get();
    this.hostAllocator = api.out<bigint>('getting the host allocator', 'GetAllocatorWithDefaultOptions');
    this.inputs = this.describe('input');
    this.outputs = this.describe('output');
    this.hostInfo = MemoryInfo.host();
    if (provider === 'cuda') {
      this.deviceInfo = MemoryInfo.cuda(deviceId);
      this.deviceAllocator = api.out<bigint>(`creating a CUDA allocator for ${path}`, 'CreateAllocator', ptr, this.deviceInfo.ptr);
    } else {
      this.deviceInfo = this.hostInfo;
      this.deviceAllocator = this.hostAllocator;
    }
  }

  /**
   * Opens `path` (external data is found beside it), or a graph given as bytes whose external data lives
   * in `from.externalDataDir` (`path` then only names it in messages). Errors name the model and the call.
   */
  static open(path: string, opts: NativeSessionOptions, from?: { bytes: Uint8Array; externalDataDir: string }): NativeSession {
    const api = OrtApi.get();
    const what = (call: string) => `${call} for ${path}`;
    const options = api.out<bigint>(what('creating session options'), 'CreateSessionOptions');
    try {
      api.check(what('setting the graph optimization level'), 'SetSessionGraphOptimizationLevel', options, 99);
      api.check(what('setting the log level'), 'SetSessionLogSeverityLevel', options, 3);
      if (opts.intraOpThreads > 0) api.check(what('setting intra-op threads'), 'SetIntraOpNumThreads', options, opts.intraOpThreads);
      if (opts.provider === 'cuda') appendCuda(api, options, opts, path);
      let ptr: bigint;
      if (from) {
        api.check(what('setting the external data folder'), 'AddSessionConfigEntry', options, 'session.model_external_initializers_file_folder_path', from.externalDataDir);
        ptr = api.out<bigint>(what('creating the session'), 'CreateSessionFromArray', env(api), from.bytes, from.bytes.byteLength, options);
      } else {
        ptr = api.out<bigint>(what('creating the session'), 'CreateSession', env(api), path, options);
      }
      return new NativeSession(ptr, path, opts.provider, opts.deviceId);
    } finally {
      api.call('ReleaseSessionOptions', options);
    }
  }

  private describe(kind: 'input' | 'output'): NativeIoMeta[] {
    const api = OrtApi.get();
    const count = Number(api.out<number | bigint>(`counting ${kind}s`, kind === 'input' ? 'SessionGetInputCount' : 'SessionGetOutputCount', this.ptr));
    const list: NativeIoMeta[] = [];
    for (let i = 0; i < count; i++) {
      const nameP = api.out<bigint>(`reading ${kind} names`, kind === 'input' ? 'SessionGetInputName' : 'SessionGetOutputName', this.ptr, i, this.hostAllocator);
      const name = koffi.decode(nameP, 'char', -1) as string;
      api.check('freeing a name', 'AllocatorFree', this.hostAllocator, nameP);
      const ti = api.out<bigint>(`reading ${kind} types`, kind === 'input' ? 'SessionGetInputTypeInfo' : 'SessionGetOutputTypeInfo', this.ptr, i);
      try {
        const tsi = api.out<bigint | null>(`reading ${kind} ${name}`, 'CastTypeInfoToTensorInfo', ti);
        if (!tsi) {
          list.push({ name, type: 'non-tensor', shape: [] });
          continue;
        }
        list.push({ name, type: elementName(api.out<number>(`reading ${name}'s type`, 'GetTensorElementType', tsi)), shape: readDims(api, tsi) });
      } finally {
        api.call('ReleaseTypeInfo', ti);
      }
    }
    return list;
  }

  /** A fresh IO binding for one run. */
  binding(): NativeBinding {
    return new NativeBinding(this);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    const api = OrtApi.get();
    if (this.provider === 'cuda') {
      api.call('ReleaseAllocator', this.deviceAllocator);
      this.deviceInfo.release();
    }
    this.hostInfo.release();
    api.call('ReleaseSession', this.ptr);
  }
}

function appendCuda(api: OrtApi, options: bigint, opts: NativeSessionOptions, path: string): void {
  const cuda = api.out<bigint>('creating CUDA provider options', 'CreateCUDAProviderOptions');
  try {
    const entries: Array<[string, string]> = [['device_id', String(opts.deviceId)]];
    if (opts.cudaMemLimit) entries.push(['gpu_mem_limit', String(opts.cudaMemLimit)]);
    api.check(
      `setting CUDA provider options for ${path}`,
      'UpdateCUDAProviderOptions',
      cuda,
      entries.map((e) => e[0]),
      entries.map((e) => e[1]),
      entries.length,
    );
    api.check(`adding the CUDA execution provider for ${path}`, 'SessionOptionsAppendExecutionProvider_CUDA_V2', options, cuda);
  } finally {
    api.call('ReleaseCUDAProviderOptions', cuda);
  }
}

/**
 * One run's bindings. Values bound through `input`/`output` are owned by the binding and released with it;
 * outputs bound with `outputToHost` are read back after `run` and released too.
 */
export class NativeBinding {
  private readonly ptr: bigint;
  private readonly owned: NativeValue[] = [];
  private readonly hostOutputs: string[] = [];
  private fetched: NativeValue[] = [];
  /** Bound output names in binding order (GetBoundOutputValues answers in this order). */
  private readonly outputOrder: string[] = [];

  constructor(private readonly session: NativeSession) {
    this.ptr = OrtApi.get().out<bigint>(`binding ${session.path}`, 'CreateIoBinding', session.ptr);
  }

  /** Binds a tensor over existing memory as input `name`. */
  input(name: string, value: NativeValue): void {
    this.owned.push(value);
    OrtApi.get().check(`binding input ${name}`, 'BindInput', this.ptr, name, value.ptr);
  }

  /** Binds a tensor over existing memory as output `name` (the graph writes into it). */
  output(name: string, value: NativeValue): void {
    this.owned.push(value);
    this.outputOrder.push(name);
    OrtApi.get().check(`binding output ${name}`, 'BindOutput', this.ptr, name, value.ptr);
  }

  /** Output `name` goes to memory ONNX Runtime allocates in `info`'s memory; read it after the run with `fetch`. */
  outputTo(name: string, info: MemoryInfo): void {
    this.hostOutputs.push(name);
    this.outputOrder.push(name);
    OrtApi.get().check(`binding output ${name}`, 'BindOutputToDevice', this.ptr, name, info.ptr);
  }

  run(): void {
    OrtApi.get().check(`running ${this.session.path}`, 'RunWithBinding', this.session.ptr, null, this.ptr);
  }

  /**
   * The values of outputs bound with `outputTo`, by name (ONNX Runtime lists every bound output, in
   * binding order; those bound to our memory are released here at once).
   */
  fetch(): Map<string, NativeValue> {
    const api = OrtApi.get();
    const alloc = this.session.hostAllocator;
    const box: unknown[] = [null];
    const countBox: unknown[] = [0];
    api.check('reading bound outputs', 'GetBoundOutputValues', this.ptr, alloc, box, countBox);
    const count = Number(countBox[0]);
    const arrayPtr = box[0] as bigint | null;
    const all = count > 0 && arrayPtr ? (koffi.decode(arrayPtr, 'void*', count) as bigint[]).map((p) => new NativeValue(p)) : [];
    if (arrayPtr) api.check('freeing the output list', 'AllocatorFree', alloc, arrayPtr);
    const names = this.outputOrder;
    const out = new Map<string, NativeValue>();
    all.forEach((v, i) => {
      if (this.hostOutputs.includes(names[i]!)) out.set(names[i]!, v);
      else v.release();
    });
    this.fetched = [...out.values()];
    return out;
  }

  release(): void {
    const api = OrtApi.get();
    for (const v of [...this.owned, ...this.fetched]) v.release();
    api.call('ReleaseIoBinding', this.ptr);
  }
}

export { OrtError };
