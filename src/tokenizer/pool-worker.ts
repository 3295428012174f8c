/**
 * A TokenizerPool worker: builds each tokenizer it is sent (once), then encodes, renders and decodes on request,
 * one task at a time, answering every task with its ids or its error (pool-protocol.ts).
 */
import { parentPort } from 'node:worker_threads';
import { type PoolReply, type PoolRequest, serializeError } from './pool-protocol.ts';
import { createTokenizerFromSource, type TextTokenizer } from './tokenizer.ts';

const port = parentPort;
if (!port) throw new Error('pool-worker.ts runs only as a worker thread');

/** Tokenizers by key; a load that failed keeps its error, thrown for each task that needs it. */
const tokenizers = new Map<string, TextTokenizer | Error>();

function tokenizerFor(key: string): TextTokenizer {
  const tok = tokenizers.get(key);
  if (tok === undefined) throw new Error(`tokenizer ${key} was never loaded in this worker`);
  if (tok instanceof Error) throw tok;
  return tok;
}

port.on('message', (msg: PoolRequest) => {
  if (msg.type === 'load') {
    if (tokenizers.has(msg.key)) return;
    try {
      tokenizers.set(msg.key, createTokenizerFromSource(msg.source));
    } catch (err) {
      tokenizers.set(msg.key, err instanceof Error ? err : new Error(String(err)));
    }
    return;
  }
  try {
    const tok = tokenizerFor(msg.key);
    if (msg.type === 'decode') {
      port.postMessage({ id: msg.id, ok: true, text: tok.decode(Array.from(msg.ids), msg.opts) } satisfies PoolReply);
      return;
    }
    const ids = msg.type === 'encode' ? tok.encode(msg.text, msg.opts) : tok.encodeChat(msg.messages, msg.opts);
    const out = Uint32Array.from(ids);
    port.postMessage({ id: msg.id, ok: true, ids: out } satisfies PoolReply, [out.buffer]);
  } catch (err) {
    port.postMessage({ id: msg.id, ok: false, error: serializeError(err) } satisfies PoolReply);
  }
});
