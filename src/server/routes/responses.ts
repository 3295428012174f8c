/**
 * The Responses API: POST /v1/responses (streamed or not), GET and DELETE /v1/responses/{id} for stored
 * responses. A request is converted to a chat request (responses/convert.ts) and runs the chat path:
 * validation, template, tools and constrained decoding, the engine. Everything that can fail does so
 * before any SSE header, so early failures are real statuses.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseChatRequest } from '../chat-request.ts';
import type { AppDeps } from '../deps.ts';
import { ApiError, invalidRequest } from '../errors.ts';
import { collectGeneration, connectionSignal, newAnswer, timeoutError, wireFinishReason } from '../generation-service.ts';
import { ResponseAssembler, type ResponseObject, responseUsage } from '../responses/build.ts';
import { convertRequest, itemsToMessages, responseEcho, type WireMessage } from '../responses/convert.ts';
import { inputItems, itemPage } from '../responses/input-items.ts';
import { ResponseStore } from '../responses/store.ts';
import { streamResponse } from '../responses/stream.ts';
import { asBody, type Body, has, optBool, optString } from '../validate.ts';

const STORE_OFF = 'this server keeps no responses (started with --responses-store-size 0)';

/** Whether to store this response: `store` (default true) when the store is on; never when it is off. */
function storeFlag(body: Body, store: ResponseStore): boolean {
  const asked = has(body, 'store') ? optBool(body, 'store', true) : undefined;
  if (store.enabled) return asked ?? true;
  if (asked === true) throw invalidRequest(`'store' cannot be true: ${STORE_OFF}`, 'store');
  return false;
}

/** The stored conversation `previous_response_id` continues (empty without one). */
function previousConversation(body: Body, store: ResponseStore): WireMessage[] {
  const id = optString(body, 'previous_response_id');
  if (id === undefined) return [];
  if (!store.enabled) throw invalidRequest(`'previous_response_id' cannot be used: ${STORE_OFF}`, 'previous_response_id');
  const entry = store.get(id);
  if (!entry) {
    throw new ApiError(404, `Previous response with id '${id}' not found.`, 'invalid_request_error', 'previous_response_id', 'previous_response_not_found');
  }
  return entry.conversation;
}

/** 404 for a response id the store does not hold. */
function responseNotFound(id: string): ApiError {
  return new ApiError(404, `Response with id '${id}' not found.`, 'invalid_request_error', 'response_id', 'not_found');
}

/** Output items as input items, turned into chat messages (for the stored conversation). */
function outputMessages(response: ResponseObject): WireMessage[] {
  const items = response.output.map((item) =>
    item.type === 'message'
      ? { type: 'message', role: 'assistant', content: item.content.map((p) => ({ type: 'output_text', text: p.text })) }
      : { type: 'function_call', call_id: item.call_id, name: item.name, arguments: item.arguments },
  );
  return itemsToMessages(items, 'output').messages;
}

/** Handles POST /v1/responses. */
async function createResponse(req: FastifyRequest, reply: FastifyReply, body: Body, deps: AppDeps, store: ResponseStore) {
  const keep = storeFlag(body, store);
  const previous = previousConversation(body, store);
  const resolve = (itemId: string) => {
    if (!store.enabled) throw invalidRequest(`'item_reference' items cannot be used: ${STORE_OFF}`, 'input');
    const item = store.findItem(itemId);
    return item ? { ...item } : undefined;
  };
  const converted = convertRequest(body, previous, resolve);
  const translate = (err: unknown) => converted.params.translate(err);
  const chat = await parseChatRequest(converted.chatBody, deps).catch((err: unknown) => {
    throw translate(err);
  });
  const echo = responseEcho(body, chat.model.id, keep);
  const { signal, timedOut } = connectionSignal(reply, deps.limits.requestTimeoutMs);
  // The engine refuses an overloaded request here, before anything is sent: a real 429.
  const events = chat.model.engine.generate(chat.generation, signal);
  const { id, created } = newAnswer('resp');
  const assembler = new ResponseAssembler(id, created, echo, chat.toolNames, chat.maxToolCalls);
  const promptTokens = chat.generation.promptTokenIds.length;
  const save = (response: ResponseObject) => {
    if (!keep) return;
    const conversation = [...previous, ...converted.inputMessages, ...outputMessages(response)];
    store.put({ response, conversation, inputItems: inputItems(body.input, resolve) });
  };
  if (optBool(body, 'stream', false)) {
    return streamResponse({ req, reply, events, assembler, promptTokens, translate, timedOut, timeoutMs: deps.limits.requestTimeoutMs, onDone: save });
  }
  const result = await collectGeneration(events, chat.generation).catch((err: unknown) => {
    throw timedOut() ? timeoutError(deps.limits.requestTimeoutMs) : translate(err);
  });
  const choice = result.choices[0]!;
  req.usage = { promptTokens, completionTokens: result.completionTokens, cachedTokens: result.cachedTokens };
  assembler.push(choice.text);
  assembler.finish(wireFinishReason(choice.finishReason), responseUsage(promptTokens, result.completionTokens, result.cachedTokens));
  const response = assembler.snapshot();
  save(response);
  return response;
}

/**
 * Registers POST /v1/responses, GET / DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items,
 * with a store bounded by the limits.
 */
export function registerResponsesRoutes(app: FastifyInstance, deps: AppDeps): void {
  const store = new ResponseStore(deps.limits.responsesStoreSize, deps.limits.responsesStoreTtlMs);
  app.post('/v1/responses', async (req, reply) => createResponse(req, reply, asBody(req.body), deps, store));
  app.get<{ Params: { id: string } }>('/v1/responses/:id', async (req) => {
    const entry = store.get(req.params.id);
    if (!entry) throw responseNotFound(req.params.id);
    return entry.response;
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>('/v1/responses/:id/input_items', async (req) => {
    const entry = store.get(req.params.id);
    if (!entry) throw responseNotFound(req.params.id);
    return itemPage(entry.inputItems, req.query ?? {});
  });
  app.delete<{ Params: { id: string } }>('/v1/responses/:id', async (req) => {
    if (!store.delete(req.params.id)) throw responseNotFound(req.params.id);
    return { id: req.params.id, object: 'response', deleted: true };
  });
}
