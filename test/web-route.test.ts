/**
 * The web playground's serving, without a browser: `/` and its assets (every file the page loads,
 * followed through its module imports), no key needed for them while the API still needs one, nothing
 * outside src/web reachable, assets that reach no other host, and --no-web-ui.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { buildApp } from '../src/server/app.ts';
import { ConfigError, parseConfig } from '../src/server/config.ts';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../src/server/deps.ts';
import { isWebPath, WEB_ROOT } from '../src/server/routes/web.ts';

function app(limits: Partial<ServerLimits> = {}) {
  return buildApp({ models: [], limits: { ...DEFAULT_SERVER_LIMITS, ...limits }, isReady: () => true, logger: false, version: 'test' });
}

/** Every file under src/web, as /web/... paths. */
function assetPaths(dir = WEB_ROOT, prefix = '/web'): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? assetPaths(join(dir, e.name), `${prefix}/${e.name}`) : [`${prefix}/${e.name}`],
  );
}

describe('serving the page', () => {
  test('GET / is the page, with a same-origin-only content security policy', async () => {
    const res = await app().inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.headers['content-security-policy'] as string, /default-src 'self'/);
    assert.match(res.headers['content-security-policy'] as string, /connect-src 'self'/);
    assert.match(res.body, /<script type="module" src="\/web\/js\/main\.js"><\/script>/);
  });

  test('every asset the page loads is served with its type, following module imports', async () => {
    const a = app();
    const page = (await a.inject({ method: 'GET', url: '/' })).body;
    const queue = [...page.matchAll(/(?:src|href)="(\/web\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(queue.length >= 3, 'script, stylesheet and icon');
    const seen = new Set<string>();
    const types: Record<string, RegExp> = { js: /javascript/, css: /^text\/css/, svg: /^image\/svg\+xml/ };
    while (queue.length > 0) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await a.inject({ method: 'GET', url: path });
      assert.equal(res.statusCode, 200, path);
      assert.match(res.headers['content-type'] as string, types[path.split('.').pop()!]!, path);
      if (path.endsWith('.js')) {
        for (const m of res.body.matchAll(/^import .* from '(\.[^']+)';$/gm)) queue.push(posix.join(posix.dirname(path), m[1]!));
      }
    }
    assert.deepEqual([...seen].sort(), assetPaths().filter((p) => p !== '/web/index.html').sort(), 'every asset is used, none is missing');
  });

  test('the assets name no other host and register no service worker', () => {
    for (const path of assetPaths()) {
      const text = readFileSync(join(WEB_ROOT, path.slice('/web/'.length)), 'utf8').replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '');
      assert.doesNotMatch(text, /https?:\/\//, `${path} names a URL`);
      assert.doesNotMatch(text, /serviceWorker\.register|importScripts/, path);
    }
  });

  test('unknown assets and paths outside src/web are OpenAI-shape 404s', async () => {
    const a = app();
    for (const url of ['/web/missing.js', '/web/../server/app.ts', '/web/%2e%2e/server/app.ts', '/web/', '/index.html']) {
      const res = await a.inject({ method: 'GET', url });
      assert.ok(res.statusCode === 404 || res.statusCode === 403, `${url}: ${res.statusCode}`);
      assert.doesNotMatch(res.body, /buildApp/, url);
      if (res.statusCode === 404) assert.equal(typeof res.json().error.message, 'string', url);
    }
  });
});

describe('the API key and the page', () => {
  const key = 'sk-page';

  test('the page and its assets need no key; the API and anything else still do', async () => {
    const a = app({ apiKey: key });
    for (const url of ['/', '/?x=1', '/web/js/main.js', '/web/style.css']) assert.equal((await a.inject({ method: 'GET', url })).statusCode, 200, url);
    for (const url of ['/v1/models', '/web/../v1/models', '/version', '/webx']) {
      const res = await a.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 401, url);
      assert.equal(res.json().error.code, 'invalid_api_key', url);
    }
    const ok = await a.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${key}` } });
    assert.equal(ok.statusCode, 200);
  });

  test('isWebPath accepts the page and named assets only', () => {
    for (const p of ['/', '/web/style.css', '/web/js/main.js']) assert.equal(isWebPath(p), true, p);
    for (const p of ['/web/', '/web/../x', '/web/.env', '/web/js/../../x', '/webx', '/v1/models', '//', '/web//a.js']) {
      assert.equal(isWebPath(p), false, p);
    }
  });
});

describe('--no-web-ui', () => {
  test('turns the page and its assets off (404 in the OpenAI shape; with a key, they need it)', async () => {
    const off = app({ webUi: false });
    for (const url of ['/', '/web/js/main.js']) {
      const res = await off.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, 'not_found');
    }
    assert.equal((await app({ webUi: false, apiKey: 'k' }).inject({ method: 'GET', url: '/' })).statusCode, 401);
  });

  test('the flag and NO_WEB_UI set webUi false; by default the field is absent (on)', () => {
    assert.equal(parseConfig(['--no-web-ui'], {}).limits.webUi, false);
    assert.equal(parseConfig([], { NO_WEB_UI: '1' }).limits.webUi, false);
    assert.equal('webUi' in parseConfig([], {}).limits, false);
    assert.equal('webUi' in parseConfig([], { NO_WEB_UI: 'false' }).limits, false);
    assert.throws(() => parseConfig([], { NO_WEB_UI: 'maybe' }), (e: unknown) => e instanceof ConfigError && /--no-web-ui.*NO_WEB_UI/.test(e.message));
  });
});
