/**
 * A plain TypeScript float64 forward pass of a generated Llama 3.1 model, for checking the ONNX graphs.
 *
 * The weights are read back from the written ONNX file (inline raw_data or external data), and the
 * dimensions and rope parameters from config.json, so a mismatch anywhere between the builder's graph
 * and the Llama architecture shows up as different logits. Single sequence, no padding, no cache:
 * position p of the token list has position id p.
 *
 * The rope frequencies are recomputed here in float64 straight from transformers' llama3 formula (an
 * independent implementation of rope.ts's float32 one).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { onnx, type ITensorProto } from './graph-builder.ts';
import { fromHalfBits } from './tensors.ts';
import { layerWeightNames, MODEL_WEIGHT_NAMES, type LayerWeights } from './weights.ts';

/** The config.json fields the forward pass needs. */
export interface ReferenceConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  num_hidden_layers: number;
  vocab_size: number;
  rms_norm_eps: number;
  rope_theta: number;
  rope_scaling: {
    factor: number;
    low_freq_factor: number;
    high_freq_factor: number;
    original_max_position_embeddings: number;
  };
}

/** Llama 3.1 inverse frequencies in float64 (transformers' `_compute_llama3_parameters`). */
export function llama3InvFreqFloat64(headDim: number, theta: number, s: ReferenceConfig['rope_scaling']): Float64Array {
  const out = new Float64Array(headDim / 2);
  const lowWavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const highWavelen = s.original_max_position_embeddings / s.high_freq_factor;
  for (let i = 0; i < out.length; i++) {
    const inv = 1 / Math.pow(theta, (2 * i) / headDim);
    const wavelen = (2 * Math.PI) / inv;
    if (wavelen < highWavelen) out[i] = inv;
    else if (wavelen > lowWavelen) out[i] = inv / s.factor;
    else {
      const smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      out[i] = (1 - smooth) * (inv / s.factor) + smooth * inv;
    }
  }
  return out;
}

/** Reads every float initializer of an ONNX file (widened to Float32Array; float16 converts exactly). */
export function readOnnxWeights(onnxPath: string): Map<string, { dims: number[]; data: Float32Array }> {
  const model = onnx.ModelProto.decode(readFileSync(onnxPath));
  const out = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataType !== onnx.TensorProto.DataType.FLOAT && t.dataType !== onnx.TensorProto.DataType.FLOAT16) continue;
    const bytes = tensorRawBytes(t, dirname(onnxPath));
    const dims = (t.dims ?? []).map(Number);
    let data: Float32Array;
    if (t.dataType === onnx.TensorProto.DataType.FLOAT) {
      data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    } else {
      const half = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
      data = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) data[i] = fromHalfBits(half[i]!);
    }
    out.set(t.name ?? '', { dims, data });
  }
  return out;
}

/** A tensor's bytes in a fresh (aligned) buffer, from raw_data or its external data file. */
function tensorRawBytes(t: ITensorProto, baseDir: string): Uint8Array {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    const kv = new Map((t.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const offset = Number(kv.get('offset') ?? 0);
    const length = Number(kv.get('length'));
    const out = new Uint8Array(length);
    const fd = openSync(join(baseDir, kv.get('location')!), 'r');
    try {
      let done = 0;
      while (done < length) done += readSync(fd, out, done, length - done, offset + done);
    } finally {
      closeSync(fd);
    }
    return out;
  }
  if (!t.rawData) throw new Error(`initializer ${t.name} has no raw_data`);
  return new Uint8Array(t.rawData); // copy: raw_data views may be unaligned
}

/** y = x @ W for a row vector x [n] and W [n, m] (row-major), accumulated in float64. */
function vecMat(x: Float64Array, w: Float32Array, m: number): Float64Array {
  const y = new Float64Array(m);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const row = i * m;
    for (let j = 0; j < m; j++) y[j]! += xi * w[row + j]!;
  }
  return y;
}

function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * r * w[i]!;
  return y;
}

/** Rotates each head of `v` (heads × headDim, non-interleaved halves) in place for position `pos`. */
function rotate(v: Float64Array, heads: number, headDim: number, invFreq: Float64Array, pos: number): void {
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    const o = h * headDim;
    for (let i = 0; i < half; i++) {
      const c = Math.cos(pos * invFreq[i]!);
      const s = Math.sin(pos * invFreq[i]!);
      const a = v[o + i]!;
      const b = v[o + i + half]!;
      v[o + i] = a * c - b * s;
      v[o + i + half] = b * c + a * s;
    }
  }
}

/** The float64 reference model of one generated folder. */
export class LlamaReference {
  readonly invFreq: Float64Array;

  private constructor(
    readonly config: ReferenceConfig,
    private readonly weights: Map<string, { dims: number[]; data: Float32Array }>,
  ) {
    this.invFreq = llama3InvFreqFloat64(config.head_dim, config.rope_theta, config.rope_scaling);
  }

  /** Loads a model folder written by the builder (either layout). */
  static fromFolder(dir: string): LlamaReference {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as ReferenceConfig & {
      nemotron_onnx?: { onnx_file?: string };
    };
    const onnxFile = config.nemotron_onnx?.onnx_file ?? 'onnx/model.onnx';
    return new LlamaReference(config, readOnnxWeights(join(dir, onnxFile)));
  }

  private w(name: string): Float32Array {
    const t = this.weights.get(name);
    if (!t) throw new Error(`weight ${name} not found in the ONNX file`);
    return t.data;
  }

  /**
   * Logits for each position of `tokens` (or only the last when `lastOnly`), as float64 rows of length vocab.
   */
  logits(tokens: readonly number[], opts: { lastOnly?: boolean } = {}): Float64Array[] {
    const c = this.config;
    const hidden = c.hidden_size;
    const embed = this.w(MODEL_WEIGHT_NAMES.embed);
    let xs = tokens.map((t) => Float64Array.from(embed.subarray(t * hidden, (t + 1) * hidden)));
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const n = layerWeightNames(l);
      const attn = this.attention(xs, n);
      xs = xs.map((x, pos) => {
        const x1 = x.map((v, i) => v + attn[pos]![i]!);
        const mlp = this.mlp(rmsNorm(x1, this.w(n.postAttentionNorm), c.rms_norm_eps), n);
        return x1.map((v, i) => v + mlp[i]!);
      });
    }
    const finalNorm = this.w(MODEL_WEIGHT_NAMES.finalNorm);
    const lmHead = this.w(MODEL_WEIGHT_NAMES.lmHead);
    const rows = opts.lastOnly ? xs.slice(-1) : xs;
    return rows.map((x) => vecMat(rmsNorm(x, finalNorm, c.rms_norm_eps), lmHead, c.vocab_size));
  }

  /** Causal grouped-query self-attention of one layer (input RMSNorm included): o_proj output per position. */
  private attention(xs: Float64Array[], n: LayerWeights): Float64Array[] {
    const c = this.config;
    const { head_dim: d, num_attention_heads: nq, num_key_value_heads: nkv } = c;
    const group = nq / nkv;
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    xs.forEach((x, pos) => {
      const h = rmsNorm(x, this.w(n.inputNorm), c.rms_norm_eps);
      const q = vecMat(h, this.w(n.q), nq * d);
      const k = vecMat(h, this.w(n.k), nkv * d);
      rotate(q, nq, d, this.invFreq, pos);
      rotate(k, nkv, d, this.invFreq, pos);
      qs.push(q);
      ks.push(k);
      vs.push(vecMat(h, this.w(n.v), nkv * d));
    });
    return qs.map((q, pos) => {
      const ctx = new Float64Array(nq * d);
      for (let head = 0; head < nq; head++) {
        const kvOff = Math.floor(head / group) * d; // query head → its KV head (repeat_kv)
        const probs = new Float64Array(pos + 1);
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += q[head * d + i]! * ks[j]![kvOff + i]!;
          probs[j] = s / Math.sqrt(d);
        }
        softmaxInPlace(probs);
        for (let j = 0; j <= pos; j++) {
          for (let i = 0; i < d; i++) ctx[head * d + i]! += probs[j]! * vs[j]![kvOff + i]!;
        }
      }
      return vecMat(ctx, this.w(n.o), c.hidden_size);
    });
  }

  /** SwiGLU MLP of one layer on an already normalized input. */
  private mlp(h: Float64Array, n: LayerWeights): Float64Array {
    const inter = this.config.intermediate_size;
    const gate = vecMat(h, this.w(n.gate), inter);
    const up = vecMat(h, this.w(n.up), inter);
    const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    return vecMat(act, this.w(n.down), this.config.hidden_size);
  }
}

function softmaxInPlace(v: Float64Array): void {
  let max = -Infinity;
  for (const x of v) max = Math.max(max, x);
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] = Math.exp(v[i]! - max);
  for (let i = 0; i < v.length; i++) v[i]! /= sum;
}
