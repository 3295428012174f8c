/**
 * Bounds on what a client's schema may cost the server. A schema arrives in a request body, so its
 * nesting and size are the client's choice; every walk over it is either iterative or bounded by these
 * limits well below the stack limit, and passing one is a ConstraintError (a 400 at the edge) naming the
 * limit and the JSON pointer where it was hit.
 */
import { ConstraintError } from './spec.ts';

/** The limits a schema is held to (see the module comment of schema.ts for what counts). */
export const SCHEMA_LIMITS = Object.freeze({
  /** Subschemas nested inside one another as the compiler descends (`$ref` expansions included). */
  maxDepth: 64,
  /** Subschema visits (each `$ref` use included), enum/const values and required-only properties. */
  maxNodes: 10_000,
  /** JSON nesting of the whole document (annotations, enum values and `$defs` included). */
  maxDocumentDepth: 256,
  /** anyOf/oneOf alternatives summed over every union after flattening nested unions. */
  maxUnionAlternatives: 100_000,
  /** Characters (UTF-16 units) of one `pattern`. */
  maxPatternLength: 4_096,
  /** Groups nested inside one another in a `pattern`. */
  maxPatternNesting: 64,
  /** The largest count of a `{n,m}` quantifier. */
  maxPatternRepeat: 1_000,
  /** States of a pattern's nondeterministic automaton (counted repeats expand into copies). */
  maxPatternNfaStates: 20_000,
  /** States of a pattern's (or format's) deterministic automaton as the subset construction builds it, before minimization. */
  maxPatternDfaStates: 20_000,
  /**
   * Cells of pattern tables (states × character classes, states × (maxLength + 1)): of one pattern, and
   * of all the patterns and formats of one schema together.
   */
  maxPatternCells: 1_000_000,
  /** Steps of compiling every pattern and format of one schema, in all (closure steps and table entries). */
  maxPatternWork: 10_000_000,
});

/** One container on the walk's stack, with the way back to the root for the error's pointer. */
interface Entry {
  readonly value: unknown;
  readonly depth: number;
  readonly key: string;
  readonly parent: Entry | null;
}

/**
 * Checks that the JSON value `doc` nests at most `maxDocumentDepth` containers deep (iteratively, so any
 * depth is safe to check). Afterwards recursive walks over it (JSON.stringify, structured clone, the
 * compiler, template rendering) stay far from the stack limit.
 * @throws ConstraintError naming the limit and the pointer of the first container past it
 */
export function checkSchemaDocument(doc: unknown): void {
  const stack: Entry[] = [{ value: doc, depth: 0, key: '', parent: null }];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    const value = entry.value;
    if (value === null || typeof value !== 'object') continue;
    const depth = entry.depth + 1;
    if (depth > SCHEMA_LIMITS.maxDocumentDepth) {
      throw new ConstraintError(`the schema document nests deeper than ${SCHEMA_LIMITS.maxDocumentDepth} levels`, pointerOf(entry));
    }
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pushIfContainer(stack, value[i], depth, String(i), entry);
    } else {
      for (const [key, v] of Object.entries(value)) pushIfContainer(stack, v, depth, key, entry);
    }
  }
}

function pushIfContainer(stack: Entry[], value: unknown, depth: number, key: string, parent: Entry): void {
  if (value !== null && typeof value === 'object') stack.push({ value, depth, key, parent });
}

function pointerOf(entry: Entry): string {
  const keys: string[] = [];
  for (let e: Entry | null = entry; e !== null && e.parent !== null; e = e.parent) keys.push(escapePointer(e.key));
  return keys.length === 0 ? '#' : `#/${keys.reverse().join('/')}`;
}

/** A key as a JSON pointer segment (RFC 6901). */
export function escapePointer(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/**
 * The value a local `$ref` (`#/…`, a JSON pointer) names inside `root`. Only own keys and array
 * indices resolve, so `#/__proto__` or `#/definitions/constructor` reach nothing unless the document
 * really holds such a key.
 * @param path - pointer of the schema holding the `$ref`, for errors
 * @throws ConstraintError naming the ref when it is not local or does not resolve
 */
export function resolveRef(root: unknown, ref: string, path: string): unknown {
  if (ref !== '#' && !ref.startsWith('#/')) throw new ConstraintError(`only local $ref ('#/…') is supported, not '${ref}'`, path);
  let at = root;
  for (const raw of ref === '#' ? [] : ref.slice(2).split('/')) {
    let part: string;
    try {
      part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      throw new ConstraintError(`$ref '${ref}' is not a valid URI fragment`, path);
    }
    if (Array.isArray(at) && ARRAY_INDEX.test(part) && Number(part) < at.length) at = at[Number(part)];
    else if (at !== null && typeof at === 'object' && !Array.isArray(at) && Object.hasOwn(at, part)) {
      at = (at as Record<string, unknown>)[part];
    } else throw new ConstraintError(`$ref '${ref}' does not resolve: there is no key '${part}' to follow`, path);
  }
  return at;
}
