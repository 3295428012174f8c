/**
 * Hostile input at the edge: every refusal in OpenAI's error shape with the right status, never a 5xx,
 * a stack or a path. URL encodings, HTTP framing (raw sockets against a listening server), content types,
 * content codings (gzip, deflate, br; zip bombs held to the body limit), invalid UTF-8, lone surrogates
 * and deep nesting in JSON bodies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import { checkJsonValue, contentCoding, decodedPayload, MAX_JSON_DEPTH } from '../src/server/body.ts';
import { DEFAULT_SERVER_LIMITS, type AppDeps } from '../src/server/deps.ts';
import { connectionErrorResponse, toApiError } from '../src/server/errors.ts';
import { fakeModel } from './helpers/fake-engine.ts';

const MAX_BODY = 1024 * 1024;
const MiB = 1024 * 1024;

interface WireError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

/** Asserts exactly OpenAI's error shape, the status, and that nothing internal leaks. */
function assertErrorBody(status: number, gotStatus: number, body: string, want: Partial<WireError> = {}): WireError {
  assert.equal(gotStatus, status, `status of ${body.slice(0, 300)}`);
  const parsed = JSON.parse(body) as { error: WireError };
  assert.deepEqual(Object.keys(parsed), ['error']);
  assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'message', 'param', 'type']);
  const e = parsed.error;
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(e.type, want.type ?? 'invalid_request_error');
  assert.ok(e.param === null || typeof e.param === 'string');
  assert.ok(e.code === null || typeof e.code === 'string');
  if (want.code !== undefined) assert.equal(e.code, want.code);
  if (want.param !== undefined) assert.equal(e.param, want.param);
  assert.doesNotMatch(e.message, /\/work\/|at .*\(|node:internal/);
  assert.doesNotMatch(body, /"stack"|\.ts:\d+|node:internal|FST_ERR/);
  return e;
}

function assertError(res: LightMyRequestResponse, status: number, want: Partial<WireError> = {}): WireError {
  assert.match(String(res.headers['content-type']), /^application\/json/);
  return assertErrorBody(status, res.statusCode, res.body, want);
}

function deps(): AppDeps {
  return { models: [], limits: { ...DEFAULT_SERVER_LIMITS, maxBodyBytes: MAX_BODY }, isReady: () => true, logger: false, version: 't' };
}

const chatJson = (content = 'Hi', extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'instruct', messages: [{ role: 'user', content }], ...extra });

/** gzip members of 1 MiB of zeros, concatenated: `mib` MiB once decoded, ~1 KiB each on the wire. */
function gzipBomb(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(MiB), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

let app: FastifyInstance;

before(async () => {
  app = buildApp({ ...deps(), models: [await fakeModel({ id: 'instruct' })] });
  await app.ready();
});

after(async () => {
  await app?.close();
});

const post = (payload: string | Buffer, headers: Record<string, string> = {}, url = '/v1/chat/completions') =>
  app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } });

describe('framework failures answer in the one error shape', () => {
  test('a malformed percent-encoding in the URL is a 400, not fastify\'s own shape', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/models/%E0%A4%A' });
    assertError(res, 400, { code: 'invalid_url' });
  });

  test('an unknown route is a 404 naming the route', async () => {
    const e = assertError(await app.inject({ method: 'GET', url: '/v2/nothing' }), 404, { code: 'not_found' });
    assert.match(e.message, /\/v2\/nothing/);
  });

  test('invalid JSON is a 400 invalid_json; an empty JSON body is a 400', async () => {
    assertError(await post('{"model": "instruct", "messages": ['), 400, { code: 'invalid_json' });
    assertError(await post(''), 400, { code: 'invalid_json' });
    // __proto__ keys are still refused by fastify's safe parser, as invalid JSON.
    assertError(await post('{"model":"instruct","__proto__":{"x":1}}'), 400, { code: 'invalid_json' });
  });

  test('a wrong or missing content type is a 415', async () => {
    assertError(await post(chatJson(), { 'content-type': 'text/plain' }), 415, { code: 'unsupported_media_type' });
    assertError(await post(chatJson(), { 'content-type': 'application/x-www-form-urlencoded' }), 415, { code: 'unsupported_media_type' });
    assertError(await post(chatJson(), { 'content-type': ';;;' }), 415, { code: 'unsupported_media_type' });
    const none = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: Buffer.from(chatJson()) });
    assertError(none, 415, { code: 'unsupported_media_type' });
  });

  test('a body over the limit is a 413; a JSON content type with a charset is still JSON', async () => {
    assertError(await post(chatJson('x'.repeat(MAX_BODY))), 413, { code: 'request_too_large' });
    const ok = await post(chatJson(), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(ok.statusCode, 200, ok.body);
  });
});

describe('error mapping', () => {
  test('toApiError: fastify codes get our sentences; odd codes and non-fastify 4xx reveal nothing', () => {
    assert.equal(toApiError({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }).status, 415);
    assert.equal(toApiError({ code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 }).status, 414);
    const proto = toApiError({ code: 'toString' });
    assert.equal(proto.status, 500);
    const stream = toApiError(Object.assign(new Error('inflate failed at /work/x.ts:1:2'), { statusCode: 400 }));
    assert.equal(stream.status, 400);
    assert.doesNotMatch(stream.message, /work|inflate/);
  });

  test('connectionErrorResponse: the status by Node code, llhttp reasons shown only when plain sentences', () => {
    const parse = (raw: string) => ({ status: Number(raw.slice(9, 12)), body: raw.slice(raw.indexOf('\r\n\r\n') + 4), raw });
    const timeout = parse(connectionErrorResponse({ code: 'ERR_HTTP_REQUEST_TIMEOUT' }));
    assertErrorBody(408, timeout.status, timeout.body, { code: 'request_timeout' });
    assert.match(timeout.raw, /^HTTP\/1\.1 408 Request Timeout\r\n[\s\S]*Connection: close\r\n/);
    const shown = parse(connectionErrorResponse({ code: 'HPE_INVALID_METHOD', reason: 'Invalid method encountered' }));
    assert.match(assertErrorBody(400, shown.status, shown.body).message, /Invalid method encountered/);
    const hidden = parse(connectionErrorResponse({ code: 'HPE_X', reason: '<script>"quoted" at f (node:internal/x:1:2)' }));
    assert.equal(assertErrorBody(400, hidden.status, hidden.body).message, 'The HTTP request is malformed');
    // Content-Length counts bytes of the body exactly.
    assert.match(shown.raw, new RegExp(`Content-Length: ${Buffer.byteLength(shown.body)}\r\n`));
  });
});

describe('content codings', () => {
  const encoders: Record<string, (b: Buffer) => Buffer> = {
    gzip: (b) => gzipSync(b),
    'x-gzip': (b) => gzipSync(b),
    deflate: (b) => deflateSync(b),
    br: (b) => brotliCompressSync(b),
    identity: (b) => b,
    'GZIP, identity': (b) => gzipSync(b),
  };
  for (const [coding, encode] of Object.entries(encoders)) {
    test(`a ${coding} body is decoded and answered normally`, async () => {
      const res = await post(encode(Buffer.from(chatJson())), { 'content-encoding': coding });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().choices[0].message.content, 'Hello world');
    });
  }

  for (const coding of ['compress', 'zstd', 'gzip, br', 'bogus-coding']) {
    test(`Content-Encoding '${coding}' is a 415`, async () => {
      const res = await post(gzipSync(Buffer.from(chatJson())), { 'content-encoding': coding });
      assertError(res, 415, { code: 'unsupported_content_encoding' });
    });
  }

  test('bytes that are not what the coding says are a 400', async () => {
    assertError(await post(Buffer.from(chatJson()), { 'content-encoding': 'gzip' }), 400, { code: 'invalid_content_encoding' });
    const truncated = gzipSync(Buffer.from(chatJson())).subarray(0, 20);
    assertError(await post(truncated, { 'content-encoding': 'gzip' }), 400);
  });

  test('a decoded body over the limit is a 413 even when it came in small', async () => {
    const body = gzipSync(Buffer.from(chatJson('x'.repeat(MAX_BODY))));
    assert.ok(body.length < MAX_BODY / 100);
    assertError(await post(body, { 'content-encoding': 'gzip' }), 413, { code: 'request_too_large' });
  });

  test('a gzip bomb (256 MiB decoded from ~260 KiB) is a 413 without inflating it or the memory jumping', async () => {
    const bomb = gzipBomb(256);
    assert.ok(bomb.length < MAX_BODY, 'the bomb passes the undecoded size check');
    // Streamed in 1 KiB pieces (about one gzip member each), counting how many the server pulls.
    let pulled = 0;
    const pieces = Math.ceil(bomb.length / 1024);
    const payload = Readable.from(
      (function* () {
        for (; pulled < pieces; pulled++) yield bomb.subarray(pulled * 1024, (pulled + 1) * 1024);
      })(),
      { objectMode: false },
    );
    global.gc?.();
    const before = process.memoryUsage.rss();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': String(bomb.length) },
      });
      assertError(res, 413, { code: 'request_too_large' });
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage.rss());
    assert.ok(peak - before < 64 * MiB, `rss rose ${((peak - before) / MiB).toFixed(1)} MiB`);
    // Nothing went on inflating after the 413: most of the bomb was never even read.
    assert.ok(pulled < pieces / 4, `pulled ${pulled} of ${pieces} pieces`);
  });

  test('decoding stops as soon as the limit is passed: most of the bomb is never read', async () => {
    const bomb = gzipBomb(64);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bomb.length; i += 1024) chunks.push(bomb.subarray(i, i + 1024));
    const source = Readable.from(chunks, { objectMode: false });
    const out = decodedPayload(source, 'gzip', MiB);
    let decoded = 0;
    const err = await new Promise<unknown>((resolve) => {
      out.on('data', (c: Buffer) => (decoded += c.length));
      out.on('error', resolve);
      out.on('end', () => resolve(null));
    });
    assert.equal((err as { status?: number } | null)?.status, 413);
    assert.ok(decoded <= MiB, `passed on ${decoded} bytes`);
    await new Promise((r) => setTimeout(r, 50));
    // 64 MiB needed ~66 KiB of input; stopping at 1 MiB needs about one member (~1 KiB) plus buffering.
    assert.ok(out.receivedEncodedLength < bomb.length / 4, `read ${out.receivedEncodedLength} of ${bomb.length} encoded bytes`);
    assert.equal(source.readableEnded, false);
  });

  test('contentCoding reads the header: identity and empty are nothing to undo, case and spaces ignored', () => {
    assert.equal(contentCoding(undefined), null);
    assert.equal(contentCoding(''), null);
    assert.equal(contentCoding('identity'), null);
    assert.equal(contentCoding(' Br '), 'br');
    assert.equal(contentCoding('identity, deflate'), 'deflate');
    assert.throws(() => contentCoding('zstd'), (e: any) => e.status === 415);
  });
});

describe('JSON bodies: UTF-8, surrogates, nesting', () => {
  test('invalid UTF-8 bytes are a 400', async () => {
    const bytes = Buffer.concat([Buffer.from('{"model":"instruct","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}]}')]);
    assertError(await post(bytes), 400, { code: 'invalid_utf8' });
    // An overlong encoding of '/' and a UTF-8-encoded surrogate are not UTF-8 either.
    assertError(await post(Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d])), 400, { code: 'invalid_utf8' });
    assertError(await post(Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d])), 400, { code: 'invalid_utf8' });
  });

  test('a lone surrogate in messages[0].content is a 400 naming that field', async () => {
    const body = '{"model":"instruct","messages":[{"role":"user","content":"hi \\ud800 there"}]}';
    const e = assertError(await post(body), 400, { code: 'invalid_unicode', param: 'messages[0].content' });
    assert.match(e.message, /messages\[0\]\.content/);
    const low = '{"model":"instruct","messages":[{"role":"user","content":[{"type":"text","text":"\\udc00"}]}]}';
    assertError(await post(low), 400, { param: 'messages[0].content[0].text' });
    // In a key of an unknown field too.
    assertError(await post('{"model":"instruct","messages":[],"extra":{"\\ud800":1}}'), 400, { code: 'invalid_unicode' });
  });

  test('a surrogate pair (an escaped emoji) is fine', async () => {
    const res = await post('{"model":"instruct","messages":[{"role":"user","content":"\\ud83d\\ude00"}]}');
    assert.equal(res.statusCode, 200, res.body);
  });

  test('10,000 and 100,000-deep arrays in an unknown field are 400s naming where the limit was hit', async () => {
    for (const depth of [10_000, 100_000]) {
      const body = chatJson('Hi', { deep: 'X' }).replace('"X"', '['.repeat(depth) + ']'.repeat(depth));
      const e = assertError(await post(body), 400, { code: 'nested_too_deeply' });
      // The body is level 1 and "deep" level 2, so the limit is hit at its (MAX_JSON_DEPTH - 1)th [0].
      assert.equal(e.param, 'deep' + '[0]'.repeat(MAX_JSON_DEPTH - 1));
    }
  });

  test('unknown fields nested within the limit are accepted', async () => {
    const nested = JSON.parse('['.repeat(MAX_JSON_DEPTH - 1) + ']'.repeat(MAX_JSON_DEPTH - 1));
    const res = await post(chatJson('Hi', { some_future_field: nested, other: { a: [1, 'two', null] } }));
    assert.equal(res.statusCode, 200, res.body);
  });

  test('checkJsonValue walks without recursion and names paths in fieldPath style', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    assert.throws(() => checkJsonValue({ a: deep }), (e: any) => e.status === 400 && e.code === 'nested_too_deeply');
    assert.doesNotThrow(() => checkJsonValue({ a: [[['x']]], b: { c: 'ok' } }, 4));
    assert.throws(() => checkJsonValue({ a: [[['x']]] }, 3), (e: any) => e.param === 'a[0][0]');
    assert.throws(() => checkJsonValue({ a: { 'b c': ['ok', '\udfff'] } }), (e: any) => e.param === 'a.b c[1]');
    assert.throws(() => checkJsonValue('\ud800'), (e: any) => e.status === 400 && e.param === null);
    assert.doesNotThrow(() => checkJsonValue(null));
  });

  test('after every hostile request the server still answers', async () => {
    const res = await post(chatJson());
    assert.equal(res.statusCode, 200);
  });
});

/** A raw HTTP exchange: writes `request`, reads until the server closes (or `ms` pass). */
function rawExchange(port: number, request: string | Buffer, ms = 5000): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${ms} ms; got ${Buffer.concat(chunks).toString().slice(0, 200)}`));
    }, ms);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {}); // a reset after the response is fine; the bytes are what count
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: split < 0 ? '' : text.slice(split + 4) });
    });
    socket.write(request);
  });
}

describe('raw connections to a listening server', () => {
  let server: FastifyInstance;
  let port = 0;
  before(async () => {
    server = buildApp({ ...deps(), models: [await fakeModel({ id: 'instruct' })] });
    await server.listen({ host: '127.0.0.1', port: 0 });
    port = (server.server.address() as AddressInfo).port;
  });
  after(async () => {
    await server?.close();
  });

  const answersNormally = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatJson() });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as any).choices[0].message.content, 'Hello world');
  };

  const framing: Array<[string, string]> = [
    ['Content-Length then Transfer-Encoding', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['Transfer-Encoding then Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'],
    ['an invalid Content-Length', 'Content-Length: abc\r\n\r\n'],
    ['two different Content-Lengths', 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello'],
    ['a malformed chunk size', 'Transfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ];
  for (const [what, rest] of framing) {
    test(`${what}: a raw 400 in the error shape, the connection closed, the server still answering`, async () => {
      const res = await rawExchange(port, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${rest}`);
      assert.match(res.headers, /\r\nConnection: close/i);
      assert.match(res.headers, /\r\nContent-Type: application\/json/i);
      assertErrorBody(400, res.status, res.body, { code: 'malformed_request' });
      await answersNormally();
    });
  }

  test('headers too large are a 431 in the error shape', async () => {
    const res = await rawExchange(port, `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assertErrorBody(431, res.status, res.body, { code: 'headers_too_large' });
    await answersNormally();
  });

  test('a bad URL encoding over the wire is a 400 in the error shape', async () => {
    const res = await rawExchange(port, 'GET /v1/models/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assertErrorBody(400, res.status, res.body, { code: 'invalid_url' });
  });

  test('a gzip bomb over the wire is a 413 and the server still answers', async () => {
    const bomb = gzipBomb(256);
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`;
    const res = await rawExchange(port, Buffer.concat([Buffer.from(head), bomb]));
    assertErrorBody(413, res.status, res.body, { code: 'request_too_large' });
    await answersNormally();
  });
});
