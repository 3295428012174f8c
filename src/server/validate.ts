/**
 * Field readers for wire requests: each returns the typed value (or the default) and throws a 400 that
 * names the field when the value is the wrong type or out of range. Unknown fields are never looked at,
 * so clients that send newer OpenAI fields are accepted.
 */
import { invalidRequest } from './errors.ts';

/** A JSON object body. */
export type Body = Record<string, unknown>;

/** The body as an object, or a 400. */
export function asBody(value: unknown): Body {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidRequest('The request body must be a JSON object');
  }
  return value as Body;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Present and not null. */
export function has(body: Body, field: string): boolean {
  return body[field] !== undefined && body[field] !== null;
}

interface NumberRule {
  min?: number;
  max?: number;
  /** Lower bound excluded. */
  minExclusive?: boolean;
  integer?: boolean;
}

/** Checks a number against a rule; `param` names it in the error. */
export function checkNumber(v: unknown, param: string, rule: NumberRule = {}): number {
  if (typeof v !== 'number') {
    throw invalidRequest(`Invalid type for '${param}': expected a number, got ${typeName(v)}`, param, 'invalid_type');
  }
  // JSON numbers past float range (1e400) parse as Infinity: a number, but not one any field takes.
  if (!Number.isFinite(v)) throw invalidRequest(`Invalid value for '${param}': the number is out of range`, param);
  if (rule.integer && !Number.isInteger(v)) throw invalidRequest(`'${param}' must be an integer, got ${v}`, param);
  const tooLow = rule.min !== undefined && (rule.minExclusive ? v <= rule.min : v < rule.min);
  const tooHigh = rule.max !== undefined && v > rule.max;
  if (tooLow || tooHigh) {
    const lo = rule.min === undefined ? '' : `${rule.minExclusive ? '>' : '>='} ${rule.min}`;
    const hi = rule.max === undefined ? '' : `<= ${rule.max}`;
    throw invalidRequest(`'${param}' must be ${[lo, hi].filter(Boolean).join(' and ')}, got ${v}`, param);
  }
  return v;
}

/** An optional number (null counts as absent). */
export function optNumber(body: Body, field: string, fallback: number, rule: NumberRule = {}): number {
  return has(body, field) ? checkNumber(body[field], field, rule) : fallback;
}

/** An optional number with no default. */
export function maybeNumber(body: Body, field: string, rule: NumberRule = {}): number | undefined {
  return has(body, field) ? checkNumber(body[field], field, rule) : undefined;
}

/** An optional boolean. */
export function optBool(body: Body, field: string, fallback: boolean): boolean {
  if (!has(body, field)) return fallback;
  const v = body[field];
  if (typeof v !== 'boolean') {
    throw invalidRequest(`Invalid type for '${field}': expected a boolean, got ${typeName(v)}`, field, 'invalid_type');
  }
  return v;
}

/** An optional string. */
export function optString(body: Body, field: string): string | undefined {
  if (!has(body, field)) return undefined;
  const v = body[field];
  if (typeof v !== 'string') {
    throw invalidRequest(`Invalid type for '${field}': expected a string, got ${typeName(v)}`, field, 'invalid_type');
  }
  return v;
}

/** `stop`: a string or an array of strings (at most `max`). */
export function stopStrings(body: Body, max = 16): string[] {
  if (!has(body, 'stop')) return [];
  const v = body.stop;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string')) {
    throw invalidRequest(`Invalid type for 'stop': expected a string or an array of strings`, 'stop', 'invalid_type');
  }
  if (list.length > max) throw invalidRequest(`'stop' may hold at most ${max} strings, got ${list.length}`, 'stop');
  return list.filter((s) => s.length > 0);
}

/** An optional array of integers (token ids) below `limit`, at most `max` of them. */
export function tokenIdList(body: Body, field: string, limit: number, max = Infinity): number[] {
  if (!has(body, field)) return [];
  const v = body[field];
  if (!Array.isArray(v)) throw invalidRequest(`Invalid type for '${field}': expected an array of token ids`, field, 'invalid_type');
  if (v.length > max) throw invalidRequest(`'${field}' may hold at most ${max} token ids, got ${v.length}`, field, 'too_many_entries');
  return v.map((id, i) => checkNumber(id, `${field}[${i}]`, { integer: true, min: 0, max: limit - 1 }));
}

/** `logit_bias`: an object mapping token ids (as strings) to biases in [-100, 100], at most `max` entries. */
export function logitBias(body: Body, vocabSize: number, max = 300): Record<number, number> {
  if (!has(body, 'logit_bias')) return {};
  const v = body.logit_bias;
  if (typeof v !== 'object' || Array.isArray(v) || v === null) {
    throw invalidRequest(`Invalid type for 'logit_bias': expected an object of token id → bias`, 'logit_bias', 'invalid_type');
  }
  const entries = Object.entries(v);
  if (entries.length > max) throw invalidRequest(`'logit_bias' may hold at most ${max} entries, got ${entries.length}`, 'logit_bias', 'too_many_entries');
  const out: Record<number, number> = {};
  for (const [key, bias] of entries) {
    const id = Number(key);
    if (!/^\d+$/.test(key) || id >= vocabSize) {
      throw invalidRequest(`'logit_bias' key '${key}' is not a token id of this model (0..${vocabSize - 1})`, 'logit_bias');
    }
    out[id] = checkNumber(bias, `logit_bias.${key}`, { min: -100, max: 100 });
  }
  return out;
}

/** Throws a 400 naming `param` when an array holds more than `max` items. */
export function checkCount(v: unknown, max: number, param: string, what: string): void {
  if (Array.isArray(v) && v.length > max) {
    throw invalidRequest(`'${param}' may hold at most ${max} ${what}, got ${v.length}`, param, 'too_many_entries');
  }
}

/** Reads `stream` and `stream_options`. */
export function parseStreaming(body: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optBool(body, 'stream', false);
  let includeUsage = false;
  if (has(body, 'stream_options')) {
    if (!stream) throw invalidRequest(`'stream_options' is only allowed when 'stream' is true`, 'stream_options');
    const so = body.stream_options as Record<string, unknown>;
    if (typeof so !== 'object' || Array.isArray(so)) {
      throw invalidRequest(`Invalid type for 'stream_options': expected an object`, 'stream_options', 'invalid_type');
    }
    includeUsage = optBool(so, 'include_usage', false);
  }
  return { stream, includeUsage };
}
