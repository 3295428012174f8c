/**
 * The web playground: `GET /` answers the page (src/web/index.html) and `GET /web/*` its static assets
 * (plain ES modules and CSS, no build step), served by @fastify/static. The page holds no data and no
 * server logic: everything it shows comes from the public API, which it calls with the user's key.
 * So the page and its assets need no API key (app.ts exempts the paths `isWebPath` accepts), while every
 * API call still does. `--no-web-ui` (limits.webUi === false) registers nothing: `/` is then a 404.
 */
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ServerLimits } from '../deps.ts';

/** The folder of the page and its assets. */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** URL prefix of the assets. */
export const WEB_ASSET_PREFIX = '/web/';

/**
 * The page may load only from this server: scripts, styles, images and fetches all stay on 'self', so
 * the page cannot reach another host (no CDN) even if a future edit tries to.
 */
export const WEB_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

// Segments of asset paths: letters, digits, '_', '-', '.', never starting with '.', so '..' and dot
// files can never be named, whatever the static server would make of them.
const ASSET_PATH = /^\/web\/(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;

/** Whether the web UI is on under these limits (on unless --no-web-ui). */
export function webUiEnabled(limits: Pick<ServerLimits, 'webUi'>): boolean {
  return limits.webUi !== false;
}

/** Whether a path (without its query string) is the page or one of its assets: these need no API key. */
export function isWebPath(path: string): boolean {
  return path === '/' || ASSET_PATH.test(path);
}

/** Registers `/` and `/web/*` unless the web UI is turned off. */
export function registerWebRoutes(app: FastifyInstance, limits: Pick<ServerLimits, 'webUi'>): void {
  if (!webUiEnabled(limits)) return;
  void app.register(fastifyStatic, {
    root: WEB_ROOT,
    prefix: WEB_ASSET_PREFIX,
    // No directory listings or implicit index files: only named assets are served.
    index: false,
    list: false,
    dotfiles: 'deny',
    setHeaders: (reply) => void reply.header('x-content-type-options', 'nosniff'),
  });
  app.get('/', (_req, reply) =>
    reply
      .header('content-security-policy', WEB_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .sendFile('index.html'),
  );
}
