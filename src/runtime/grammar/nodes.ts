/**
 * Grammar nodes: what a compiled schema is made of (schema.ts builds them), with each node's `minLen`
 * (bytes of its shortest valid JSON text) and the derived tables the object frames read.
 */
import type { NumberRules } from './numbers.ts';
import type { PatternRules } from './pattern-frame.ts';

/** An object: declared properties in order, or (`free`) any keys with values of one node. */
export interface ObjectNode {
  kind: 'object';
  minLen: number;
  props: PropertyNode[];
  free: { key: StringNode; value: GrammarNode } | null;
  /** Bytes of property j written out: key literal, ':' and its value's minLen. */
  propCost: number[];
  /** sumReq[j] = Σ over required k >= j of (1 + propCost[k]) (each with its leading comma); length n + 1. */
  sumReq: number[];
  /** lastCandidate[j]: the last property index that may come next when j is the next slot (length n). */
  lastCandidate: number[];
}

/** One declared property. */
export interface PropertyNode {
  name: string;
  /** UTF-8 bytes of the key as written, quotes included (JSON.stringify). */
  key: Uint8Array;
  node: GrammarNode;
  required: boolean;
}

export interface ArrayNode {
  kind: 'array';
  minLen: number;
  items: GrammarNode;
  minItems: number;
  maxItems: number;
}

export interface StringNode {
  kind: 'string';
  minLen: number;
  minLength: number;
  maxLength: number;
  /** A `pattern` or enforced `format` (its lengths are the node's); absent: any string within the lengths. */
  pattern?: PatternRules;
}

export interface NumberNode {
  kind: 'number';
  minLen: number;
  rules: NumberRules;
}

/** A finite set of exact JSON texts (enum, const, booleans, null). */
export interface LiteralNode {
  kind: 'literal';
  minLen: number;
  values: Uint8Array[];
}

/** A choice; `alts` is the flattened list of non-union alternatives. */
export interface UnionNode {
  kind: 'union';
  minLen: number;
  options: GrammarNode[];
  alts: LeafNode[];
}

export type LeafNode = ObjectNode | ArrayNode | StringNode | NumberNode | LiteralNode;
export type GrammarNode = LeafNode | UnionNode;

/** minLen from the children's current values (Infinity while unknown). */
export function minLenOf(node: GrammarNode): number {
  switch (node.kind) {
    case 'string':
    case 'number':
    case 'literal':
      return node.minLen;
    case 'union': {
      let best = Infinity;
      for (const o of node.options) if (o.minLen < best) best = o.minLen;
      return best;
    }
    case 'array': {
      const n = node.minItems;
      return n === 0 ? 2 : 2 + n * node.items.minLen + (n - 1);
    }
    case 'object': {
      if (node.free) return 2;
      let sum = 0;
      let required = 0;
      for (const p of node.props) {
        if (!p.required) continue;
        sum += p.key.length + 1 + p.node.minLen;
        required++;
      }
      return 2 + sum + Math.max(0, required - 1);
    }
  }
}

/** The nodes whose minLen a node's minLen is computed from (one entry per use). */
function dependencies(node: GrammarNode): readonly GrammarNode[] {
  switch (node.kind) {
    case 'union':
      return node.options;
    case 'array':
      return node.minItems === 0 ? [] : [node.items];
    case 'object':
      return node.free ? [] : node.props.filter((p) => p.required).map((p) => p.node);
    default:
      return [];
  }
}

/**
 * Sets every node's minLen: the bytes of its shortest valid text, Infinity when it has none (recursion
 * without a way out). Knuth's generalization of Dijkstra's algorithm: a node's minLen is a "superior"
 * function of its dependencies' (a union's is their minimum; an array's or object's a sum at least as
 * large as each), so the smallest tentative value is final when taken. O(E log V) whatever the shape;
 * a union's tentative value lives in its minLen until final, every other node waits for all its
 * dependencies.
 */
export function computeMinLens(nodes: readonly GrammarNode[]): void {
  const parents = new Map<GrammarNode, GrammarNode[]>();
  const pending = new Map<GrammarNode, number>();
  const final = new Set<GrammarNode>();
  const queue = new MinQueue();
  for (const node of nodes) {
    const deps = dependencies(node);
    if (deps.length === 0) node.minLen = minLenOf(node);
    else node.minLen = Infinity;
    if (Number.isFinite(node.minLen)) queue.push(node.minLen, node);
    pending.set(node, deps.length);
    for (const d of deps) {
      const list = parents.get(d);
      if (list) list.push(node);
      else parents.set(d, [node]);
    }
  }
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    const [len, node] = next;
    if (final.has(node)) continue;
    final.add(node);
    node.minLen = len;
    for (const p of parents.get(node) ?? []) {
      if (final.has(p)) continue;
      if (p.kind === 'union') {
        if (len < p.minLen) queue.push((p.minLen = len), p);
        continue;
      }
      const left = pending.get(p)! - 1;
      pending.set(p, left);
      if (left === 0) queue.push((p.minLen = minLenOf(p)), p);
    }
  }
}

/** A binary min-heap of (key, node). */
class MinQueue {
  private readonly keys: number[] = [];
  private readonly items: GrammarNode[] = [];

  push(key: number, item: GrammarNode): void {
    const { keys, items } = this;
    let i = keys.length;
    keys.push(key);
    items.push(item);
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (keys[up]! <= key) break;
      keys[i] = keys[up]!;
      items[i] = items[up]!;
      i = up;
    }
    keys[i] = key;
    items[i] = item;
  }

  pop(): [number, GrammarNode] | undefined {
    const { keys, items } = this;
    if (keys.length === 0) return undefined;
    const top: [number, GrammarNode] = [keys[0]!, items[0]!];
    const key = keys.pop()!;
    const item = items.pop()!;
    const n = keys.length;
    if (n === 0) return top;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1]! < keys[child]!) child++;
      if (keys[child]! >= key) break;
      keys[i] = keys[child]!;
      items[i] = items[child]!;
      i = child;
    }
    keys[i] = key;
    items[i] = item;
    return top;
  }
}

export function deriveObjectTables(node: ObjectNode): void {
  const n = node.props.length;
  node.propCost = node.props.map((p) => p.key.length + 1 + p.node.minLen);
  node.sumReq = new Array<number>(n + 1).fill(0);
  node.lastCandidate = new Array<number>(n).fill(n - 1);
  let nextRequired = -1;
  for (let j = n - 1; j >= 0; j--) {
    const p = node.props[j]!;
    node.sumReq[j] = node.sumReq[j + 1]! + (p.required ? 1 + node.propCost[j]! : 0);
    if (p.required) nextRequired = j;
    node.lastCandidate[j] = nextRequired === -1 ? n - 1 : nextRequired;
  }
}

/**
 * The non-union alternatives reachable through `root`'s options, in depth-first order (iterative: union
 * chains can be long). Returns null when that takes more than `budget` steps.
 */
export function flattenUnion(root: UnionNode, budget: number): { alts: LeafNode[]; steps: number } | null {
  const out = new Set<LeafNode>();
  const seen = new Set<UnionNode>([root]);
  const stack: GrammarNode[] = [...root.options].reverse();
  let steps = 0;
  while (stack.length > 0) {
    if (++steps > budget) return null;
    const n = stack.pop()!;
    if (n.kind !== 'union') out.add(n);
    else if (!seen.has(n)) {
      seen.add(n);
      for (let i = n.options.length - 1; i >= 0; i--) stack.push(n.options[i]!);
    }
  }
  return { alts: [...out], steps };
}
