/**
 * Runs a validated request on an engine and gathers its events per choice, for non-streamed answers;
 * and the plumbing both modes share: an AbortSignal tied to the client connection (and the request
 * timeout), and the mapping of engine error events to API errors.
 */
import { readFileSync } from 'node:fs';
import type { FastifyReply } from 'fastify';
import type { FinishReason, GenerationEvent, GenerationRequest, TokenLogprob } from '../runtime/types.ts';
import type { EngineLike } from './deps.ts';
import { ApiError } from './errors.ts';

/** A generated token, as logprobs output needs it. */
export interface TokenRecord {
  tokenId: number;
  token: string;
  /** Exact bytes when the engine gave them (else the token text's UTF-8). */
  bytes?: number[];
  logprob: number;
  topLogprobs: TokenLogprob[];
}

/** One finished choice. */
export interface ChoiceResult {
  index: number;
  text: string;
  tokens: TokenRecord[];
  finishReason: FinishReason;
  stopReason?: string | number;
  completionTokens: number;
  cumulativeLogprob: number;
}

/** All choices of one prompt, plus usage. */
export interface GenerationResult {
  choices: ChoiceResult[];
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served by the prefix cache. */
  cachedTokens: number;
}

/** A signal that aborts when the client disconnects before the answer is complete, or at the timeout. */
export function connectionSignal(reply: FastifyReply, timeoutMs: number): { signal: AbortSignal; timedOut: () => boolean } {
  const ac = new AbortController();
  let timedOut = false;
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  if (timeoutMs > 0) {
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    timer.unref();
    reply.raw.on('close', () => clearTimeout(timer));
  }
  return { signal: ac.signal, timedOut: () => timedOut };
}

/** The API error for an engine error event (the engine's own message, no internals). */
export function engineEventError(e: Extract<GenerationEvent, { type: 'error' }>): ApiError {
  if (e.code === 'invalid_request') return new ApiError(400, e.message, 'invalid_request_error', e.param ?? null, 'invalid_request');
  return new ApiError(500, `Generation failed: ${e.message}`, 'server_error', null, e.code);
}

/** The API error for a request ended by the server's request timeout. */
export function timeoutError(timeoutMs: number): ApiError {
  return new ApiError(
    408,
    `The request timed out after ${(timeoutMs / 1000).toFixed(1)} s; the generation was stopped`,
    'timeout_error',
    null,
    'request_timeout',
  );
}

/** The API error for a generation the server ended early (shutdown, worker restart). */
export function abortedError(): ApiError {
  return new ApiError(
    503,
    'The generation was stopped before it finished (the server is shutting down or its model worker restarted)',
    'server_error',
    null,
    'generation_aborted',
  );
}

/** Drains a generation into per-choice results; throws on an engine error event. */
export async function collectGeneration(events: AsyncIterable<GenerationEvent>, request: GenerationRequest): Promise<GenerationResult> {
  let cachedTokens = 0;
  const choices: ChoiceResult[] = Array.from({ length: request.n }, (_, index) => ({
    index,
    text: '',
    tokens: [],
    finishReason: 'length' as FinishReason,
    completionTokens: 0,
    cumulativeLogprob: 0,
  }));
  for await (const e of events) {
    if (e.type === 'error') throw engineEventError(e);
    const c = choices[e.index]!;
    c.text += e.text;
    if (e.type === 'token') {
      if (e.logprob !== undefined) {
        c.tokens.push({ tokenId: e.tokenId, token: e.token ?? '', bytes: e.bytes, logprob: e.logprob, topLogprobs: e.topLogprobs ?? [] });
      }
    } else {
      c.finishReason = e.finishReason;
      c.stopReason = e.stopReason;
      c.completionTokens = e.completionTokens;
      c.cumulativeLogprob = e.cumulativeLogprob;
      cachedTokens = Math.max(cachedTokens, e.cachedTokens ?? 0);
    }
  }
  const cut = choices.find((c) => c.finishReason === 'abort' || c.finishReason === 'error');
  if (cut) throw abortedError();
  return {
    choices,
    promptTokens: request.promptTokenIds.length,
    completionTokens: choices.reduce((a, c) => a + c.completionTokens, 0),
    cachedTokens,
  };
}

/** OpenAI's finish_reason for an engine finish reason (abort/error never reach a client as a reason). */
export function wireFinishReason(r: FinishReason): 'stop' | 'length' {
  return r === 'length' ? 'length' : 'stop';
}

/**
 * OpenAI's `system_fingerprint`: names the backend configuration that served an answer (clients log it
 * and compare it across answers). A string always: some clients expect one.
 */
export const SYSTEM_FINGERPRINT = `fp_nemotron_onnx_${(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version.replace(/\W/g, '_')}`;

/** Prefixes whose ids join with '_' (the Responses API's resp_…, msg_…, fc_…), not '-'. */
const UNDERSCORE_IDS = new Set(['resp', 'msg', 'fc']);

/** A random id with a prefix, as OpenAI's ids look (chatcmpl-…, cmpl-…, resp_…, msg_…, fc_…). */
export function responseId(prefix: string): string {
  return `${prefix}${UNDERSCORE_IDS.has(prefix) ? '_' : '-'}${crypto.randomUUID().replace(/-/g, '')}`;
}

/** Unix seconds now, as every answer's `created` (`created_at`) gives it. */
export function createdNow(): number {
  return Math.floor(Date.now() / 1000);
}

/** The id and creation time of a new answer: the one place both are made. */
export function newAnswer(prefix: 'chatcmpl' | 'cmpl' | 'resp' | 'score'): { id: string; created: number } {
  return { id: responseId(prefix), created: createdNow() };
}

/** UTF-8 bytes of a token's text, as OpenAI's logprobs `bytes`. */
export function tokenBytes(token: string): number[] {
  return [...Buffer.from(token, 'utf8')];
}
