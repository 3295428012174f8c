/**
 * The JSON Schema keywords the compiler (schema.ts) knows: which it refuses, which only annotate, and the
 * small readers it shares for them.
 */
import { ConstraintError } from './spec.ts';
import { formatPattern } from './formats.ts';

/** A schema object as the client sent it. */
export type SchemaObject = { readonly [key: string]: unknown };

/** Keywords that constrain values in ways this grammar cannot enforce. */
export const UNSUPPORTED = new Set([
  'patternProperties',
  'propertyNames',
  'dependencies',
  'dependentRequired',
  'dependentSchemas',
  'if',
  'then',
  'else',
  'not',
  'contains',
  'minContains',
  'maxContains',
  'prefixItems',
  'unevaluatedProperties',
  'unevaluatedItems',
  'minProperties',
  'maxProperties',
  '$dynamicRef',
  '$recursiveRef',
]);

/**
 * Keywords that only describe; a combinator (anyOf, $ref) may sit beside them. `format` describes unless
 * it names a format the constraint enforces (formats.ts).
 */
export const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  'example',
  '$schema',
  '$id',
  '$comment',
  '$defs',
  'definitions',
  'format',
  'deprecated',
  'readOnly',
  'writeOnly',
  'discriminator',
  'strict',
  'additionalProperties',
  'nullable',
  'contentMediaType',
  'contentEncoding',
]);

/** The type names `type` may hold. */
export const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
export type TypeName = (typeof TYPES)[number];

/** The types a schema without `type` implies by its keywords; null = any value. */
export function inferType(s: SchemaObject): TypeName[] | null {
  if (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined) return ['object'];
  if (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined) return ['array'];
  if (s.minLength !== undefined || s.maxLength !== undefined || s.pattern !== undefined) return ['string'];
  if (formatPattern(s.format) !== undefined) return ['string'];
  if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].some((k) => s[k] !== undefined)) return ['number'];
  return null;
}

/** `s[key]` checked to be a non-negative integer, if present. */
export function nonNegativeInt(s: SchemaObject, key: string, path: string): number | undefined {
  const v = s[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ConstraintError(`'${key}' must be a non-negative integer`, `${path}/${key}`);
  }
  return v;
}
