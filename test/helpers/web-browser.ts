/**
 * Headless Chromium for the web playground tests, driven by playwright-core against the executable
 * Debian's `chromium` package installs (or CHROMIUM_PATH). Without one, browser tests skip, except in
 * CI, where .ci/run installs it and its absence must fail (as the promtool metrics lint does).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO } from './paths.ts';

/** True under CI (CI set to anything but 0/false). */
export const IN_CI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/usr/bin/google-chrome'];

/**
 * The Chromium executable: CHROMIUM_PATH when set (and only it), else the first of the usual Debian /
 * Ubuntu paths present; undefined when that file does not exist.
 */
export function chromiumPath(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return CANDIDATES.find((p) => existsSync(p));
}

/** The `skip` option of a browser suite: a reason when no Chromium is found outside CI, else false. */
export const BROWSER_SKIP: string | false =
  chromiumPath() || IN_CI ? false : 'chromium not found (apt-get install chromium, or set CHROMIUM_PATH; CI installs it)';

/** Launches headless Chromium; fails (in CI) when there is none. */
export async function launchBrowser(): Promise<Browser> {
  const path = chromiumPath();
  if (!path) {
    const looked = process.env.CHROMIUM_PATH ?? CANDIDATES.join(', ');
    throw new Error(`CI must have Chromium (Debian package chromium; .ci/run installs it); looked for ${looked}`);
  }
  // playwright-core passes --no-sandbox by default (chromiumSandbox: false), which running as root needs,
  // and turns Chromium's background networking off. Names other than loopback do not resolve, so neither
  // the page nor the browser can reach another host during a test.
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
  });
}

/** What a page did besides rendering: console errors, uncaught exceptions, requests to other origins. */
export interface PageWatch {
  page: Page;
  consoleErrors: string[];
  foreignRequests: string[];
  /** Request bodies (parsed JSON) of API calls, by path, in order. */
  apiBodies: Array<{ path: string; body: unknown }>;
}

/** Opens a fresh context (empty localStorage / sessionStorage) and page, watching it, at `url`. */
export async function openPage(browser: Browser, url: string, viewport = { width: 1280, height: 860 }): Promise<PageWatch> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const origin = new URL(url).origin;
  const watch: PageWatch = { page, consoleErrors: [], foreignRequests: [], apiBodies: [] };
  page.on('console', (m) => {
    if (m.type() === 'error') watch.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => watch.consoleErrors.push(`uncaught: ${e.message}`));
  page.on('request', (r) => {
    if (new URL(r.url()).origin !== origin && !r.url().startsWith('data:')) watch.foreignRequests.push(r.url());
    const body = r.postData();
    if (body) watch.apiBodies.push({ path: new URL(r.url()).pathname, body: JSON.parse(body) });
  });
  await page.goto(url);
  return watch;
}

/** Waits until the page has listed the models (the chat model picker holds one). */
export async function modelsListed(page: Page): Promise<void> {
  // Locators, not waitForFunction: a polled predicate is eval'd in the page, which its CSP forbids.
  await page.locator('#chat-model option').first().waitFor({ state: 'attached' });
}

/** Saves a screenshot into docs/ when WEB_SCREENSHOTS is set (the README shows these files). */
export async function maybeScreenshot(page: Page, name: string): Promise<void> {
  if (!process.env.WEB_SCREENSHOTS) return;
  const dir = join(REPO, 'docs');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name) });
}

/** Sets a settings field (number inputs included) and fires `change`, as a user edit would. */
export async function setField(page: Page, id: string, value: string): Promise<void> {
  await page.locator(`#${id}`).fill(value);
  await page.locator(`#${id}`).dispatchEvent('change');
}

/** axe-core's source, run in the page through the DevTools protocol (which the page's CSP does not govern). */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** WCAG 2 A/AA violations axe-core finds in the page as it is now, as "rule: targets" lines. */
export async function a11yViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(`typeof axe !== 'undefined'`))) await page.evaluate(AXE);
  return (await page.evaluate(
    `axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }).then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
  )) as string[];
}
