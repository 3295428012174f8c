// The page's only way to the server: same-origin calls to the public API, with the API key (kept in
// sessionStorage, so it leaves with the tab) sent as a Bearer token on every call. Errors arrive in
// OpenAI's shape {"error": {message, type, param, code}} and become ApiError, whose text is shown.

const KEY_STORE = 'nemotron.apiKey';

/** A failed API call: the HTTP status (0 when the server could not be reached) and OpenAI's error fields. */
export class ApiError extends Error {
  constructor(status, error = {}, retryAfter = null) {
    super(typeof error.message === 'string' && error.message !== '' ? error.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.type = error.type ?? null;
    this.param = error.param ?? null;
    this.code = error.code ?? null;
    this.retryAfter = retryAfter;
  }
}

const STATUS_WORDS = {
  0: 'Server unreachable',
  400: 'Bad request',
  401: 'API key needed',
  404: 'Not found',
  413: 'Request too large',
  429: 'Server busy',
  500: 'Server error',
  503: 'Server not ready',
};

/** One readable line for any error a call can end with (never an empty string). */
export function describeError(err) {
  if (err instanceof ApiError) {
    const head = STATUS_WORDS[err.status] ?? `HTTP ${err.status}`;
    const status = err.status > 0 ? ` (${err.status})` : '';
    const field = err.param ? ` [field: ${err.param}]` : '';
    const retry = err.retryAfter ? ` Retry in ${err.retryAfter} s.` : '';
    return `${head}${status}: ${err.message}${field}${retry}`;
  }
  return `Unexpected error: ${err?.message || String(err)}`;
}

/** Whether an error is the page's own abort (Stop), not a failure. */
export function isAbort(err) {
  return err?.name === 'AbortError';
}

/** Splits an SSE byte stream into the JSON payloads of its `data:` frames, ending at `[DONE]`. */
async function* sseData(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data === '') continue;
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

/** The API client the views share. `onUnauthorized(err)` runs on every 401 (the page asks for a key). */
export class Api {
  constructor({ onUnauthorized } = {}) {
    this.onUnauthorized = onUnauthorized ?? (() => {});
  }

  get key() {
    return sessionStorage.getItem(KEY_STORE) ?? '';
  }

  setKey(key) {
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
  }

  async request(path, { body, signal, accept = 'application/json' } = {}) {
    const headers = { accept };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new ApiError(0, { message: `could not reach the server (${err.message})` });
    }
    if (!res.ok) throw await this.failure(res);
    return res;
  }

  async failure(res) {
    let error = {};
    try {
      error = (await res.json()).error ?? {};
    } catch {
      error = { message: `HTTP ${res.status} ${res.statusText}`.trim() };
    }
    const err = new ApiError(res.status, error, res.headers.get('retry-after'));
    if (res.status === 401) this.onUnauthorized(err);
    return err;
  }

  /** GET or POST (when `body` is given) a JSON endpoint. */
  async json(path, body, signal) {
    return (await this.request(path, { body, signal })).json();
  }

  /** GET a text endpoint (/metrics). */
  async text(path, signal) {
    return (await this.request(path, { signal, accept: 'text/plain' })).text();
  }

  /**
   * POSTs a streaming request and yields its chunks. An error frame sent after the headers
   * (`data: {"error": …}`) is thrown as an ApiError with status 500.
   */
  async *stream(path, body, signal) {
    const res = await this.request(path, { body, signal, accept: 'text/event-stream' });
    for await (const chunk of sseData(res.body)) {
      if (chunk.error) throw new ApiError(500, chunk.error);
      yield chunk;
    }
  }
}
