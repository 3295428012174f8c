/**
 * Serializes a {@link GraphBuilder} to an ONNX file, with initializer bytes either inline (raw_data) or
 * in a side file (data_location = EXTERNAL). Large tensors stream to the side file chunk by chunk.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onnx, type GraphBuilder, type IModelProto, type ITensorProto } from './graph-builder.ts';
import { BUILDER_VERSION } from './spec.ts';
import { ONNX_DTYPE, byteLength, tensorBytes, tensorChunks, type InitializerDecl } from './tensors.ts';

/** Opsets the generated graphs use: ONNX 17 (LessOrEqual-16, Shape start/end, ReduceMean axes attribute). */
export const OPSET_IMPORTS = [
  { domain: '', version: 17 },
  { domain: 'com.microsoft', version: 1 },
];

/** IR version 8 (ONNX 1.12, the release that introduced opset 17). */
export const IR_VERSION = 8;

/** Tensors smaller than this stay inline even in external-data mode (shape constants and the like). */
const EXTERNAL_MIN_BYTES = 1024;

/** External tensors start at multiples of this, so ONNX Runtime may memory-map them. */
const EXTERNAL_ALIGN = 4096;

export interface WriteOnnxOptions {
  /** Side-file name (placed next to the model), or undefined to keep every tensor inline. */
  externalDataFile?: string;
  graphName: string;
  docString?: string;
}

/** What was written. */
export interface WrittenOnnx {
  modelPath: string;
  modelBytes: number;
  dataPath?: string;
  dataBytes: number;
}

/** Writes `graph` to `modelPath` (and its side file). Output bytes depend only on the graph. */
export function writeOnnxModel(modelPath: string, graph: GraphBuilder, opts: WriteOnnxOptions): WrittenOnnx {
  const dataFile = opts.externalDataFile;
  let initializers: ITensorProto[];
  let dataBytes = 0;
  let dataPath: string | undefined;
  if (dataFile) {
    if (basename(dataFile) !== dataFile) throw new Error('externalDataFile must be a bare file name');
    dataPath = join(dirname(modelPath), dataFile);
    const fd = openSync(dataPath, 'w');
    try {
      initializers = graph.initializers.map((decl) => {
        if (byteLength(decl) < EXTERNAL_MIN_BYTES) return inlineTensor(decl);
        const pad = (EXTERNAL_ALIGN - (dataBytes % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
        if (pad) dataBytes += writeSync(fd, new Uint8Array(pad));
        const offset = dataBytes;
        for (const chunk of tensorChunks(decl)) dataBytes += writeAll(fd, chunk);
        return externalTensor(decl, dataFile, offset, dataBytes - offset);
      });
    } finally {
      closeSync(fd);
    }
  } else {
    initializers = graph.initializers.map(inlineTensor);
  }
  const model: IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: OPSET_IMPORTS,
    producerName: 'nemotron-onnx-modelgen',
    producerVersion: BUILDER_VERSION,
    docString: opts.docString ?? '',
    graph: {
      name: opts.graphName,
      node: graph.nodes,
      initializer: initializers,
      input: graph.inputs,
      output: graph.outputs,
    },
  };
  const bytes = onnx.ModelProto.encode(model).finish();
  writeFileSync(modelPath, bytes);
  return { modelPath, modelBytes: bytes.length, dataPath, dataBytes };
}

function writeAll(fd: number, chunk: Uint8Array): number {
  let done = 0;
  while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
  return done;
}

function inlineTensor(decl: InitializerDecl): ITensorProto {
  return { name: decl.name, dims: decl.dims, dataType: ONNX_DTYPE[decl.type], rawData: tensorBytes(decl) };
}

function externalTensor(decl: InitializerDecl, file: string, offset: number, length: number): ITensorProto {
  return {
    name: decl.name,
    dims: decl.dims,
    dataType: ONNX_DTYPE[decl.type],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: file },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  };
}
