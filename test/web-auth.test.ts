/**
 * The web playground against servers that differ from the default: one with --api-key, an
 * attribute-head reward model (HelpSteer2 style) and room for 4 requests (so a 5th gets a 429), and
 * one with no reward model (best-of ranks by mean logprob).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { INSTRUCT, MODELS } from './helpers/paths.ts';
import { startTestServer, waitFor, type TestServer } from './helpers/server.ts';
import { a11yViolations, BROWSER_SKIP, launchBrowser, modelsListed, openPage, setField } from './helpers/web-browser.ts';

const KEY = 'sk-web-test';
const REWARD_ATTRIBUTES = `${MODELS}/reward-attributes`;
// Chrome logs every failed fetch as a console error; a 401 (asking for the key), a 429 and the 400 the
// tests provoke are expected ones. Anything else is not.
const expectedFailure = (text: string) => /Failed to load resource: the server responded with a status of (401|429)/.test(text);

describe('web playground with --api-key and an attribute-head reward model', { skip: BROWSER_SKIP }, () => {
  let server: TestServer;
  let browser: Browser;
  before(async () => {
    server = await startTestServer({
      chat: INSTRUCT,
      reward: REWARD_ATTRIBUTES,
      limits: { apiKey: KEY },
      engineLimits: { maxNumSeqs: 4 },
      maxNumQueuedReqs: 0,
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Opens the page and gives it the key through the dialog it shows. */
  async function openWithKey() {
    const watch = await openPage(browser, `${server.url}/`);
    const dialog = watch.page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await dialog.getByLabel('API key', { exact: true }).fill(KEY);
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await modelsListed(watch.page);
    return watch;
  }

  test('the page and its assets need no key; the page asks for it, refuses a wrong one, then works', async () => {
    for (const path of ['/', '/web/js/main.js', '/web/style.css']) assert.equal((await fetch(`${server.url}${path}`)).status, 200, path);
    assert.equal((await fetch(`${server.url}/v1/models`)).status, 401);
    const { page, consoleErrors, foreignRequests } = await openPage(browser, `${server.url}/`);
    const dialog = page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    assert.match((await dialog.textContent())!, /needs an API key/);
    assert.deepEqual(await a11yViolations(page), [], 'the key dialog');
    await dialog.getByLabel('API key', { exact: true }).fill('sk-wrong');
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await page.locator('#key-reason', { hasText: 'refused the key' }).waitFor();
    await dialog.getByLabel('API key', { exact: true }).fill(KEY);
    await dialog.getByRole('button', { name: 'Use key' }).click();
    await modelsListed(page);
    assert.equal(await page.evaluate(`sessionStorage.getItem('nemotron.apiKey')`), KEY);
    assert.equal(await page.evaluate(`localStorage.getItem('nemotron.apiKey')`), null, 'the key is not kept beyond the tab');
    await setField(page, 'max_tokens', '8');
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Hi');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.waitForSelector('#chat-log .meta[data-status="done"]');
    assert.match((await page.textContent('#chat-log .meta'))!, / \+ 8 completion tokens/);
    assert.deepEqual(consoleErrors.filter((e) => !expectedFailure(e)), []);
    assert.deepEqual(foreignRequests, []);
    await page.context().close();
  });

  test('compare shows a bar per attribute, with /v1/score values', async () => {
    const { page } = await openWithKey();
    await page.getByRole('tab', { name: 'Compare', exact: true }).click();
    await page.locator('#compare-prompt').fill('Explain rain.');
    const answers = ['Water falls from clouds.', 'No idea.'];
    for (const [i, a] of answers.entries()) await page.getByLabel(`Answer ${i + 1}`, { exact: true }).fill(a);
    await page.getByRole('button', { name: 'Score', exact: true }).click();
    await page.waitForSelector('#compare-rows tr meter');
    const r = await fetch(`${server.url}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Explain rain.' }], responses: answers }),
    });
    const scored = (await r.json()) as { data: Array<{ score: number; attributes: Record<string, number> }> };
    const names = Object.keys(scored.data[0]!.attributes);
    assert.ok(names.length > 1, 'the model has several attribute heads');
    const shown = await page.$$eval('#compare-rows tr', (trs) =>
      trs.map((tr) => Object.fromEntries([...tr.querySelectorAll('meter')].map((m) => [m.dataset.attribute!, m.value]))),
    );
    scored.data.forEach((d, i) => {
      assert.deepEqual(Object.keys(shown[i]!), names);
      for (const n of names) assert.ok(Math.abs(shown[i]![n]! - d.attributes[n]!) < 1e-6, `${n} of answer ${i + 1}`);
    });
    assert.deepEqual(await a11yViolations(page), [], 'attribute bars');
    await page.context().close();
  });

  test('best-of shows attribute bars on every candidate', async () => {
    const { page } = await openWithKey();
    await setField(page, 'max_tokens', '6');
    await page.getByRole('tab', { name: 'Best-of', exact: true }).click();
    await page.locator('#bo-prompt').fill('Say something.');
    await page.getByLabel('Candidates (k)').fill('3');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.locator('#bo-results .candidate').nth(2).waitFor();
    assert.equal(await page.locator('#bo-results .candidate').count(), 3);
    const meters = await page.$$eval('#bo-results .candidate', (cards) => cards.map((c) => c.querySelectorAll('meter').length));
    assert.equal(new Set(meters).size, 1);
    assert.ok(meters[0]! > 1, `attribute bars per candidate: ${meters[0]}`);
    await page.context().close();
  });

  test('a 429 (server full) is shown as a readable message', async () => {
    const { page } = await openWithKey();
    const busy = new AbortController();
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 4000, stream: true });
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${KEY}` };
    // Four long streams fill the four slots (max-num-seqs 4, no queue).
    const streams = Array.from({ length: 4 }, () => fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers, body, signal: busy.signal }));
    try {
      await Promise.all(streams);
      await waitFor(() => server.engines[0]!.stats().running + server.engines[0]!.stats().waiting === 4, 20_000);
      await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Hello');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      const alert = page.locator('#chat-error');
      await alert.filter({ hasText: /\S/ }).waitFor();
      assert.match((await alert.textContent())!, /^Server busy \(429\): .+ Retry in \d+ s\.$/);
      assert.equal(await page.getByRole('textbox', { name: 'Message', exact: true }).inputValue(), 'Hello');
    } finally {
      busy.abort();
      await Promise.allSettled(streams);
    }
    await page.context().close();
  });
});

describe('web playground without a reward model', { skip: BROWSER_SKIP }, () => {
  let server: TestServer;
  let browser: Browser;
  before(async () => {
    server = await startTestServer({ chat: INSTRUCT });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('best-of ranks by mean logprob (the reward choice is off) and Compare says nothing can be scored', async () => {
    const { page, consoleErrors } = await openPage(browser, `${server.url}/`);
    await modelsListed(page);
    await setField(page, 'max_tokens', '6');
    await page.getByRole('tab', { name: 'Best-of', exact: true }).click();
    assert.equal(await page.getByLabel('Reward', { exact: true }).isDisabled(), true);
    assert.equal(await page.getByLabel('Mean logprob').isChecked(), true);
    await page.locator('#bo-prompt').fill('Say something.');
    await page.getByLabel('Candidates (k)').fill('3');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.locator('#bo-results .candidate').nth(2).waitFor();
    assert.equal(await page.locator('#bo-results .candidate').count(), 3);
    const means = await page.$$eval('#bo-results .candidate .mean-logprob', (els) => els.map((e) => Number(e.textContent)));
    assert.deepEqual([...means].sort((a, b) => b - a), means);
    assert.equal(await page.locator('#bo-results .candidate .reward').count(), 0);
    await page.getByRole('tab', { name: 'Compare', exact: true }).click();
    assert.equal(await page.getByRole('button', { name: 'Score', exact: true }).isDisabled(), true);
    assert.match((await page.textContent('#compare-note-model'))!, /No reward model is served/);
    assert.deepEqual(consoleErrors, []);
    await page.context().close();
  });
});
