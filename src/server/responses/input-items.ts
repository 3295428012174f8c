/**
 * A stored response's input items, for GET /v1/responses/{id}/input_items: the request's `input` (after
 * convert.ts validated it) as the Responses API lists items — each with an id, messages with typed
 * content parts — and the page of them a list request asks for.
 */
import { invalidRequest } from '../errors.ts';
import { responseId } from '../generation-service.ts';
import { type Body, has, optString } from '../validate.ts';
import type { ItemResolver } from './convert.ts';

/** One listed input item. */
export type InputItem = Record<string, unknown> & { id: string; type: string };

function text(part: unknown): string {
  const p = part as { text?: unknown; refusal?: unknown };
  return typeof p.text === 'string' ? p.text : typeof p.refusal === 'string' ? p.refusal : '';
}

/** A message's content as typed parts (`output_text` for the assistant, `input_text` otherwise). */
function parts(role: unknown, content: unknown) {
  const pieces = typeof content === 'string' ? [content] : Array.isArray(content) ? content.map(text) : [];
  return pieces.map((t) => (role === 'assistant' ? { type: 'output_text', text: t, annotations: [] } : { type: 'input_text', text: t }));
}

/** One validated input item as listed (undefined: not listed, e.g. reasoning items). */
function listed(item: Record<string, unknown>, resolve: ItemResolver): InputItem | undefined {
  if (item.type === 'item_reference') {
    const found = resolve(String(item.id));
    return found ? ({ ...found } as InputItem) : undefined;
  }
  const type = item.type ?? 'message';
  const id = typeof item.id === 'string' ? item.id : undefined;
  if (type === 'message') {
    return { type: 'message', id: id ?? responseId('msg'), role: item.role, status: 'completed', content: parts(item.role, item.content) };
  }
  if (type === 'function_call') {
    return { type: 'function_call', id: id ?? responseId('fc'), call_id: item.call_id, name: item.name, arguments: item.arguments, status: 'completed' };
  }
  if (type === 'function_call_output') {
    const output = typeof item.output === 'string' ? item.output : Array.isArray(item.output) ? item.output.map(text).join('') : '';
    return { type: 'function_call_output', id: id ?? responseId('fco'), call_id: item.call_id, output, status: 'completed' };
  }
  return undefined;
}

/** The input items of a request whose `input` convertRequest accepted. */
export function inputItems(input: unknown, resolve: ItemResolver): InputItem[] {
  if (typeof input === 'string') return [{ type: 'message', id: responseId('msg'), role: 'user', status: 'completed', content: parts('user', input) }];
  const items = Array.isArray(input) ? (input as Array<Record<string, unknown>>) : [];
  return items.flatMap((item) => listed(item, resolve) ?? []);
}

/**
 * One page of a list of items, as OpenAI's list endpoints answer: `order` (`desc` by default), `limit`
 * (1–100, default 20), `after` (an item id: the page starts after it).
 */
export function itemPage(items: InputItem[], query: Body) {
  const order = optString(query, 'order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw invalidRequest(`Invalid value for 'order': expected 'asc' or 'desc'`, 'order');
  const limit = has(query, 'limit') ? Number(query.limit) : 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalidRequest(`'limit' must be an integer from 1 to 100`, 'limit');
  const ordered = order === 'asc' ? items : [...items].reverse();
  const after = optString(query, 'after');
  const start = after === undefined ? 0 : ordered.findIndex((i) => i.id === after) + 1;
  if (after !== undefined && start === 0) throw invalidRequest(`'after' names no item of this response: '${after}'`, 'after');
  const data = ordered.slice(start, start + limit);
  return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < ordered.length };
}
