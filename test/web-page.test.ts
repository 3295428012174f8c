/**
 * The web playground in real headless Chromium against a real server with the default chat and reward
 * models: the page loads cleanly, chat answers stream into the page and Stop aborts them, best-of shows
 * k candidates whose scores equal /v1/score's, Compare shows /v1/score's numbers, and a 400 is shown
 * as a readable message. With WEB_SCREENSHOTS=1 the views are saved as docs/web-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { INSTRUCT, REWARD } from './helpers/paths.ts';
import { startTestServer, waitFor, type TestServer } from './helpers/server.ts';
import { a11yViolations, BROWSER_SKIP, launchBrowser, maybeScreenshot, modelsListed, openPage, setField, type PageWatch } from './helpers/web-browser.ts';

interface Scored {
  data: Array<{ index: number; score: number; rank: number; win_probability: number | null }>;
}

const fixed3 = (x: number) => x.toFixed(3);

describe('web playground', { skip: BROWSER_SKIP }, () => {
  let server: TestServer;
  let browser: Browser;
  before(async () => {
    server = await startTestServer({ chat: INSTRUCT, reward: REWARD });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const score = async (prompt: string, responses: string[]): Promise<Scored> => {
    const r = await fetch(`${server.url}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'reward', messages: [{ role: 'user', content: prompt }], responses }),
    });
    assert.equal(r.status, 200);
    return (await r.json()) as Scored;
  };

  const abortedSequences = async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const m = /^nemotron_request_success_total\{[^}]*finished_reason="abort"[^}]*\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };

  async function open(): Promise<PageWatch> {
    const watch = await openPage(browser, `${server.url}/`);
    await modelsListed(watch.page);
    return watch;
  }

  test('loads with no console errors, no service worker, no other host; controls have their names', async () => {
    const { page, consoleErrors, foreignRequests } = await open();
    const res = await fetch(`${server.url}/`);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    for (const name of ['Chat', 'Best-of', 'Compare']) assert.equal(await page.getByRole('tab', { name, exact: true }).count(), 1, name);
    await page.getByRole('textbox', { name: 'Message', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).isEnabled(), true);
    assert.equal(await page.getByRole('button', { name: 'Stop', exact: true }).isDisabled(), true);
    // The strip lists the models and reads /metrics.
    await page.locator('#strip-running').filter({ hasText: /^\d+$/ }).waitFor();
    assert.match((await page.textContent('#strip-models'))!, /instruct \(chat\), reward \(reward\)/);
    assert.equal(await page.textContent('#strip-provider'), 'cpu', 'where the models run, from /v1/models');
    assert.equal(await page.evaluate(`navigator.serviceWorker.getRegistrations().then((r) => r.length)`), 0);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(foreignRequests, []);
    await page.context().close();
  });

  test('a chat answer streams into the page over several frames, with token counts; the chat survives a reload', async () => {
    const { page, consoleErrors } = await open();
    // 96 tokens: enough to span many frames even on a fast machine.
    await setField(page, 'max_tokens', '96');
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Write a haiku about GPUs.');
    // Sample the answer's length on every animation frame while it streams.
    // (A string, not a function: tsx would wrap named arrows in a helper the page does not have.)
    await page.evaluate(`(() => {
      window.lengths = [];
      const last = '#chat-log li[data-role="assistant"]:last-child';
      const tick = () => {
        window.lengths.push(document.querySelector(last + ' .text')?.textContent.length ?? 0);
        if (!document.querySelector(last + ' .meta:not([data-status="streaming"])')) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    })()`);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.waitForSelector('#chat-log .meta[data-status="done"]');
    const lengths = (await page.evaluate(`window.lengths`)) as number[];
    const finalText = (await page.textContent('#chat-log li[data-role="assistant"] .text'))!;
    const grew = lengths.filter((n, i) => i > 0 && n > lengths[i - 1]!).length;
    assert.ok(grew >= 3, `the text grew in ${grew} frames (lengths per frame: ${lengths.join(',')})`);
    assert.ok(lengths.some((n) => n > 0 && n < finalText.length), 'part of the answer was on screen before the end');
    assert.match((await page.textContent('#chat-log .meta'))!, /^\d+ prompt \+ 96 completion tokens · [\d.]+ s · [\d.]+ tok\/s · finish: length$/);
    const request = (await page.evaluate(`localStorage.getItem('nemotron.chat')`)) as string;
    assert.equal((JSON.parse(request) as Array<{ content: string }>)[1]!.content, finalText);
    await maybeScreenshot(page, 'web-chat.png');
    assert.deepEqual(await a11yViolations(page), [], 'the conversation');
    await page.reload();
    await page.waitForSelector('#chat-log li[data-role="assistant"]');
    assert.equal(await page.textContent('#chat-log li[data-role="assistant"] .text'), finalText);
    assert.deepEqual(consoleErrors, []);
    await page.context().close();
  });

  test('Stop aborts the request: the server ends the sequence as aborted and frees it', async () => {
    const { page } = await open();
    const abortedBefore = await abortedSequences();
    await setField(page, 'max_tokens', '4000');
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Tell me everything.');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await page.locator('#chat-log li[data-role="assistant"] .text').filter({ hasText: /\S/ }).waitFor();
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.waitForSelector('#chat-log .meta[data-status="stopped"]');
    assert.match((await page.textContent('#chat-log .meta'))!, /stopped/);
    assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).isEnabled(), true);
    // The connection closed, so the engine aborted the sequence (not a natural end at 4000 tokens).
    await waitFor(() => server.engines[0]!.stats().running === 0 && server.engines[0]!.stats().waiting === 0, 20_000);
    assert.equal(await abortedSequences(), abortedBefore + 1);
    await page.context().close();
  });

  test('best-of-4: four candidates side by side, ranked by reward, scores and win probabilities as /v1/score gives them', async () => {
    const { page, apiBodies, consoleErrors } = await open();
    await setField(page, 'max_tokens', '12');
    await page.getByRole('tab', { name: 'Best-of', exact: true }).click();
    const prompt = 'Name a color.';
    await page.locator('#bo-prompt').fill(prompt);
    await page.getByLabel('Candidates (k)').fill('4');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await page.locator('#bo-results .candidate').nth(3).waitFor();
    assert.equal(await page.locator('#bo-results .candidate').count(), 4);
    const body = apiBodies.find((b) => b.path === '/v1/chat/completions')!.body as { n: number; best_of: number };
    assert.equal(body.n, 4);
    assert.equal(body.best_of, 4);
    const cards = await readCards(page);
    const rewards = cards.map((c) => Number(c.reward));
    assert.deepEqual([...rewards].sort((a, b) => b - a), rewards, 'best first');
    assert.deepEqual(cards.map((c) => c.rank), ['1', '2', '3', '4']);
    assert.equal(await page.locator('#bo-results .candidate.winner').count(), 1);
    assert.equal(await page.locator('#bo-results .candidate').first().getAttribute('class'), 'candidate winner');
    const scored = await score(prompt, cards.map((c) => c.text));
    scored.data.forEach((d, i) => {
      assert.ok(Math.abs(d.score - rewards[i]!) <= 0.0011, `candidate ${i}: page ${rewards[i]} vs /v1/score ${d.score}`);
      assert.equal(cards[i]!.win, fixed3(d.win_probability!), `candidate ${i} win probability`);
      assert.equal(String(d.rank), cards[i]!.rank);
    });
    await maybeScreenshot(page, 'web-best-of.png');
    // Ranking by mean logprob re-orders the same candidates by their mean token logprob.
    await page.getByLabel('Mean logprob').check();
    const byLogprob = await readCards(page);
    const means = byLogprob.map((c) => Number(c.mean));
    assert.deepEqual([...means].sort((a, b) => b - a), means);
    assert.deepEqual(byLogprob.map((c) => c.text).sort(), cards.map((c) => c.text).sort());
    assert.ok(byLogprob.every((c) => c.win === '—'), 'win probability is a reward reading only');
    assert.deepEqual(await a11yViolations(page), [], 'the candidate cards');
    assert.deepEqual(consoleErrors, []);
    await page.context().close();
  });

  test('compare shows the scores, ranks and win probabilities /v1/score returns, and says they hold for one prompt', async () => {
    const { page, consoleErrors } = await open();
    await page.getByRole('tab', { name: 'Compare', exact: true }).click();
    assert.match((await page.textContent('#view-compare .note'))!, /same prompt only/);
    const prompt = 'What is 2 + 2?';
    const answers = ['4', 'It is four.', 'Five, probably.'];
    await page.locator('#compare-prompt').fill(prompt);
    await page.getByRole('button', { name: 'Add answer', exact: true }).click();
    for (const [i, a] of answers.entries()) await page.getByLabel(`Answer ${i + 1}`, { exact: true }).fill(a);
    await page.getByRole('button', { name: 'Score', exact: true }).click();
    await page.waitForSelector('#compare-rows tr');
    const rows = await page.$$eval('#compare-rows tr', (trs) =>
      trs.map((tr) => ({
        score: tr.querySelector('.score')!.textContent,
        rank: tr.querySelector('.rank')!.textContent,
        win: tr.querySelector('.win')!.textContent,
      })),
    );
    const scored = await score(prompt, answers);
    assert.equal(rows.length, 3);
    scored.data.forEach((d, i) => {
      assert.equal(rows[i]!.score, fixed3(d.score));
      assert.equal(rows[i]!.rank, d.rank === 1 ? '1 (best)' : String(d.rank));
      assert.equal(rows[i]!.win, fixed3(d.win_probability!));
    });
    await maybeScreenshot(page, 'web-compare.png');
    assert.deepEqual(await a11yViolations(page), [], 'the score table');
    assert.deepEqual(consoleErrors, []);
    await page.context().close();
  });

  test('keyboard and phone: arrow keys move between views, Enter sends; nothing scrolls sideways at phone width', async () => {
    const { page, consoleErrors } = await openPage(browser, `${server.url}/`, { width: 390, height: 844 });
    await modelsListed(page);
    const selected = () => page.locator('[role="tab"][aria-selected="true"]').textContent();
    await page.getByRole('tab', { name: 'Chat', exact: true }).focus();
    await page.keyboard.press('ArrowRight');
    assert.equal(await selected(), 'Best-of');
    assert.equal(await page.locator('#view-best-of').isVisible(), true);
    await page.keyboard.press('End');
    assert.equal(await selected(), 'Compare');
    await page.keyboard.press('ArrowRight');
    assert.equal(await selected(), 'Chat', 'wraps around');
    for (const name of ['Chat', 'Best-of', 'Compare']) {
      await page.getByRole('tab', { name, exact: true }).click();
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
      assert.ok(overflow <= 0, `${name}: ${overflow}px wider than the screen`);
    }
    await page.getByRole('tab', { name: 'Chat', exact: true }).click();
    // On a phone the settings start folded, leaving the screen to the conversation.
    assert.equal(await page.locator('#max_tokens').isVisible(), false);
    await page.locator('#settings summary').click();
    await setField(page, 'max_tokens', '24');
    await page.locator('#settings summary').click();
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Hello from a phone');
    await page.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
    await page.waitForSelector('#chat-log .meta[data-status="done"]');
    assert.equal(await page.locator('#chat-log li[data-role="user"] .text').textContent(), 'Hello from a phone');
    await maybeScreenshot(page, 'web-phone.png');
    assert.deepEqual(consoleErrors, []);
    await page.context().close();
  });

  test('axe finds no WCAG 2 A/AA violations (names, labels, contrast) in any view, light or dark', async () => {
    const { page } = await open();
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const name of ['Chat', 'Best-of', 'Compare']) {
        await page.getByRole('tab', { name, exact: true }).click();
        assert.deepEqual(await a11yViolations(page), [], `${name} view, ${scheme} scheme`);
      }
    }
    await page.context().close();
  });

  test('a 400 is a readable message naming the field; the page stays and the message comes back to the box', async () => {
    const { page } = await open();
    await setField(page, 'temperature', '-1');
    await page.getByRole('textbox', { name: 'Message', exact: true }).fill('Hello');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    const alert = page.locator('#chat-error');
    await alert.filter({ hasText: /\S/ }).waitFor();
    assert.match((await alert.textContent())!, /^Bad request \(400\): .+ \[field: temperature\]$/);
    assert.equal(await page.getByRole('textbox', { name: 'Message', exact: true }).inputValue(), 'Hello');
    assert.equal(await page.locator('#chat-log li').count(), 0);
    assert.equal(await page.getByRole('tab', { name: 'Chat', exact: true }).isVisible(), true);
    await page.context().close();
  });
});

/** The best-of cards as shown, in page order. */
function readCards(page: Page) {
  return page.$$eval('#bo-results .candidate', (cards) =>
    cards.map((c) => ({
      reward: c.querySelector('.reward')?.textContent ?? '',
      rank: c.querySelector('.rank')!.textContent!,
      win: c.querySelector('.win')!.textContent!,
      mean: c.querySelector('.mean-logprob')!.textContent!,
      text: c.querySelector('.text')!.textContent!,
    })),
  );
}
