/**
 * Tool calling and structured outputs at the HTTP edge: validating `tools` / `tool_choice` /
 * `response_format`, the constraint a forced tool call or a JSON format needs, and parsing the model's
 * Llama 3.1 JSON tool calls back into OpenAI `tool_calls` (streamed or not).
 */
export {
  type FunctionTool,
  type ToolChoice,
  MAX_TOOLS,
  validateTools,
  validateToolChoice,
  toolCallConstraint,
} from './definitions.ts';
export { responseFormatConstraint } from './response-format.ts';
export {
  type ToolStreamEvent,
  type ParsedToolCall,
  type ToolParseResult,
  type ToolParserOptions,
  ToolCallStreamParser,
  parseToolCalls,
  toolCallDelta,
  newToolCallId,
} from './parse.ts';
