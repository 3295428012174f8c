/**
 * Grammar nodes: what a compiled schema is made of (schema.ts builds them), with each node's `minLen`
 * (bytes of its shortest valid JSON text) and the derived tables the object frames read.
 */
import type { NumberRules } from './numbers.ts';

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
    case 'union':
      return Math.min(Infinity, ...node.options.map((o) => o.minLen));
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

export function flattenUnion(root: UnionNode): LeafNode[] {
  const out = new Set<LeafNode>();
  const seen = new Set<UnionNode>();
  const visit = (n: GrammarNode): void => {
    if (n.kind !== 'union') out.add(n);
    else if (!seen.has(n)) {
      seen.add(n);
      n.options.forEach(visit);
    }
  };
  visit(root);
  return [...out];
}
