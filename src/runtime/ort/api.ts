/**
 * ONNX Runtime's C API, reached through the `koffi` FFI from the `libonnxruntime` that onnxruntime-node
 * ships (so the CUDA provider libraries its install script adds sit beside it).
 *
 * `OrtGetApiBase()` gives `GetApi(version)`, which returns the `OrtApi` function table. The table only
 * grows, in the order of ONNX Runtime's public header `onnxruntime_c_api.h`; each entry used here is
 * declared below with its index in that table and our own signature for it. API_VERSION is the oldest
 * table that has every entry used (ONNX Runtime 1.23).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import koffi from 'koffi';

/** The OrtApi version requested; every index below is below this version's table end. */
export const API_VERSION = 23;

/** A native pointer (koffi gives them as bigints); null for NULL. */
export type Ptr = bigint | null;

/** ONNX element types (ONNXTensorElementDataType). */
export const ELEMENT = { float32: 1, int32: 6, int64: 7, float16: 10 } as const;
export type ElementName = keyof typeof ELEMENT;
export const ELEMENT_BYTES: Record<ElementName, number> = { float32: 4, int32: 4, int64: 8, float16: 2 };
const ELEMENT_NAMES = new Map<number, ElementName>(Object.entries(ELEMENT).map(([k, v]) => [v, k as ElementName]));

/** Name of an ONNX element type code (or `type<code>` for types this server does not handle). */
export function elementName(code: number): string {
  return ELEMENT_NAMES.get(code) ?? `type${code}`;
}

/** An error reported by ONNX Runtime; the message names the call. */
export class OrtError extends Error {
  override name = 'OrtError';
}

/** Signatures of the entries used, with their table index. `S` = returns OrtStatus*. */
const ENTRIES = {
  GetErrorMessage: [2, 'const char* f(void* status)'],
  CreateEnv: [3, 'void* f(int level, const char* logid, _Out_ void** out)'],
  CreateSession: [7, 'void* f(void* env, const char* path, void* options, _Out_ void** out)'],
  CreateSessionFromArray: [8, 'void* f(void* env, const void* data, size_t bytes, void* options, _Out_ void** out)'],
  CreateSessionOptions: [10, 'void* f(_Out_ void** out)'],
  DisableCpuMemArena: [19, 'void* f(void* options)'],
  SetSessionLogSeverityLevel: [22, 'void* f(void* options, int level)'],
  SetSessionGraphOptimizationLevel: [23, 'void* f(void* options, int level)'],
  SetIntraOpNumThreads: [24, 'void* f(void* options, int n)'],
  SetInterOpNumThreads: [25, 'void* f(void* options, int n)'],
  SessionGetInputCount: [30, 'void* f(void* session, _Out_ size_t* out)'],
  SessionGetOutputCount: [31, 'void* f(void* session, _Out_ size_t* out)'],
  SessionGetInputTypeInfo: [33, 'void* f(void* session, size_t index, _Out_ void** out)'],
  SessionGetOutputTypeInfo: [34, 'void* f(void* session, size_t index, _Out_ void** out)'],
  SessionGetInputName: [36, 'void* f(void* session, size_t index, void* allocator, _Out_ void** out)'],
  SessionGetOutputName: [37, 'void* f(void* session, size_t index, void* allocator, _Out_ void** out)'],
  CreateTensorAsOrtValue: [48, 'void* f(void* allocator, const int64_t* shape, size_t rank, int type, _Out_ void** out)'],
  CreateTensorWithDataAsOrtValue: [
    49,
    'void* f(void* info, void* data, size_t bytes, const int64_t* shape, size_t rank, int type, _Out_ void** out)',
  ],
  GetTensorMutableData: [51, 'void* f(void* value, _Out_ void** out)'],
  CastTypeInfoToTensorInfo: [55, 'void* f(void* typeInfo, _Out_ void** out)'],
  GetTensorElementType: [60, 'void* f(void* info, _Out_ int* out)'],
  GetDimensionsCount: [61, 'void* f(void* info, _Out_ size_t* out)'],
  GetDimensions: [62, 'void* f(void* info, int64_t* dims, size_t n)'],
  GetSymbolicDimensions: [63, 'void* f(void* info, _Out_ const char** names, size_t n)'],
  GetTensorTypeAndShape: [65, 'void* f(void* value, _Out_ void** out)'],
  CreateMemoryInfo: [68, 'void* f(const char* name, int allocatorType, int id, int memType, _Out_ void** out)'],
  CreateCpuMemoryInfo: [69, 'void* f(int allocatorType, int memType, _Out_ void** out)'],
  AllocatorFree: [76, 'void* f(void* allocator, void* p)'],
  GetAllocatorWithDefaultOptions: [78, 'void* f(_Out_ void** out)'],
  ReleaseEnv: [92, 'void f(void* p)'],
  ReleaseStatus: [93, 'void f(void* p)'],
  ReleaseMemoryInfo: [94, 'void f(void* p)'],
  ReleaseSession: [95, 'void f(void* p)'],
  ReleaseValue: [96, 'void f(void* p)'],
  ReleaseTypeInfo: [98, 'void f(void* p)'],
  ReleaseTensorTypeAndShapeInfo: [99, 'void f(void* p)'],
  ReleaseSessionOptions: [100, 'void f(void* p)'],
  AddSessionConfigEntry: [130, 'void* f(void* options, const char* key, const char* value)'],
  CreateAllocator: [131, 'void* f(void* session, void* info, _Out_ void** out)'],
  ReleaseAllocator: [132, 'void f(void* p)'],
  RunWithBinding: [133, 'void* f(void* session, void* runOptions, void* binding)'],
  CreateIoBinding: [134, 'void* f(void* session, _Out_ void** out)'],
  ReleaseIoBinding: [135, 'void f(void* p)'],
  BindInput: [136, 'void* f(void* binding, const char* name, void* value)'],
  BindOutput: [137, 'void* f(void* binding, const char* name, void* value)'],
  BindOutputToDevice: [138, 'void* f(void* binding, const char* name, void* info)'],
  GetBoundOutputValues: [140, 'void* f(void* binding, void* allocator, _Out_ void** values, _Out_ size_t* count)'],
  ClearBoundInputs: [141, 'void f(void* binding)'],
  ClearBoundOutputs: [142, 'void f(void* binding)'],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, 'void* f(void* options, void* cudaOptions)'],
  CreateCUDAProviderOptions: [205, 'void* f(_Out_ void** out)'],
  UpdateCUDAProviderOptions: [206, 'void* f(void* cudaOptions, const char** keys, const char** values, size_t n)'],
  ReleaseCUDAProviderOptions: [208, 'void f(void* p)'],
} as const;

type EntryName = keyof typeof ENTRIES;
// koffi functions take and return loosely typed values; callers below give them meaning.
type NativeFn = (...args: any[]) => any;

/** The library's directory inside onnxruntime-node, for this platform. */
export function onnxruntimeLibraryPath(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  const file = process.platform === 'win32' ? 'onnxruntime.dll' : process.platform === 'darwin' ? 'libonnxruntime.1.dylib' : 'libonnxruntime.so.1';
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch, file);
}

/** The C API table, loaded once per thread. */
export class OrtApi {
  private static instance: OrtApi | undefined;
  readonly version: string;
  private readonly fns: Record<EntryName, NativeFn>;

  private constructor() {
    const lib = koffi.load(onnxruntimeLibraryPath());
    const base = lib.func('void** OrtGetApiBase()')() as Ptr;
    const [getApi, getVersion] = koffi.decode(base, 'void*', 2) as [bigint, bigint];
    this.version = koffi.call(getVersion, koffi.proto('const char* OrtGetVersionString()')) as string;
    const table = koffi.call(getApi, koffi.proto('void* OrtGetApi(uint32_t version)'), API_VERSION) as Ptr;
    if (!table) throw new OrtError(`ONNX Runtime ${this.version} does not provide C API version ${API_VERSION}`);
    const pointers = koffi.decode(table, 'void*', 209) as bigint[];
    const fns = {} as Record<EntryName, NativeFn>;
    for (const [name, [index, signature]] of Object.entries(ENTRIES) as Array<[EntryName, readonly [number, string]]>) {
      fns[name] = koffi.decode(pointers[index]!, koffi.proto(signature.replace(' f(', ` Ort${name}(`))) as NativeFn;
    }
    this.fns = fns;
  }

  static get(): OrtApi {
    OrtApi.instance ??= new OrtApi();
    return OrtApi.instance;
  }

  /** Calls an entry that returns OrtStatus*; a non-null status becomes an OrtError naming `what`. */
  check(what: string, name: EntryName, ...args: unknown[]): void {
    const status = this.fns[name](...args) as Ptr;
    if (status) {
      const message = this.fns.GetErrorMessage(status) as string;
      this.fns.ReleaseStatus(status);
      throw new OrtError(`${what}: ${message}`);
    }
  }

  /** Calls an entry with one out-pointer last argument and returns what it wrote. */
  out<T = bigint>(what: string, name: EntryName, ...args: unknown[]): T {
    const box: unknown[] = [null];
    this.check(what, name, ...args, box);
    return box[0] as T;
  }

  /** Calls an entry that returns nothing (Release*, Clear*). */
  call(name: EntryName, ...args: unknown[]): void {
    this.fns[name](...args);
  }
}
