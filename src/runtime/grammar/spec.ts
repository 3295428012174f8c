/**
 * What a request asks the output to be, as plain data: it travels to the model worker inside a
 * GenerationRequest (structured clone), and the worker compiles it (schema.ts) into a grammar.
 */

/** Bounds that keep every constrained value finite, so even a random-weight model terminates. */
export interface ConstraintLimits {
  /** Characters (code points) of a string whose schema gives no maxLength; object keys of free-form objects too. */
  maxStringLength: number;
  /** Digits of a number's integer part. 15 keeps every integer exact in a double. */
  maxIntegerDigits: number;
  /** Digits after the decimal point. */
  maxFractionDigits: number;
  /** Nesting of free-form values (`json_object`, `{}` schemas): deeper than this only scalars are allowed. */
  maxAnyDepth: number;
}

/** The defaults the engine uses for limits a spec leaves out. */
export const DEFAULT_CONSTRAINT_LIMITS: Readonly<ConstraintLimits> = Object.freeze({
  maxStringLength: 256,
  maxIntegerDigits: 15,
  maxFractionDigits: 15,
  maxAnyDepth: 8,
});

/** Largest `maxAnyDepth` accepted (the free-form grammar is built by recursion over it). */
export const MAX_ANY_DEPTH = 64;

/** A JSON Schema document (an object, or `true` for any value). */
export type JsonSchema = boolean | { readonly [key: string]: unknown };

/**
 * A token constraint for one request:
 * - `json_object`: any JSON object (OpenAI `response_format: {type: "json_object"}`);
 * - `json_schema`: a JSON value valid against `schema` (OpenAI `json_schema`, and tool calls forced by
 *   `tool_choice`). See schema.ts for the supported keywords.
 */
export type ConstraintSpec =
  | { readonly type: 'json_object'; readonly limits?: Partial<ConstraintLimits> }
  | { readonly type: 'json_schema'; readonly schema: JsonSchema; readonly limits?: Partial<ConstraintLimits> };

/** A schema the constraint compiler refuses: unsupported keyword, unsatisfiable schema, bad value. */
export class ConstraintError extends Error {
  override name = 'ConstraintError';
  constructor(
    message: string,
    /** JSON pointer of the offending schema location (`#/properties/a`). */
    readonly path: string,
  ) {
    super(path === '#' ? message : `${message} (at ${abbreviate(path)})`);
  }
}

/** A pointer for a message: one past a limit can be hundreds of segments long, so its middle is elided. */
function abbreviate(path: string): string {
  const parts = path.split('/');
  if (path.length <= 240 || parts.length <= 12) return path;
  return [...parts.slice(0, 7), `…${parts.length - 12} more…`, ...parts.slice(-5)].join('/');
}

/** The spec's limits with defaults filled, each checked to be a positive integer. */
export function resolveLimits(spec: ConstraintSpec): ConstraintLimits {
  const out = { ...DEFAULT_CONSTRAINT_LIMITS, ...spec.limits };
  for (const [key, value] of Object.entries(out)) {
    if (!Number.isInteger(value) || value < 1) throw new ConstraintError(`limits.${key} must be a positive integer`, '#');
  }
  if (out.maxAnyDepth > MAX_ANY_DEPTH) throw new ConstraintError(`limits.maxAnyDepth must be at most ${MAX_ANY_DEPTH}`, '#');
  return out;
}
