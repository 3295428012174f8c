/**
 * OpenAI `tools` and `tool_choice`: validation at the edge (400s naming the field) and the constraint
 * that forces a call for `tool_choice: "required"` or a named function.
 *
 * The forced call is the Llama 3.1 JSON tool-call shape the chat template asks for:
 * `{"name": "<function>", "parameters": {...}}`, with `parameters` valid against the function's schema.
 */
import { checkSchemaDocument, compileConstraint, ConstraintError, type ConstraintSpec, SCHEMA_LIMITS } from '../../runtime/grammar/index.ts';
import { invalidRequest } from '../errors.ts';

/** A validated function tool. */
export interface FunctionTool {
  type: 'function';
  function: {
    name: string;
    description?: string;
    /** JSON Schema of the arguments (an object schema); absent means no arguments. */
    parameters?: Record<string, unknown>;
    strict?: boolean;
  };
}

/** A validated tool_choice. */
export type ToolChoice = { type: 'none' } | { type: 'auto' } | { type: 'required' } | { type: 'function'; name: string };

/** OpenAI's limit on tools per request. */
export const MAX_TOOLS = 128;
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Validates a request's `tools` (undefined or null → none).
 * @throws ApiError 400 naming the field, e.g. `tools[0].function.name`
 */
export function validateTools(value: unknown): FunctionTool[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidRequest(`Invalid type for 'tools': expected an array`, 'tools', 'invalid_type');
  if (value.length > MAX_TOOLS) throw invalidRequest(`'tools' may hold at most ${MAX_TOOLS} tools, got ${value.length}`, 'tools');
  const seen = new Set<string>();
  return value.map((tool: unknown, i: number) => {
    const at = `tools[${i}]`;
    if (!isPlainObject(tool)) throw invalidRequest(`Invalid type for '${at}': expected an object`, at, 'invalid_type');
    if (tool.type !== 'function') {
      throw invalidRequest(`Invalid value for '${at}.type': ${JSON.stringify(tool.type)}; only 'function' is supported`, `${at}.type`);
    }
    const fn = tool.function;
    if (!isPlainObject(fn)) throw invalidRequest(`Missing required parameter: '${at}.function'`, `${at}.function`);
    if (typeof fn.name !== 'string' || !NAME.test(fn.name)) {
      throw invalidRequest(
        `Invalid '${at}.function.name': ${JSON.stringify(fn.name)}; it must match ^[a-zA-Z0-9_-]{1,64}$`,
        `${at}.function.name`,
        'invalid_value',
      );
    }
    if (seen.has(fn.name)) throw invalidRequest(`Duplicate function name '${fn.name}' in '${at}.function.name'`, `${at}.function.name`);
    seen.add(fn.name);
    if (fn.description !== undefined && typeof fn.description !== 'string') {
      throw invalidRequest(`Invalid type for '${at}.function.description': expected a string`, `${at}.function.description`, 'invalid_type');
    }
    if (fn.parameters !== undefined && !isPlainObject(fn.parameters)) {
      throw invalidRequest(`Invalid type for '${at}.function.parameters': expected a JSON Schema object`, `${at}.function.parameters`, 'invalid_type');
    }
    if (isPlainObject(fn.parameters)) checkParametersDocument(fn.parameters, `${at}.function.parameters`);
    if (isPlainObject(fn.parameters) && fn.parameters.type !== undefined && fn.parameters.type !== 'object') {
      throw invalidRequest(`Invalid '${at}.function.parameters.type': the parameters schema must be of type 'object'`, `${at}.function.parameters.type`);
    }
    if (fn.strict !== undefined && fn.strict !== null && typeof fn.strict !== 'boolean') {
      throw invalidRequest(`Invalid type for '${at}.function.strict': expected a boolean`, `${at}.function.strict`, 'invalid_type');
    }
    const out: FunctionTool = { type: 'function', function: { name: fn.name } };
    if (typeof fn.description === 'string') out.function.description = fn.description;
    if (isPlainObject(fn.parameters)) out.function.parameters = fn.parameters;
    if (typeof fn.strict === 'boolean') out.function.strict = fn.strict;
    return out;
  });
}

/**
 * Bounds a parameters schema's nesting whether or not a call is forced: the chat template renders it
 * into the prompt and `rebaseRefs` copies it, both by recursion.
 */
function checkParametersDocument(parameters: Record<string, unknown>, param: string): void {
  try {
    checkSchemaDocument(parameters);
  } catch (err) {
    throw err instanceof ConstraintError ? invalidRequest(`Invalid '${param}': ${err.message}`, param) : err;
  }
}

/**
 * Validates `tool_choice` against the declared tools. Absent: "auto" with tools, "none" without.
 * @throws ApiError 400 naming `tool_choice` (or `tool_choice.function.name` for an undeclared function)
 */
export function validateToolChoice(value: unknown, tools: readonly FunctionTool[]): ToolChoice {
  if (value === undefined || value === null) return { type: tools.length > 0 ? 'auto' : 'none' };
  if (value === 'none' || value === 'auto') return { type: value };
  if (value === 'required') {
    if (tools.length === 0) throw invalidRequest(`'tool_choice' is 'required' but no 'tools' were given`, 'tool_choice');
    return { type: 'required' };
  }
  if (isPlainObject(value) && value.type === 'function' && isPlainObject(value.function) && typeof value.function.name === 'string') {
    const name = value.function.name;
    if (!tools.some((t) => t.function.name === name)) {
      throw invalidRequest(`'tool_choice' names function '${name}', which is not in 'tools'`, 'tool_choice.function.name');
    }
    return { type: 'function', name };
  }
  throw invalidRequest(
    `Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {"type": "function", "function": {"name": ...}}`,
    'tool_choice',
  );
}

/** Arguments schema of a function that declares none: exactly `{}`. */
const NO_PARAMETERS = { type: 'object', properties: {}, additionalProperties: false };

/**
 * The constraint that forces a tool call, or undefined for "none" / "auto" (the model chooses freely).
 * "required": any declared function (anyOf over the calls); a named function: that one.
 * @throws ApiError 400 naming `tools[i].function.parameters` when a parameters schema cannot be enforced,
 *   or `tools` when the calls together pass a size limit of the schema compiler
 */
export function toolCallConstraint(tools: readonly FunctionTool[], choice: ToolChoice): ConstraintSpec | undefined {
  if (choice.type === 'none' || choice.type === 'auto') return undefined;
  const chosen = tools
    .map((tool, i) => ({ tool, i }))
    .filter(({ tool }) => choice.type === 'required' || tool.function.name === choice.name);
  const calls = chosen.map(({ tool, i }) => {
    const base = chosen.length === 1 ? '#/properties/parameters' : `#/anyOf/${chosen.findIndex((c) => c.i === i)}/properties/parameters`;
    return enforceable(`tools[${i}].function.parameters`, () => {
      // Compiled alone so that a failure names its tool (the result is cached for the real compile).
      compileConstraint({ type: 'json_schema', schema: callSchema(tool, '#/properties/parameters') });
      return callSchema(tool, base);
    });
  });
  if (calls.length === 1) return { type: 'json_schema', schema: calls[0]! };
  // Together the calls can pass a limit of the compiler (nodes, depth) that each passed alone.
  const spec: ConstraintSpec = { type: 'json_schema', schema: { anyOf: calls } };
  return enforceable('tools', () => (compileConstraint(spec), spec));
}

/** `build()`, a ConstraintError it throws becoming a 400 naming `param`. */
function enforceable<T>(param: string, build: () => T): T {
  try {
    return build();
  } catch (err) {
    throw err instanceof ConstraintError ? invalidRequest(`'${param}' cannot be enforced: ${err.message}`, param) : err;
  }
}

/** `{"name": const, "parameters": <schema>}`, the parameters' local `$ref`s re-rooted at `base`. */
function callSchema(tool: FunctionTool, base: string): Record<string, unknown> {
  const params = tool.function.parameters ?? NO_PARAMETERS;
  return {
    type: 'object',
    properties: { name: { const: tool.function.name }, parameters: rebaseRefs(params, base) },
    required: ['name', 'parameters'],
    additionalProperties: false,
  };
}

/**
 * A copy of `schema` whose `$ref: "#/…"` pointers point into `base` (where the schema now sits).
 * Recursive, bounded by the document depth validateTools checked (and checked again here).
 */
function rebaseRefs(schema: unknown, base: string, depth = 0): unknown {
  if (schema === null || typeof schema !== 'object') return schema;
  if (depth >= SCHEMA_LIMITS.maxDocumentDepth) {
    throw new ConstraintError(`the schema document nests deeper than ${SCHEMA_LIMITS.maxDocumentDepth} levels`, '#');
  }
  if (Array.isArray(schema)) return schema.map((s) => rebaseRefs(s, base, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    const ref = key === '$ref' && typeof value === 'string' && value.startsWith('#');
    // defineProperty: an own "__proto__" key of the client's JSON stays a key, not the copy's prototype.
    Object.defineProperty(out, key, {
      value: ref ? base + value.slice(1) : rebaseRefs(value, base, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
