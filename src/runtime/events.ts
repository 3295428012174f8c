import type { GenerationEvent, GenerationRequest } from './types.ts';

/** The end event of a sequence that stops before producing any token (abort, error, crash). */
export function endWithoutTokens(request: GenerationRequest, index: number, reason: 'abort' | 'error'): GenerationEvent {
  return {
    type: 'end',
    index,
    finishReason: reason,
    text: '',
    promptTokens: request.promptTokenIds.length,
    completionTokens: 0,
    cumulativeLogprob: 0,
  };
}
