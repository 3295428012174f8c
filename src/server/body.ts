/**
 * Request bodies at the edge, before any route sees them:
 *
 * - Content codings: `gzip` (and its alias `x-gzip`), `deflate` and `br` are decoded as a stream;
 *   `identity` is a no-op; anything else is a 415. The decoded size is held to the body limit.
 * - JSON: the bytes must be UTF-8, the text must parse (fastify's proto-poisoning-safe parser), every
 *   string and key must be well-formed Unicode (no lone UTF-16 surrogates from `\ud800`-style escapes),
 *   and containers may nest at most MAX_JSON_DEPTH levels. Unknown fields are left alone.
 *
 * Every refusal is an ApiError (400, 413, 415), so it reaches the client in the one error shape.
 *
 * Invariant (zip bombs): a request never holds more than `limit` decoded bytes plus one decoder chunk,
 * whatever the compression ratio. The decoder is piped, so it inflates only as fast as its output is
 * read, into a counter that fails the stream and tears the decoder down the moment the count passes the
 * limit; nothing is inflated after that.
 */
import { Transform, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ApiError, bodyTooLarge, invalidRequest } from './errors.ts';

/** Deepest nesting of arrays/objects accepted in a JSON body (the body itself is level 1). */
export const MAX_JSON_DEPTH = 64;

/** A content coding the server decodes. */
export type ContentCoding = 'gzip' | 'deflate' | 'br';

const SUPPORTED = 'gzip, deflate, br, identity';

function unsupportedEncoding(header: string, why: string): ApiError {
  const shown = header.length > 64 ? `${header.slice(0, 64)}…` : header;
  return new ApiError(
    415,
    `Unsupported Content-Encoding '${shown}': ${why} (supported: ${SUPPORTED})`,
    'invalid_request_error',
    null,
    'unsupported_content_encoding',
  );
}

/**
 * The coding to undo for a Content-Encoding header, or null when there is none to undo (absent, empty or
 * only `identity`). Throws a 415 for an unknown coding or for more than one stacked coding.
 */
export function contentCoding(header: string | undefined): ContentCoding | null {
  if (header === undefined) return null;
  const codings = header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return null;
  if (codings.length > 1) throw unsupportedEncoding(header, 'only one content coding may be applied');
  const coding = codings[0] === 'x-gzip' ? 'gzip' : codings[0];
  if (coding === 'gzip' || coding === 'deflate' || coding === 'br') return coding;
  throw unsupportedEncoding(header, 'the server does not decode it');
}

/** A payload stream as fastify's body reader expects from preParsing: it reports the encoded bytes read. */
export type DecodedPayload = Transform & { receivedEncodedLength: number };

function createDecoder(coding: ContentCoding): Transform {
  if (coding === 'gzip') return createGunzip();
  if (coding === 'deflate') return createInflate();
  return createBrotliDecompress();
}

/**
 * Decodes `raw` with `coding`. The result fails with a 413 as soon as more than `limit` decoded bytes
 * came out (and stops the decoder), with a 400 when the bytes are not valid for the coding, and with the
 * client's error when the request stream breaks off. `raw` itself is never destroyed, so a response can
 * still be written to its connection.
 */
export function decodedPayload(raw: Readable, coding: ContentCoding, limit: number): DecodedPayload {
  const decoder = createDecoder(coding);
  let decoded = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      decoded += chunk.length;
      if (decoded > limit) callback(bodyTooLarge());
      else callback(null, chunk);
    },
  }) as DecodedPayload;
  out.receivedEncodedLength = 0;
  const countEncoded = (chunk: Buffer | string) => {
    out.receivedEncodedLength += chunk.length;
  };
  const onRawError = (err: Error) => out.destroy(err);
  const onRawClose = () => {
    if (!raw.readableEnded) out.destroy(invalidRequest('The request body ended early'));
  };
  // Runs once, when `out` closes for any reason (end, limit, bad bytes, client gone).
  const stop = () => {
    raw.off('data', countEncoded);
    raw.off('error', onRawError);
    raw.off('close', onRawClose);
    raw.unpipe(decoder);
    decoder.destroy();
  };
  decoder.on('error', () => {
    out.destroy(invalidRequest(`The request body is not valid ${coding} data`, null, 'invalid_content_encoding'));
  });
  out.once('close', stop);
  raw.pipe(decoder).pipe(out);
  raw.on('data', countEncoded);
  raw.on('error', onRawError);
  raw.on('close', onRawClose);
  return out;
}

/** True when the request announces a body (fastify reads none otherwise). */
function announcesBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Adds the preParsing hook that undoes Content-Encoding, holding the decoded size to `limit`. */
export function registerBodyDecoding(app: FastifyInstance, limit: number): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    if (!announcesBody(req.headers)) return payload;
    const coding = contentCoding(req.headers['content-encoding']);
    return coding === null ? payload : decodedPayload(payload, coding, limit);
  });
}

/** A container met by checkJsonValue's walk, with the way back to the body for naming its path. */
interface Frame {
  value: object;
  parent: Frame | null;
  key: string | number;
  depth: number;
}

/** Path of `frame` (or of its entry `key`) in the fieldPath style ("messages[0].content"); null = the body. */
function pathOf(frame: Frame | null, key?: string | number): string | null {
  const keys: Array<string | number> = key === undefined ? [] : [key];
  for (let f = frame; f !== null && f.parent !== null; f = f.parent) keys.push(f.key);
  if (keys.length === 0) return null;
  keys.reverse();
  return keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

// String.prototype.isWellFormed (Node 20) is ES2024; the project's lib is ES2023.
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

function loneSurrogate(path: string | null): ApiError {
  const where = path === null ? 'the body' : `'${path}'`;
  return invalidRequest(
    `Invalid value for ${where}: the string contains a lone UTF-16 surrogate, which is not valid Unicode`,
    path,
    'invalid_unicode',
  );
}

function tooDeep(path: string | null, maxDepth: number): ApiError {
  return invalidRequest(
    `The request body is nested too deeply at '${path ?? 'body'}': at most ${maxDepth} levels of arrays and objects are accepted`,
    path,
    'nested_too_deeply',
  );
}

/**
 * Checks a parsed JSON value: every string and key well-formed Unicode, nesting at most `maxDepth`
 * levels. Iterative (an explicit stack, never recursion), so any depth fastify's parser returns is safe;
 * a container is expanded only if it is within the limit, so the walk stops at the limit. Throws a 400
 * naming the path of the first offender it meets.
 */
export function checkJsonValue(root: unknown, maxDepth: number = MAX_JSON_DEPTH): void {
  if (typeof root === 'string') {
    if (!isWellFormed(root)) throw loneSurrogate(null);
    return;
  }
  if (root === null || typeof root !== 'object') return;
  const stack: Frame[] = [{ value: root, parent: null, key: '', depth: 1 }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const entries: Iterable<[string | number, unknown]> = Array.isArray(frame.value)
      ? frame.value.entries()
      : Object.entries(frame.value);
    for (const [key, child] of entries) {
      if (typeof key === 'string' && !isWellFormed(key)) throw loneSurrogate(pathOf(frame, key));
      if (typeof child === 'string') {
        if (!isWellFormed(child)) throw loneSurrogate(pathOf(frame, key));
      } else if (child !== null && typeof child === 'object') {
        if (frame.depth >= maxDepth) throw tooDeep(pathOf(frame, key), maxDepth);
        stack.push({ value: child, parent: frame, key, depth: frame.depth + 1 });
      }
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Replaces fastify's 'application/json' parser: UTF-8 checked (fatal decoder; a leading BOM is dropped),
 * parsed by fastify's own parser (empty body, bad JSON and `__proto__` keys refused as before), then
 * checked by checkJsonValue. Also drops the 'text/plain' parser: every route takes JSON, so any other
 * media type is a 415.
 */
export function registerJsonParser(app: FastifyInstance, maxDepth: number = MAX_JSON_DEPTH): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      done(invalidRequest('The request body is not valid UTF-8', null, 'invalid_utf8'), undefined);
      return;
    }
    parseJson(req, text, (err, value) => {
      if (err) return done(err, undefined);
      try {
        checkJsonValue(value, maxDepth);
      } catch (e) {
        return done(e as ApiError, undefined);
      }
      done(null, value);
    });
  });
}
