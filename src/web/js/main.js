// Boot of the playground page: the three views behind a tab list (Chat, Best-of, Compare; the URL hash
// names the open one), the API key dialog (shown on any 401; the key lives in sessionStorage), the model
// list and the server strip.
import { Api, describeError } from './api.js';
import { BestOfView } from './best-of.js';
import { ChatView } from './chat.js';
import { CompareView } from './compare.js';
import { Settings } from './settings.js';
import { ServerStrip } from './strip.js';

const $ = (id) => document.getElementById(id);
const VIEWS = ['chat', 'best-of', 'compare'];
const MODEL_RETRY_MS = 3000;

/** Speaks short progress lines to screen readers (a polite live region), without moving focus. */
function announce(text) {
  $('status').textContent = text;
}

/** Shows one view and marks its tab selected; `focusTab` moves focus along (arrow-key navigation). */
function showView(name, focusTab = false) {
  if (!VIEWS.includes(name)) name = 'chat';
  for (const v of VIEWS) {
    const tab = $(`tab-${v}`);
    const on = v === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`view-${v}`).hidden = !on;
    if (on && focusTab) tab.focus();
  }
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
}

function wireTabs() {
  for (const v of VIEWS) $(`tab-${v}`).addEventListener('click', () => showView(v));
  $('tabs').addEventListener('keydown', (e) => {
    const at = VIEWS.findIndex((v) => $(`tab-${v}`).getAttribute('aria-selected') === 'true');
    const step = { ArrowRight: 1, ArrowLeft: -1, Home: -at, End: VIEWS.length - 1 - at }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    showView(VIEWS[(at + step + VIEWS.length) % VIEWS.length], true);
  });
  window.addEventListener('hashchange', () => showView(location.hash.slice(1)));
  showView(location.hash.slice(1));
}

/** The key dialog; `onKey` runs after a key was given. */
function wireKeyDialog(api, onKey) {
  const dialog = $('key-dialog');
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    api.setKey($('api-key').value.trim());
    $('api-key').value = '';
    dialog.close();
    $('key-button').hidden = false;
    onKey();
  });
  $('key-cancel').addEventListener('click', () => dialog.close());
  $('key-button').addEventListener('click', () => {
    $('key-reason').textContent = 'Enter the API key this server was started with (--api-key). It is kept for this tab only.';
    dialog.showModal();
  });
  return (err) => {
    $('key-reason').textContent = api.key
      ? `The server refused the key: ${err.message}. Enter the key it was started with.`
      : 'This server needs an API key (it was started with --api-key). The key is kept for this tab only.';
    $('key-button').hidden = false;
    if (!dialog.open) dialog.showModal();
  };
}

async function boot() {
  const settings = new Settings();
  let askForKey = () => {};
  const api = new Api({ onUnauthorized: (err) => askForKey(err) });
  const strip = new ServerStrip(api);
  const views = [new ChatView(api, settings, announce), new BestOfView(api, settings, announce), new CompareView(api, settings, announce)];
  let retry = null;
  const loadModels = async () => {
    clearTimeout(retry);
    try {
      const list = (await api.json('/v1/models')).data;
      settings.setModels(list);
      strip.setModels(list);
      for (const v of views) v.modelsChanged?.();
      $('page-error').textContent = list.length === 0 ? 'Models are still loading…' : '';
      if (list.length === 0) retry = setTimeout(loadModels, MODEL_RETRY_MS);
    } catch (err) {
      $('page-error').textContent = `Could not list the models. ${describeError(err)}`;
      if (err.status !== 401) retry = setTimeout(loadModels, MODEL_RETRY_MS);
    }
  };
  askForKey = wireKeyDialog(api, loadModels);
  $('key-button').hidden = api.key === '';
  if (matchMedia('(max-width: 48rem)').matches) $('settings').open = false;
  wireTabs();
  strip.start();
  await loadModels();
}

void boot();
