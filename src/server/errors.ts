/**
 * One error type and one mapper. Every failure a client sees has OpenAI's shape:
 * `{"error": {"message", "type", "param", "code"}}`, with the status the SDKs map to their error classes.
 * Handlers throw ApiError (or let library errors through); `toApiError` turns anything into one.
 */
import { STATUS_CODES } from 'node:http';
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

/** 413: the body (decoded, when it came compressed) is over the server's limit. */
export function bodyTooLarge(): ApiError {
  return new ApiError(413, 'Request body is too large', 'invalid_request_error', null, 'request_too_large');
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

/**
 * fastify's errors by code (body reading, content types, URLs). Their own messages are replaced: the
 * client gets a sentence about its request, never fastify's wording or internals.
 */
const FASTIFY_ERRORS = new Map<string, () => ApiError>(Object.entries({
  FST_ERR_CTP_BODY_TOO_LARGE: bodyTooLarge,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    new ApiError(415, 'Content-Type must be application/json', 'invalid_request_error', null, 'unsupported_media_type'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => invalidRequest('Request body is empty; expected a JSON object', null, 'invalid_json'),
  FST_ERR_CTP_INVALID_JSON_BODY: () =>
    invalidRequest('We could not parse the JSON body of your request: it is not valid JSON', null, 'invalid_json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    invalidRequest('The request body size did not match its Content-Length header', null, 'invalid_content_length'),
  FST_ERR_BAD_URL: () =>
    invalidRequest('The request URL is not valid: its path holds a malformed percent-encoding', null, 'invalid_url'),
  FST_ERR_MAX_PARAM_LENGTH: () =>
    new ApiError(414, 'A path parameter of the request URL is too long', 'invalid_request_error', null, 'url_too_long'),
}));

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
  const known = typeof e.code === 'string' ? FASTIFY_ERRORS.get(e.code) : undefined;
  if (known) return known();
  if (err instanceof SyntaxError) {
    return invalidRequest('We could not parse the JSON body of your request: it is not valid JSON', null, 'invalid_json');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // fastify's messages are fixed sentences; anything else (a stream error that fastify tagged 400)
    // may carry internals, so it gets a plain one.
    const message = e.code?.startsWith('FST_') && e.message ? e.message : 'The request could not be read';
    return new ApiError(e.statusCode, message, 'invalid_request_error');
  }
  return new ApiError(500, 'The server had an error while processing your request', 'server_error', null, 'internal_error');
}

/** The parts of Node's 'clientError' error that say what went wrong. */
export interface ConnectionFailure {
  code?: string;
  /** llhttp's fixed description ("Transfer-Encoding can't be present with Content-Length"). */
  reason?: unknown;
}

/** What a connection-level failure (no request object yet) answers, by Node's error code. */
function connectionError(err: ConnectionFailure): ApiError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(431, 'The request headers are too large', 'invalid_request_error', null, 'headers_too_large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return bodyTooLarge();
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(408, 'The request was not received in time', 'invalid_request_error', null, 'request_timeout');
  }
  // llhttp's reasons are constant sentences of its own (never request bytes); anything else is not shown.
  const reason = err.code?.startsWith('HPE_') && typeof err.reason === 'string' && /^[\w\s`'.,:-]{1,120}$/.test(err.reason)
    ? `: ${err.reason}`
    : '';
  return invalidRequest(`The HTTP request is malformed${reason}`, null, 'malformed_request');
}

/**
 * The raw HTTP/1.1 response for a connection-level failure (the HTTP parser refused the bytes, the
 * headers were too large or too slow). It closes the connection: after a framing error nothing later on
 * it can be trusted to start where a request starts.
 */
export function connectionErrorResponse(err: ConnectionFailure): string {
  const e = connectionError(err);
  const body = JSON.stringify(e.body());
  return [
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? 'Bad Request'}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
