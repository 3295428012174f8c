/**
 * JSON Schema → grammar nodes that the byte automaton (automaton.ts) walks.
 *
 * Supported: `type` (a name or a list; `nullable: true`), object `properties` + `required` (declared
 * properties only, in declared order; optional ones may be skipped; `additionalProperties` matters only
 * for an object with no `properties`: `false` → `{}`, a schema → free-form keys with such values),
 * array `items` + `minItems`/`maxItems`, string `minLength`/`maxLength`, `pattern` (a regular-expression
 * subset: regex-parse.ts) and `format` date-time, date, time, uuid, email, ipv4, ipv6 (formats.ts; see
 * string-schema.ts), number/integer `minimum`/`maximum`/`exclusiveMinimum`/`exclusiveMaximum`, `enum`,
 * `const` (string values filtered by a pattern / format beside them), `anyOf` (and `oneOf`, enforced as
 * anyOf), a one-element `allOf`, local `$ref` (`#/$defs/…`, `#/definitions/…`, recursion included).
 * Annotations (title, description, default, examples, other formats, …) are ignored; validation keywords
 * that cannot be enforced (multipleOf, uniqueItems, not, if/then/else, …) are refused with a
 * ConstraintError naming the keyword and its location.
 *
 * Every node gets `minLen`, the bytes of its shortest valid JSON text (computed as a fixpoint, so
 * recursive schemas work); a schema whose shortest text is infinite or that allows nothing is refused.
 *
 * Limits (bounds.ts, SCHEMA_LIMITS; the schema comes from a client, so each is a ConstraintError naming
 * the limit and the pointer where it was hit, never a stack overflow):
 * - the document nests at most 256 JSON containers deep (checked iteratively before anything else);
 * - subschemas nest at most 64 deep as the compiler descends, each `$ref` expansion one level more;
 * - at most 10,000 nodes: every subschema visit (each `$ref` use included), enum/const value and
 *   required-only property counts one. A `$ref` target is compiled once and shared, so references can
 *   neither loop nor multiply work;
 * - flattening nested anyOf/oneOf unions takes at most 100,000 steps in all;
 * - patterns and formats: bounded length, nesting, repeat counts, automaton states and table cells each,
 *   and compiling all of one schema's takes at most 10,000,000 steps (SCHEMA_LIMITS.maxPattern*).
 * `$ref` resolves through own keys only (`#/__proto__`, `#/definitions/constructor` do not resolve).
 */
import { checkSchemaDocument, escapePointer, resolveRef, SCHEMA_LIMITS } from './bounds.ts';
import { ANNOTATIONS, inferType, nonNegativeInt, type SchemaObject, TYPES, type TypeName, UNSUPPORTED } from './keywords.ts';
import { formatPattern } from './formats.ts';
import { dfaAccepts, PatternBudget } from './regex-dfa.ts';
import { stringDfa, stringRules } from './string-schema.ts';
import { type NumberBounds, type NumberRules, shortestNumber } from './numbers.ts';
import { ConstraintError, type ConstraintLimits, type JsonSchema } from './spec.ts';
import {
  type ArrayNode,
  computeMinLens,
  deriveObjectTables,
  flattenUnion,
  type GrammarNode,
  type LiteralNode,
  type NumberNode,
  type ObjectNode,
  type StringNode,
  type UnionNode,
} from './nodes.ts';

export type { GrammarNode } from './nodes.ts';

const utf8 = new TextEncoder();

/**
 * Compiles `schema` (or, with `schema` undefined, "any JSON object") into its root node.
 * @throws ConstraintError for a schema that cannot be enforced or passes a limit (module comment)
 */
export function compileSchema(schema: JsonSchema | undefined, limits: ConstraintLimits, held?: { cells: number }): GrammarNode {
  checkSchemaDocument(schema);
  const c = new SchemaCompiler(schema, limits);
  const root = schema === undefined ? c.freeObject(c.any(1), '#') : c.compile(schema, '#');
  c.finish();
  if (held) held.cells = c.heldCells;
  if (!Number.isFinite(root.minLen)) throw new ConstraintError('the schema allows no finite JSON value', '#');
  return root;
}

class SchemaCompiler {
  private readonly nodes: GrammarNode[] = [];
  private readonly memo = new Map<object, GrammarNode>();
  private readonly anyByDepth: GrammarNode[] = [];
  private readonly refChain = new Set<string>();
  /** Where each union was declared, for the error when flattening passes its limit. */
  private readonly unionPaths = new Map<UnionNode, string>();
  /** Subschemas being compiled, one inside the other. */
  private depth = 0;
  /** Nodes counted against SCHEMA_LIMITS.maxNodes. */
  private nodeCount = 0;
  /** Work and table cells of this schema's patterns and formats. */
  private readonly budget = new PatternBudget();

  /** Table cells the compiled patterns and formats keep. */
  get heldCells(): number {
    return this.budget.heldCells;
  }

  constructor(
    private readonly root: JsonSchema | undefined,
    private readonly limits: ConstraintLimits,
  ) {}

  /** The node of `schema` at pointer `path`, one level deeper than the caller. */
  compile(schema: unknown, path: string): GrammarNode {
    this.count(1, path);
    if (this.depth >= SCHEMA_LIMITS.maxDepth) {
      throw new ConstraintError(`the schema nests deeper than ${SCHEMA_LIMITS.maxDepth} levels ($ref expansions included)`, path);
    }
    this.depth++;
    try {
      return this.compileHere(schema, path);
    } finally {
      this.depth--;
    }
  }

  private compileHere(schema: unknown, path: string): GrammarNode {
    if (schema === true) return this.any(0);
    if (schema === false) throw new ConstraintError('the schema `false` allows no value', path);
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      throw new ConstraintError('a schema must be an object or a boolean', path);
    }
    const s = schema as SchemaObject;
    const known = this.memo.get(s);
    if (known) return known;
    for (const key of Object.keys(s)) {
      if (UNSUPPORTED.has(key)) throw new ConstraintError(`unsupported JSON Schema keyword '${key}'`, path);
    }
    if (typeof s.$ref === 'string') return this.ref(s, path);
    if (s.const !== undefined || s.enum !== undefined) return this.register(s, this.literal(s, path));
    if (s.anyOf !== undefined || s.oneOf !== undefined || s.allOf !== undefined) return this.combinator(s, path);
    const types = this.types(s, path);
    if (types === null) return this.register(s, this.any(0));
    if (types.length === 1) return this.typed(s, types[0]!, path);
    const union = this.union(s, path);
    union.options = types.map((t) => this.typed(s, t, path, false));
    return union;
  }

  /** Counts `n` nodes against SCHEMA_LIMITS.maxNodes. */
  private count(n: number, path: string): void {
    this.nodeCount += n;
    if (this.nodeCount > SCHEMA_LIMITS.maxNodes) {
      throw new ConstraintError(
        `the schema has more than ${SCHEMA_LIMITS.maxNodes} nodes (subschemas, $ref uses, enum values and required-only properties)`,
        path,
      );
    }
  }

  /** "Any JSON value" at free-form nesting `depth`: past maxAnyDepth only scalars. */
  any(depth: number): GrammarNode {
    const known = this.anyByDepth[depth];
    if (known) return known;
    const union = this.add<UnionNode>({ kind: 'union', minLen: Infinity, options: [], alts: [] });
    this.anyByDepth[depth] = union;
    const scalars: GrammarNode[] = [
      this.stringNode(0, this.limits.maxStringLength),
      this.numberNode({ integer: false, bounds: null, maxIntDigits: this.limits.maxIntegerDigits, maxFracDigits: this.limits.maxFractionDigits }),
      this.literalNode([true, false, null]),
    ];
    if (depth >= this.limits.maxAnyDepth) union.options = scalars;
    else {
      const inner = this.any(depth + 1);
      union.options = [this.freeObject(inner, '#'), this.arrayNode(inner, 0, Infinity), ...scalars];
    }
    return union;
  }

  freeObject(value: GrammarNode, _path: string): ObjectNode {
    return this.add<ObjectNode>({
      kind: 'object',
      minLen: Infinity,
      props: [],
      free: { key: this.stringNode(0, this.limits.maxStringLength), value },
      propCost: [],
      sumReq: [0],
      lastCandidate: [],
    });
  }

  /** Computes every node's minLen (recursion included), the objects' tables and the unions' alternatives. */
  finish(): void {
    computeMinLens(this.nodes);
    let budget = SCHEMA_LIMITS.maxUnionAlternatives;
    for (const node of this.nodes) {
      if (node.kind === 'object') deriveObjectTables(node);
      if (node.kind !== 'union') continue;
      const flat = flattenUnion(node, budget);
      if (flat === null) {
        throw new ConstraintError(
          `nested anyOf/oneOf alternatives expand to more than ${SCHEMA_LIMITS.maxUnionAlternatives} in all`,
          this.unionPaths.get(node) ?? '#',
        );
      }
      node.alts = flat.alts;
      budget -= flat.steps;
    }
  }

  private add<T extends GrammarNode>(node: T): T {
    this.nodes.push(node);
    return node;
  }

  private register<T extends GrammarNode>(s: SchemaObject, node: T): T {
    this.memo.set(s, node);
    return node;
  }

  private union(s: SchemaObject, path: string): UnionNode {
    const node = this.register(s, this.add<UnionNode>({ kind: 'union', minLen: Infinity, options: [], alts: [] }));
    this.unionPaths.set(node, path);
    return node;
  }

  private ref(s: SchemaObject, path: string): GrammarNode {
    const ref = s.$ref as string;
    const target = resolveRef(this.root, ref, path);
    // A target already being compiled is a recursion through structure: its node exists, use it.
    const known = target !== null && typeof target === 'object' ? this.memo.get(target) : undefined;
    if (known) return known;
    if (this.refChain.has(ref)) throw new ConstraintError(`$ref '${ref}' refers to itself without structure`, path);
    this.refChain.add(ref);
    try {
      const node = this.compile(target, ref);
      this.memo.set(s, node);
      return node;
    } finally {
      this.refChain.delete(ref);
    }
  }

  private combinator(s: SchemaObject, path: string): GrammarNode {
    for (const key of Object.keys(s)) {
      const annotation = ANNOTATIONS.has(key) && !(key === 'format' && formatPattern(s.format) !== undefined);
      if (key !== 'anyOf' && key !== 'oneOf' && key !== 'allOf' && !annotation) {
        throw new ConstraintError(`'${key}' beside anyOf/oneOf/allOf is not supported; move it into each alternative`, path);
      }
    }
    const kinds = ['anyOf', 'oneOf', 'allOf'].filter((k) => s[k] !== undefined);
    if (kinds.length > 1) throw new ConstraintError(`only one of anyOf/oneOf/allOf per schema is supported`, path);
    const kind = kinds[0]!;
    const list = s[kind];
    if (!Array.isArray(list) || list.length === 0) throw new ConstraintError(`'${kind}' must be a non-empty array`, `${path}/${kind}`);
    if (kind === 'allOf') {
      if (list.length !== 1) throw new ConstraintError(`'allOf' with more than one schema is not supported`, `${path}/allOf`);
      const node = this.compile(list[0], `${path}/allOf/0`);
      this.memo.set(s, node);
      return node;
    }
    const union = this.union(s, path);
    union.options = list.map((sub, i) => this.compile(sub, `${path}/${kind}/${i}`));
    return union;
  }

  /** The schema's types: from `type` (plus `nullable`), else inferred from keywords; null = any value. */
  private types(s: SchemaObject, path: string): TypeName[] | null {
    let types: TypeName[] | null;
    if (s.type === undefined) types = inferType(s);
    else {
      const list = Array.isArray(s.type) ? s.type : [s.type];
      if (list.length === 0) throw new ConstraintError(`'type' must not be empty`, `${path}/type`);
      for (const t of list) {
        if (!TYPES.includes(t as TypeName)) throw new ConstraintError(`unknown type ${JSON.stringify(t)}`, `${path}/type`);
      }
      types = [...new Set(list as TypeName[])];
    }
    if (s.nullable === true && types !== null && !types.includes('null')) types = [...types, 'null'];
    return types;
  }

  private typed(s: SchemaObject, type: TypeName, path: string, register = true): GrammarNode {
    const reg = <T extends GrammarNode>(n: T): T => (register ? this.register(s, n) : n);
    switch (type) {
      case 'object':
        return this.object(s, path, reg);
      case 'array':
        return this.array(s, path, reg);
      case 'string': {
        const rules = stringRules(s, path, this.limits.maxStringLength, this.budget);
        const node = this.stringNode(rules.minLength, rules.maxLength);
        if (rules.pattern) [node.pattern, node.minLen] = [rules.pattern, 2 + rules.pattern.table[rules.pattern.dfa.start]!];
        return reg(node);
      }
      case 'number':
      case 'integer':
        return reg(this.numberNode(this.numberRules(s, type === 'integer', path)));
      case 'boolean':
        return reg(this.literalNode([true, false]));
      case 'null':
        return reg(this.literalNode([null]));
    }
  }

  private object(s: SchemaObject, path: string, reg: <T extends GrammarNode>(n: T) => T): GrammarNode {
    const props = s.properties ?? {};
    if (props === null || typeof props !== 'object' || Array.isArray(props)) {
      throw new ConstraintError(`'properties' must be an object`, `${path}/properties`);
    }
    const required = s.required ?? [];
    if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) {
      throw new ConstraintError(`'required' must be an array of strings`, `${path}/required`);
    }
    const names = Object.keys(props);
    const declaredNames = new Set(names);
    const req = new Set(required as string[]);
    const extra = [...req].filter((r) => !declaredNames.has(r));
    this.count(extra.length, path);
    if (extra.length > 0 && s.additionalProperties === false) {
      throw new ConstraintError(`required property '${extra[0]}' is not declared while additionalProperties is false`, path);
    }
    const declared = names.length + extra.length > 0;
    if (!declared && s.additionalProperties !== false) {
      const ap = s.additionalProperties;
      const value = ap === undefined || ap === true ? this.any(1) : this.compile(ap, `${path}/additionalProperties`);
      return reg(this.freeObject(value, path));
    }
    const node = reg(
      this.add<ObjectNode>({ kind: 'object', minLen: Infinity, props: [], free: null, propCost: [], sumReq: [], lastCandidate: [] }),
    );
    node.props = [
      ...names.map((name) => ({
        name,
        key: utf8.encode(JSON.stringify(name)),
        node: this.compile((props as Record<string, unknown>)[name], `${path}/properties/${escapePointer(name)}`),
        required: req.has(name),
      })),
      ...extra.map((name) => ({ name, key: utf8.encode(JSON.stringify(name)), node: this.any(1), required: true })),
    ];
    return node;
  }

  private array(s: SchemaObject, path: string, reg: <T extends GrammarNode>(n: T) => T): GrammarNode {
    if (Array.isArray(s.items)) throw new ConstraintError(`tuple 'items' (an array of schemas) is not supported`, `${path}/items`);
    if (s.uniqueItems === true) throw new ConstraintError(`unsupported JSON Schema keyword 'uniqueItems'`, path);
    const minItems = nonNegativeInt(s, 'minItems', path) ?? 0;
    let maxItems = nonNegativeInt(s, 'maxItems', path) ?? Infinity;
    if (minItems > maxItems) throw new ConstraintError('minItems is greater than maxItems', path);
    if (s.items === false) {
      if (minItems > 0) throw new ConstraintError('items is false but minItems > 0', path);
      maxItems = 0;
    }
    const node = reg(this.arrayNode(this.any(0), minItems, maxItems));
    if (s.items !== undefined && s.items !== false) node.items = this.compile(s.items, `${path}/items`);
    return node;
  }

  private numberRules(s: SchemaObject, integer: boolean, path: string): NumberRules {
    if (s.multipleOf !== undefined && !(integer && s.multipleOf === 1)) {
      throw new ConstraintError(`unsupported JSON Schema keyword 'multipleOf'`, path);
    }
    const num = (key: string): number | undefined => {
      const v = s[key];
      if (v === undefined || typeof v === 'boolean') return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConstraintError(`'${key}' must be a finite number`, `${path}/${key}`);
      return v;
    };
    const bounds: NumberBounds = { lo: -Infinity, hi: Infinity, loExclusive: false, hiExclusive: false };
    const min = num('minimum');
    const max = num('maximum');
    const exMin = num('exclusiveMinimum');
    const exMax = num('exclusiveMaximum');
    if (min !== undefined) [bounds.lo, bounds.loExclusive] = [min, s.exclusiveMinimum === true];
    if (exMin !== undefined && exMin >= bounds.lo) [bounds.lo, bounds.loExclusive] = [exMin, true];
    if (max !== undefined) [bounds.hi, bounds.hiExclusive] = [max, s.exclusiveMaximum === true];
    if (exMax !== undefined && exMax <= bounds.hi) [bounds.hi, bounds.hiExclusive] = [exMax, true];
    const bounded = bounds.lo !== -Infinity || bounds.hi !== Infinity;
    if (bounded && integer) {
      // Integers: inclusive integer bounds, so the grid search needs no exclusivity.
      bounds.lo = bounds.loExclusive ? Math.floor(bounds.lo) + 1 : Math.ceil(bounds.lo);
      bounds.hi = bounds.hiExclusive ? Math.ceil(bounds.hi) - 1 : Math.floor(bounds.hi);
      bounds.loExclusive = bounds.hiExclusive = false;
    }
    return {
      integer,
      bounds: bounded ? bounds : null,
      maxIntDigits: this.limits.maxIntegerDigits,
      maxFracDigits: this.limits.maxFractionDigits,
    };
  }

  private literal(s: SchemaObject, path: string): LiteralNode {
    let values: unknown[];
    if (s.const !== undefined) values = [s.const];
    else if (Array.isArray(s.enum) && s.enum.length > 0) values = s.enum;
    else throw new ConstraintError(`'enum' must be a non-empty array`, `${path}/enum`);
    this.count(values.length, path);
    // A pattern / format beside enum or const keeps the string values it matches.
    const dfa = stringDfa(s, path, this.budget);
    if (dfa) values = values.filter((v) => typeof v !== 'string' || dfaAccepts(dfa, v));
    if (values.length === 0) throw new ConstraintError(`no enum/const value matches the schema's pattern or format`, path);
    return this.literalNode(values);
  }

  private literalNode(values: unknown[]): LiteralNode {
    const texts = [...new Set(values.map((v) => JSON.stringify(v)))];
    const bytes = texts.map((t) => utf8.encode(t));
    let minLen = Infinity;
    for (const b of bytes) if (b.length < minLen) minLen = b.length;
    return this.add<LiteralNode>({ kind: 'literal', minLen, values: bytes });
  }

  private stringNode(minLength: number, maxLength: number): StringNode {
    return this.add<StringNode>({ kind: 'string', minLen: 2 + minLength, minLength, maxLength });
  }

  private numberNode(rules: NumberRules): NumberNode {
    return this.add<NumberNode>({ kind: 'number', minLen: shortestNumber(rules), rules });
  }

  private arrayNode(items: GrammarNode, minItems: number, maxItems: number): ArrayNode {
    return this.add<ArrayNode>({ kind: 'array', minLen: Infinity, items, minItems, maxItems });
  }
}
