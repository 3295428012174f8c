/**
 * A small ONNX graph builder: nodes, graph inputs/outputs with symbolic dims, and initializers declared
 * lazily (see tensors.ts). Names are generated from a counter, never from anything nondeterministic.
 */
import onnxProto from 'onnx-proto';
import { ONNX_DTYPE, type ElemType, type InitializerDecl, type TensorSource } from './tensors.ts';

export const { onnx } = onnxProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;

/**
 * Attribute values: a number is an INT, `{ f }` a FLOAT, a number[] INTS, a string STRING.
 * (Plain numbers are ints so that an integer-valued float attribute is never written by accident.)
 */
export type AttrValue = number | { f: number } | number[] | string;

/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

const AttrType = onnx.AttributeProto.AttributeType;

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AttrType.INT, i: v };
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttrType.INTS, ints: v };
  return { name, type: AttrType.FLOAT, f: v.f };
}

/** Value info of a tensor with the given element type and shape. */
export function valueInfo(name: string, type: ElemType, dims: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Options of one node. */
export interface NodeOptions {
  /** Output names (default: generated); a number asks for that many generated outputs. */
  outputs?: string[] | number;
  domain?: string;
  /** Node name; default `<scope>/<op>_<n>`. */
  name?: string;
}

/** Builds one graph. Scopes (`withScope`) prefix generated names, like exporters' `/model/layers.0/attn/...`. */
export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: InitializerDecl[] = [];
  readonly inputs: IValueInfoProto[] = [];
  readonly outputs: IValueInfoProto[] = [];
  private counter = 0;
  private scope = '';
  private readonly constCache = new Map<string, string>();

  /** Runs `fn` with generated names prefixed by `scope`. */
  withScope<T>(scope: string, fn: () => T): T {
    const saved = this.scope;
    this.scope = scope;
    try {
      return fn();
    } finally {
      this.scope = saved;
    }
  }

  /** Adds a node; returns its output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string[] {
    const id = this.counter++;
    const base = opts.name ?? `${this.scope}/${op}_${id}`;
    const outputs =
      Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, k) => `${base}/output_${k}`);
    this.nodes.push({
      name: base,
      opType: op,
      domain: opts.domain ?? '',
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Adds a single-output node; returns the output name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string {
    return this.node(op, inputs, attrs, opts)[0]!;
  }

  /** Declares a graph input. */
  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declares a graph output (the producing node must write `name`). */
  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Declares an initializer. */
  initializer(name: string, type: ElemType, dims: number[], source: TensorSource): string {
    if (this.initializers.some((d) => d.name === name)) throw new Error(`duplicate initializer ${name}`);
    this.initializers.push({ name, type, dims, source });
    return name;
  }

  /** A constant tensor (deduplicated by type, shape and values). `dims` [] is a scalar. */
  constant(type: ElemType, values: number[], dims: number[] = [values.length]): string {
    const key = `${type}|${dims.join(',')}|${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${type}_${this.constCache.size}`;
    this.initializer(name, type, dims, { kind: 'values', values });
    this.constCache.set(key, name);
    return name;
  }

  /** int64 vector constant (shapes, axes, starts/ends). */
  i64(values: number[]): string {
    return this.constant('int64', values);
  }

  /** int64 scalar constant. */
  i64Scalar(value: number): string {
    return this.constant('int64', [value], []);
  }
}
