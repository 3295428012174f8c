// The Chat view: a conversation kept in the page (and in localStorage), answers streamed from
// /v1/chat/completions into the page chunk by chunk, a Stop button that aborts the request (closing
// the connection is what frees the sequence on the server), and token counts and speed per answer.
import { describeError, isAbort } from './api.js';

const STORE = 'nemotron.chat';
const $ = (id) => document.getElementById(id);

function load() {
  try {
    const list = JSON.parse(localStorage.getItem(STORE) ?? '[]');
    return Array.isArray(list) ? list.filter((m) => m && typeof m.content === 'string') : [];
  } catch {
    return [];
  }
}

/** Whether the page is scrolled (nearly) to its end. */
function atBottom() {
  const el = document.scrollingElement;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
}

/** The line under an answer: token counts, time and speed, or how it ended. */
function metaText(meta) {
  if (!meta || meta.status === 'streaming') return 'answering…';
  const secs = meta.ms / 1000;
  const parts = [];
  if (meta.usage) {
    parts.push(`${meta.usage.prompt_tokens} prompt + ${meta.usage.completion_tokens} completion tokens`);
  } else {
    parts.push(`≈${meta.chunks} tokens`);
  }
  parts.push(`${secs.toFixed(2)} s`);
  const tokens = meta.usage ? meta.usage.completion_tokens : meta.chunks;
  if (secs > 0) parts.push(`${(tokens / secs).toFixed(1)} tok/s`);
  if (meta.status === 'stopped') parts.push('stopped');
  else if (meta.status === 'error') parts.push('failed');
  else if (meta.finish) parts.push(`finish: ${meta.finish}`);
  return parts.join(' · ');
}

/** The Chat view. */
export class ChatView {
  constructor(api, settings, announce) {
    this.api = api;
    this.settings = settings;
    this.announce = announce;
    this.messages = load();
    this.controller = null;
    this.log = $('chat-log');
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    $('message').addEventListener('keydown', (e) => {
      // Enter sends, Shift+Enter is a new line (as in most chat apps).
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $('chat-form').requestSubmit();
      }
    });
    $('stop').addEventListener('click', () => this.controller?.abort());
    $('clear-chat').addEventListener('click', () => this.clear());
    for (const m of this.messages) this.append(m);
  }

  save() {
    localStorage.setItem(STORE, JSON.stringify(this.messages));
  }

  clear() {
    this.controller?.abort();
    this.messages = [];
    this.save();
    this.log.replaceChildren();
    $('chat-error').textContent = '';
  }

  /** Adds a message to the page; returns the text node answers are streamed into and the meta line. */
  append(m) {
    const li = document.createElement('li');
    li.className = `msg ${m.role}`;
    li.dataset.role = m.role;
    const who = document.createElement('div');
    who.className = 'who';
    who.textContent = m.role === 'user' ? 'You' : `Assistant${m.model ? ` · ${m.model}` : ''}`;
    const text = document.createElement('div');
    text.className = 'text';
    const node = document.createTextNode(m.content);
    text.append(node);
    li.append(who, text);
    let meta = null;
    if (m.role === 'assistant') {
      meta = document.createElement('div');
      meta.className = 'meta';
      meta.dataset.status = m.meta?.status ?? 'done';
      meta.textContent = metaText(m.meta);
      li.append(meta);
    }
    this.log.append(li);
    li.scrollIntoView({ block: 'end' });
    return { li, node, meta };
  }

  setBusy(busy) {
    $('send').disabled = busy;
    $('stop').disabled = !busy;
    this.log.setAttribute('aria-busy', String(busy));
  }

  async send() {
    const box = $('message');
    const text = box.value;
    if (text.trim() === '' || this.controller) return;
    $('chat-error').textContent = '';
    const user = { role: 'user', content: text };
    this.messages.push(user);
    const userView = this.append(user);
    box.value = '';
    // An answer stopped before its first token has no text to send back.
    const history = this.messages.filter((m) => m.role === 'user' || m.content !== '').map(({ role, content }) => ({ role, content }));
    const answer = { role: 'assistant', content: '', model: this.settings.chatModel, meta: { status: 'streaming' } };
    this.messages.push(answer);
    const view = this.append(answer);
    const ended = await this.stream(answer, view, [...this.settings.systemMessages(), ...history]);
    if (ended === 'error' && answer.content === '') {
      // Nothing came back: take the turn out and give the text back, so the user can simply retry.
      this.messages.splice(-2, 2);
      view.li.remove();
      userView.li.remove();
      box.value = text;
    }
    this.save();
  }

  /** Streams one answer into `view`; returns how it ended ('done', 'stopped' or 'error'). */
  async stream(answer, view, messages) {
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    this.announce('Answering…');
    const started = performance.now();
    const meta = { status: 'streaming', chunks: 0, usage: null, finish: null, ms: 0 };
    const body = {
      model: this.settings.chatModel || undefined,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      ...this.settings.params(),
    };
    try {
      for await (const chunk of this.api.stream('/v1/chat/completions', body, controller.signal)) {
        if (chunk.usage) meta.usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const delta = choice.delta?.content;
        if (delta) {
          // Each chunk goes into the page as it arrives: one text node, grown in place. The page follows
          // the answer only while the reader is at the bottom, so scrolling up to read is not undone.
          const follow = atBottom();
          view.node.appendData(delta);
          if (follow) view.li.scrollIntoView({ block: 'end' });
          answer.content += delta;
          meta.chunks += 1;
        }
        if (choice.finish_reason) meta.finish = choice.finish_reason;
      }
      meta.status = 'done';
    } catch (err) {
      meta.status = isAbort(err) ? 'stopped' : 'error';
      if (meta.status === 'error') $('chat-error').textContent = describeError(err);
    } finally {
      meta.ms = performance.now() - started;
      answer.meta = meta;
      view.meta.dataset.status = meta.status;
      view.meta.textContent = metaText(meta);
      this.controller = null;
      this.setBusy(false);
      this.announce(meta.status === 'error' ? 'The answer failed.' : `Answer ${meta.status === 'stopped' ? 'stopped' : 'finished'}.`);
    }
    return meta.status;
  }
}
