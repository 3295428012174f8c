/**
 * Random-weight Llama 3.1 model builder: presets and specs, folder writer, and the float64 reference.
 * See README.md in this folder for the graph I/O of each style.
 */
export {
  BUILDER_VERSION,
  DEFAULT_PRESETS,
  EXTERNAL_DATA_THRESHOLD,
  LLAMA31_ROPE_SCALING,
  PRESETS,
  parameterCount,
  resolveSpec,
  specFingerprint,
  validateSpec,
  type BuildSpec,
  type ExternalDataMode,
  type IoStyle,
  type Llama3RopeScaling,
  type RewardSpec,
  type SpecOverrides,
  type WeightDType,
  type WeightInit,
} from './spec.ts';
export {
  buildModelFolder,
  expectedFiles,
  genaiConfig,
  generationConfig,
  hfConfig,
  isModelFolderComplete,
  onnxPaths,
  usesExternalData,
  type BuiltModel,
} from './folder.ts';
export { LlamaReference, llama3InvFreqFloat64, readOnnxWeights } from './reference.ts';
export { llama3InvFreq, rotaryTables } from './rope.ts';
export { buildOptimumGraph } from './optimum-graph.ts';
export { buildGenaiGraph } from './genai-graph.ts';
