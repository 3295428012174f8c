/**
 * OpenAI `response_format` → the engine's constraint spec: `text` (none), `json_object`, and
 * `json_schema` (`{"type": "json_schema", "json_schema": {"name", "schema", "strict"?, "description"?}}`).
 * The schema is compiled here, at the edge, so an unsupported one is a 400 before anything is generated.
 */
import { compileConstraint, ConstraintError, type ConstraintSpec } from '../../runtime/grammar/index.ts';
import { invalidRequest } from '../errors.ts';

const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Validates `response_format` and returns its constraint (undefined for absent / `text`).
 * @throws ApiError 400 naming `response_format…` (e.g. `response_format.json_schema.schema` for a schema
 *   keyword that cannot be enforced)
 */
export function responseFormatConstraint(value: unknown): ConstraintSpec | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw invalidRequest(`Invalid type for 'response_format': expected an object`, 'response_format', 'invalid_type');
  switch (value.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      return jsonSchemaFormat(value.json_schema);
    default:
      throw invalidRequest(
        `Invalid value for 'response_format.type': ${JSON.stringify(value.type)}; expected 'text', 'json_object' or 'json_schema'`,
        'response_format.type',
      );
  }
}

function jsonSchemaFormat(js: unknown): ConstraintSpec {
  const at = 'response_format.json_schema';
  if (!isPlainObject(js)) throw invalidRequest(`Missing required parameter: '${at}'`, at);
  if (typeof js.name !== 'string' || !NAME.test(js.name)) {
    throw invalidRequest(`Invalid '${at}.name': ${JSON.stringify(js.name)}; it must match ^[a-zA-Z0-9_-]{1,64}$`, `${at}.name`);
  }
  if (js.schema !== undefined && !isPlainObject(js.schema) && typeof js.schema !== 'boolean') {
    throw invalidRequest(`Invalid type for '${at}.schema': expected a JSON Schema object`, `${at}.schema`, 'invalid_type');
  }
  const spec: ConstraintSpec = { type: 'json_schema', schema: (js.schema as Record<string, unknown> | boolean | undefined) ?? true };
  try {
    compileConstraint(spec);
  } catch (err) {
    if (err instanceof ConstraintError) throw invalidRequest(`'${at}.schema' cannot be enforced: ${err.message}`, `${at}.schema`);
    throw err;
  }
  return spec;
}
