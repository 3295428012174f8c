/**
 * Wire → validated requests for the reward endpoints. Every form becomes a list of conversations that
 * end with an assistant turn, rendered with the reward model's chat template (no generation prompt) and
 * tokenized; a conversation longer than the model's limit is a 400 naming both numbers.
 *
 * /v1/score forms:
 *   1. {model, messages}                 messages end with an assistant turn → one score
 *   2. {model, messages, responses: [...]} a prompt conversation + candidate replies → one score each
 *   3. {model, text_1, text_2}           vLLM's: user text(s) and assistant text(s); 1-to-N or N-to-N
 * /v1/rerank: {model, query, documents, top_n?, return_documents?} → query as the user turn, each
 *   document as the assistant reply.
 */
import type { ChatMessage, TokenizerPool } from '../tokenizer/index.ts';
import { parseMessages } from './chat-request.ts';
import type { AppDeps, RewardModel } from './deps.ts';
import { invalidRequest } from './errors.ts';
import { checkConversationBytes, encodeChats } from './prompt-tokens.ts';
import { findModel } from './registry.ts';
import { type Body, checkCount, has, optBool, optString, checkNumber } from './validate.ts';

/** Conversations to score, tokenized. */
export interface ScoreJob {
  model: RewardModel;
  /** Token ids per conversation. */
  items: number[][];
  /** 'candidates' (form 2) adds rank and win probability to each answer. */
  form: 'conversation' | 'candidates' | 'pairs';
}

/**
 * Tokenizes conversations for the reward model, enforcing its length limit (never truncating): first the
 * cheap bound on each conversation's text, then, after encoding (in the pool when large), the exact count.
 */
export async function tokenizeConversations(
  model: RewardModel,
  conversations: ChatMessage[][],
  param: string,
  pool?: TokenizerPool,
): Promise<number[][]> {
  const options = { addGenerationPrompt: false };
  const which = (i: number) => (conversations.length > 1 ? `Conversation ${i}` : 'The conversation');
  conversations.forEach((c, i) => {
    const last = c.at(-1);
    if (!last || last.role !== 'assistant') {
      throw invalidRequest(`The conversation to score must end with an assistant turn`, param);
    }
    checkConversationBytes(model.tokenizer.chatTextMinBytes(c, options), model, param, which(i));
  });
  const items = await encodeChats(pool, model.tokenizer, conversations, options);
  items.forEach((ids, i) => {
    if (ids.length > model.maxScoreTokens) {
      throw invalidRequest(
        `${which(i)} has ${ids.length} tokens, more than the reward model '${model.id}' accepts (${model.maxScoreTokens} tokens)`,
        param,
        'context_length_exceeded',
      );
    }
  });
  return items;
}

function stringList(v: unknown, param: string, max: number): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length < 1 || !list.every((x) => typeof x === 'string')) {
    throw invalidRequest(`'${param}' must be a string or a non-empty array of strings`, param, 'invalid_type');
  }
  checkCount(list, max, param, 'items');
  return list as string[];
}

/** Candidate replies (at most `max`): strings, or {content} / {text} objects. */
function responseTexts(v: unknown, param: string, max: number): string[] {
  if (!Array.isArray(v) || v.length === 0) throw invalidRequest(`'${param}' must be a non-empty array`, param, 'invalid_type');
  checkCount(v, max, param, 'items');
  return v.map((r: unknown, i: number) => {
    if (typeof r === 'string') return r;
    const o = r as { content?: unknown; text?: unknown } | null;
    const text = o && typeof o === 'object' ? (o.content ?? o.text) : undefined;
    if (typeof text !== 'string') throw invalidRequest(`'${param}[${i}]' must be a string or have a string 'content'`, `${param}[${i}]`);
    return text;
  });
}

const pair = (user: string, assistant: string): ChatMessage[] => [
  { role: 'user', content: user },
  { role: 'assistant', content: assistant },
];

/** Validates a /v1/score body and tokenizes its conversations. */
export async function parseScoreRequest(body: Body, deps: AppDeps): Promise<ScoreJob> {
  const model = findModel(deps, optString(body, 'model'), 'reward');
  if (has(body, 'text_1') || has(body, 'text_2')) {
    const q = stringList(body.text_1, 'text_1', deps.limits.maxScoreItems);
    const a = stringList(body.text_2, 'text_2', deps.limits.maxScoreItems);
    if (q.length !== 1 && q.length !== a.length) {
      throw invalidRequest(`'text_1' must have one item or as many as 'text_2' (${a.length}), got ${q.length}`, 'text_1');
    }
    const convs = a.map((reply, i) => pair(q.length === 1 ? q[0]! : q[i]!, reply));
    return { model, items: await tokenizeConversations(model, convs, 'text_2', deps.tokenizerPool), form: 'pairs' };
  }
  if (!has(body, 'messages')) throw invalidRequest(`Missing required parameter: 'messages' (or 'text_1' and 'text_2')`, 'messages');
  const messages = parseMessages(body.messages, deps.limits.maxMessages);
  if (has(body, 'responses')) {
    const replies = responseTexts(body.responses, 'responses', deps.limits.maxScoreItems);
    if (messages.at(-1)?.role === 'assistant') {
      throw invalidRequest(`With 'responses', 'messages' is the prompt: it must not end with an assistant turn`, 'messages');
    }
    const convs = replies.map((r) => [...messages, { role: 'assistant', content: r }]);
    return { model, items: await tokenizeConversations(model, convs, 'responses', deps.tokenizerPool), form: 'candidates' };
  }
  return { model, items: await tokenizeConversations(model, [messages], 'messages', deps.tokenizerPool), form: 'conversation' };
}

/** A validated /v1/rerank request. */
export interface RerankJob {
  model: RewardModel;
  items: number[][];
  documents: string[];
  topN: number;
  returnDocuments: boolean;
}

/** Validates a /v1/rerank body (Cohere / Jina / vLLM shape) and tokenizes its pairs. */
export async function parseRerankRequest(body: Body, deps: AppDeps): Promise<RerankJob> {
  const model = findModel(deps, optString(body, 'model'), 'reward');
  const query = optString(body, 'query');
  if (query === undefined) throw invalidRequest(`Missing required parameter: 'query'`, 'query');
  if (!has(body, 'documents')) throw invalidRequest(`Missing required parameter: 'documents'`, 'documents');
  const documents = responseTexts(body.documents, 'documents', deps.limits.maxScoreItems);
  const topN = has(body, 'top_n') ? checkNumber(body.top_n, 'top_n', { integer: true, min: 1 }) : documents.length;
  const items = await tokenizeConversations(model, documents.map((d) => pair(query, d)), 'documents', deps.tokenizerPool);
  return { model, items, documents, topN: Math.min(topN, documents.length), returnDocuments: optBool(body, 'return_documents', true) };
}
