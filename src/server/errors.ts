/**
 * One error type and one mapper. Every failure a client sees has OpenAI's shape:
 * `{"error": {"message", "type", "param", "code"}}`, with the status the SDKs map to their error classes.
 * Handlers throw ApiError (or let library errors through); `toApiError` turns anything into one.
 */
import { EngineError } from '../runtime/types.ts';
import { ChatTemplateError, TemplateInputError } from '../tokenizer/errors.ts';

/** OpenAI's error body. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error with its HTTP status and OpenAI error fields. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Extra response headers (Retry-After on 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 naming the offending field. */
export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** 404 for a model that is not served. */
export function modelNotFound(model: string): ApiError {
  return new ApiError(404, `The model '${model}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
}

/** 429 overloaded, with Retry-After seconds. */
export function overloaded(message: string, retryAfterSeconds = 1): ApiError {
  return new ApiError(429, message, 'rate_limit_error', null, 'overloaded', { 'retry-after': String(retryAfterSeconds) });
}

/** Fastify's own errors carry a code and a statusCode; validation errors carry `validation`. */
interface LibraryError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
}

/** Dotted field path from an ajv instancePath ("/messages/0/role" → "messages[0].role"). */
export function fieldPath(instancePath: string, missing?: unknown): string | null {
  const parts = instancePath.split('/').filter(Boolean);
  if (typeof missing === 'string') parts.push(missing);
  if (parts.length === 0) return null;
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** Maps any thrown value to an ApiError; unknown errors become a 500 that reveals nothing internal. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof EngineError) {
    if (err.code === 'overloaded') return overloaded(err.message);
    if (err.code === 'invalid_request') return invalidRequest(err.message, err.param ?? null);
    if (err.code === 'engine_closed') return new ApiError(503, err.message, 'server_error', null, 'shutting_down');
    return new ApiError(500, err.message, 'server_error', null, err.code);
  }
  if (err instanceof ChatTemplateError) return invalidRequest(err.message, 'messages', 'chat_template_error');
  if (err instanceof TemplateInputError) return invalidRequest(err.message, 'messages');
  const e = (err ?? {}) as LibraryError;
  if (e.validation && e.validation.length > 0) {
    const v = e.validation[0]!;
    const param = fieldPath(v.instancePath ?? '', v.params?.missingProperty);
    const where = param ?? (e.validationContext === 'body' ? 'body' : 'request');
    return invalidRequest(`Invalid value for '${where}': ${v.message ?? 'invalid'}`, param);
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new ApiError(413, 'Request body is too large', 'invalid_request_error', null, 'request_too_large');
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return invalidRequest('Content-Type must be application/json', null, 'unsupported_media_type');
  }
  if (e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return invalidRequest('Request body is empty; expected a JSON object');
  if (e.statusCode === 400 || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
    return invalidRequest(`We could not parse the JSON body of your request: ${e.message ?? 'invalid JSON'}`, null, 'invalid_json');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError(e.statusCode, e.message ?? 'Bad request', 'invalid_request_error');
  }
  return new ApiError(500, 'The server had an error while processing your request', 'server_error', null, 'internal_error');
}
