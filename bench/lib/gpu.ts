/**
 * GPU-only pieces of `npm run bench --gpu`: the host↔device copy bandwidth (measured first, as it also
 * checks that onnxruntime-node's CUDA provider starts at all) and the KV cache's size per token.
 */
import { BaselineProcess } from './child.ts';

/** One copy size's round trip through a one-op CUDA graph. */
export interface GpuCopySize {
  bytes: number;
  roundTripMs: number;
  bytesMovedPerSecond: number;
}

/** Measures host↔device copies in a baseline child; fails with how to install the CUDA build when CUDA does not start. */
export async function measureGpuCopy(repoRoot: string, progress: (msg: string) => void): Promise<GpuCopySize[]> {
  progress('GPU: host↔device copy bandwidth through a one-op CUDA graph (checks the CUDA provider starts)…');
  const proc = BaselineProcess.start(repoRoot, 'gpucopy');
  try {
    return (await proc.call<{ sizes: GpuCopySize[] }>('gpucopy', { sizesBytes: [16 * 2 ** 20, 64 * 2 ** 20, 256 * 2 ** 20] })).sizes;
  } catch (err) {
    throw new Error(
      `the CUDA provider did not start (${(err as Error).message.split('\n')[0]}). Install onnxruntime-node's CUDA build: ` +
        'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js, with CUDA 12 and cuDNN 9 on the library path.',
    );
  } finally {
    await proc.close();
  }
}

/** The fields of a model's config.json that size its KV cache. */
export interface KvConfig {
  num_hidden_layers: number;
  hidden_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  nemotron_onnx?: { dtype?: string };
}

/** Bytes of key and value cache per token, all layers. */
export function kvBytesPerToken(c: KvConfig): number {
  const elem = c.nemotron_onnx?.dtype === 'float16' ? 2 : 4;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  return c.num_hidden_layers * 2 * c.num_key_value_heads * headDim * elem;
}
