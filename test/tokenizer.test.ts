import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLAMA31_TOKENS, writeLlama31TokenizerFiles } from '../src/modelgen/tokenizer-files.ts';
import {
  ChatTemplateError,
  TemplateInputError,
  TokenizerLoadError,
  loadTokenizer,
  type ChatMessage,
  type TextTokenizer,
} from '../src/tokenizer/index.ts';

/** The third-party fixture folder (beside the repo, or inside it on a device copy). */
function fixtureDir(): string {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const rel = 'shared/fixtures/ortgenai-tiny-llama-fp16';
  const candidates = [join(repo, '..', rel), join(repo, rel)];
  return candidates.find((d) => existsSync(join(d, 'tokenizer.json'))) ?? candidates[0]!;
}

const HEADER = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
const SYSTEM_PREAMBLE = 'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

let tmp: string;
let llama: TextTokenizer;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tokenizer-test-'));
  writeLlama31TokenizerFiles(join(tmp, 'llama31'));
  llama = await loadTokenizer(join(tmp, 'llama31'));
});

after(() => rmSync(tmp, { recursive: true, force: true }));

describe('loadTokenizer', () => {
  test('exposes Llama 3.1 vocabulary facts', () => {
    assert.equal(llama.vocabSize, 128256);
    assert.equal(llama.bosTokenId, LLAMA31_TOKENS.bos);
    assert.equal(llama.eosTokenId, LLAMA31_TOKENS.eot);
    assert.equal(llama.specialTokenIds.size, 256);
    for (const id of Object.values(LLAMA31_TOKENS)) assert.ok(llama.specialTokenIds.has(id), `special ${id}`);
    assert.ok(!llama.specialTokenIds.has(9906));
    assert.equal(llama.tokenToId('<|eom_id|>'), LLAMA31_TOKENS.eom);
    assert.equal(llama.tokenToId('<|python_tag|>'), LLAMA31_TOKENS.pythonTag);
    assert.equal(llama.idToToken(LLAMA31_TOKENS.eot), '<|eot_id|>');
    assert.equal(llama.idToToken(9906), 'Hello');
    assert.equal(llama.tokenToId('no-such-token-xyz'), undefined);
    assert.equal(llama.chatTemplateSource, 'tokenizer_config.json');
  });

  test('names the missing file', async () => {
    const empty = join(tmp, 'empty');
    await assert.rejects(loadTokenizer(empty), (err: unknown) => {
      assert.ok(err instanceof TokenizerLoadError);
      assert.equal(err.name, 'TokenizerLoadError');
      assert.match(err.message, /^tokenizer\.json and tokenizer_config\.json not found in /);
      assert.equal(err.file, join(empty, 'tokenizer.json'));
      return true;
    });
    const onlyJson = join(tmp, 'only-json');
    writeLlama31TokenizerFiles(onlyJson);
    rmSync(join(onlyJson, 'tokenizer_config.json'));
    await assert.rejects(loadTokenizer(onlyJson), /^TokenizerLoadError: tokenizer_config\.json not found in /);
  });

  test('names a file that is not valid JSON', async () => {
    const bad = join(tmp, 'bad-json');
    writeLlama31TokenizerFiles(bad);
    writeFileSync(join(bad, 'tokenizer_config.json'), '{ not json');
    await assert.rejects(loadTokenizer(bad), (err: unknown) => {
      assert.ok(err instanceof TokenizerLoadError);
      assert.match(err.message, /tokenizer_config\.json is not valid JSON/);
      return true;
    });
  });
});

describe('encode / decode', () => {
  test('encode adds bos by default and not when asked', () => {
    assert.deepEqual(llama.encode('Hello world'), [128000, 9906, 1917]);
    assert.deepEqual(llama.encode('Hello world', { addSpecialTokens: false }), [9906, 1917]);
  });

  test('special-token strings in text encode to their ids', () => {
    const ids = llama.encode('<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>', { addSpecialTokens: false });
    assert.equal(ids[0], 128006);
    assert.equal(ids[2], 128007);
    assert.equal(ids.at(-1), LLAMA31_TOKENS.eot);
  });

  test('mixed text round-trips without cleanup of spaces', () => {
    const texts = [
      'Hello , world . It \'s "quoted" ?',
      '  leading spaces\n\ttabs and\r\nnewlines  ',
      'Emoji 👍🏽🤖 and CJK 你好，世界 日本語 — ünïcödé',
      'code: `for (let i = 0; i < n; i++) { x += i; }`',
      'numbers 1234567 3.14159 and don\'t won\'t',
    ];
    for (const text of texts) {
      assert.equal(llama.decode(llama.encode(text, { addSpecialTokens: false })), text);
    }
  });

  test('special tokens are skipped by default and kept on request', () => {
    const ids = [LLAMA31_TOKENS.bos, 9906, LLAMA31_TOKENS.eot, 1917, LLAMA31_TOKENS.eom];
    assert.equal(llama.decode(ids), 'Hello world');
    assert.equal(llama.decode(ids, { skipSpecialTokens: true }), 'Hello world');
    assert.equal(llama.decode(ids, { skipSpecialTokens: false }), '<|begin_of_text|>Hello<|eot_id|> world<|eom_id|>');
  });

  test('decode of no ids is empty', () => {
    assert.equal(llama.decode([]), '');
  });
});

describe('Llama 3.1 chat template', () => {
  const conversation: ChatMessage[] = [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '4.' },
    { role: 'user', content: 'And 3+3?' },
  ];

  test('multi-turn with a system prompt renders exactly', () => {
    const expected =
      '<|begin_of_text|>' +
      HEADER('system') + SYSTEM_PREAMBLE + 'You are a helpful assistant.<|eot_id|>' +
      HEADER('user') + 'What is 2+2?<|eot_id|>' +
      HEADER('assistant') + '4.<|eot_id|>' +
      HEADER('user') + 'And 3+3?<|eot_id|>' +
      HEADER('assistant');
    assert.equal(llama.applyChatTemplate(conversation, { addGenerationPrompt: true }), expected);
  });

  test('add_generation_prompt on vs off', () => {
    const on = llama.applyChatTemplate(conversation, { addGenerationPrompt: true });
    const off = llama.applyChatTemplate(conversation, { addGenerationPrompt: false });
    assert.ok(on.endsWith('And 3+3?<|eot_id|>' + HEADER('assistant')));
    assert.ok(off.endsWith('And 3+3?<|eot_id|>'));
    assert.equal(on, off + HEADER('assistant'));
  });

  test('without a system message the system header has only the dates', () => {
    const out = llama.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false });
    assert.equal(out, '<|begin_of_text|>' + HEADER('system') + SYSTEM_PREAMBLE + '<|eot_id|>' + HEADER('user') + 'Hi<|eot_id|>');
  });

  test('tool definitions appear in the first user message', () => {
    const out = llama.applyChatTemplate([{ role: 'user', content: 'Weather in Paris?' }], {
      addGenerationPrompt: true,
      tools: [WEATHER_TOOL],
    });
    assert.ok(out.includes(HEADER('system') + 'Environment: ipython\n' + SYSTEM_PREAMBLE + '<|eot_id|>'));
    const userTurn = out.slice(out.indexOf(HEADER('user')));
    assert.ok(userTurn.startsWith(HEADER('user') + 'Given the following functions'));
    const toolJson = JSON.stringify(WEATHER_TOOL, null, 4);
    assert.ok(userTurn.includes(toolJson + '\n\nWeather in Paris?<|eot_id|>'), userTurn);
    const withoutTools = llama.applyChatTemplate([{ role: 'user', content: 'Weather in Paris?' }], { addGenerationPrompt: true });
    assert.ok(!withoutTools.includes('Environment: ipython'));
    assert.ok(!withoutTools.includes('get_weather'));
  });

  test('an assistant tool call and its result render as HF does', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
      { role: 'tool', content: '{"t": 20}', tool_call_id: 'call_1' },
    ];
    const out = llama.applyChatTemplate(messages, { addGenerationPrompt: true, tools: [WEATHER_TOOL] });
    // Expected text checked against Python jinja2 with HF's settings (trim_blocks, lstrip_blocks).
    const tail =
      HEADER('assistant') + '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' +
      HEADER('ipython') + '"{\\"t\\": 20}"<|eot_id|>' + HEADER('assistant');
    assert.ok(out.endsWith('Weather in Paris?<|eot_id|>' + tail), out);
  });

  test('text-part content renders like string content', () => {
    const asString = llama.applyChatTemplate([{ role: 'user', content: 'Hello there' }], { addGenerationPrompt: true });
    const asParts = llama.applyChatTemplate([{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }], {
      addGenerationPrompt: true,
    });
    assert.equal(asParts, asString);
    const twoParts = llama.applyChatTemplate(
      [{ role: 'user', content: [{ type: 'text', text: 'line one' }, { type: 'text', text: 'line two' }] }],
      { addGenerationPrompt: false },
    );
    assert.ok(twoParts.endsWith(HEADER('user') + 'line one\nline two<|eot_id|>'));
  });

  test('a non-text content part is a TemplateInputError', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'x' } }] },
    ];
    assert.throws(
      () => llama.applyChatTemplate(messages, { addGenerationPrompt: true }),
      (err: unknown) => err instanceof TemplateInputError && err.name === 'TemplateInputError' && /image_url/.test(err.message),
    );
    assert.throws(() => llama.encodeChat(messages, { addGenerationPrompt: true }), TemplateInputError);
  });

  test('raise_exception becomes a ChatTemplateError with the template message', () => {
    // Tools but no user message to put them in: the Llama 3.1 template raises.
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }];
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: {} } }];
    assert.throws(
      () => llama.applyChatTemplate(messages, { addGenerationPrompt: true, tools }),
      (err: unknown) => {
        assert.ok(err instanceof ChatTemplateError);
        assert.ok(err instanceof Error);
        assert.equal(err.name, 'ChatTemplateError');
        assert.match(err.message, /no first user message/);
        assert.match(err.templateMessage, /no first user message/);
        return true;
      },
    );
  });

  test('a Jinja runtime error becomes a ChatTemplateError', () => {
    // The built-in tools branch uses the `reject` filter, which @huggingface/jinja lacks.
    assert.throws(
      () => llama.applyChatTemplate([{ role: 'user', content: 'Hi' }], {
        addGenerationPrompt: true,
        templateKwargs: { builtin_tools: ['code_interpreter', 'brave_search'] },
      }),
      (err: unknown) => err instanceof ChatTemplateError && /reject/.test(err.message),
    );
  });

  test('templateKwargs reach the template but cannot replace messages', () => {
    const out = llama.applyChatTemplate([{ role: 'user', content: 'Hi' }], {
      addGenerationPrompt: false,
      templateKwargs: { date_string: '01 Jan 2025', messages: [{ role: 'user', content: 'INJECTED' }] },
    });
    assert.ok(out.includes('Today Date: 01 Jan 2025\n'));
    assert.ok(out.endsWith(HEADER('user') + 'Hi<|eot_id|>'));
    assert.ok(!out.includes('INJECTED'));
  });

  test('encodeChat starts with exactly one bos', () => {
    const ids = llama.encodeChat(conversation, { addGenerationPrompt: true });
    assert.equal(ids[0], LLAMA31_TOKENS.bos);
    assert.notEqual(ids[1], LLAMA31_TOKENS.bos);
    assert.equal(ids.filter((id) => id === LLAMA31_TOKENS.bos).length, 1);
    assert.equal(ids[1], 128006); // <|start_header_id|>
    // <|start_header_id|>assistant<|end_header_id|>"\n\n"
    assert.deepEqual(ids.slice(-4), [128006, 78191, 128007, 271]);
    assert.equal(ids.at(-5), LLAMA31_TOKENS.eot);
    const rendered = llama.applyChatTemplate(conversation, { addGenerationPrompt: true });
    assert.equal(llama.decode(ids, { skipSpecialTokens: false }), rendered);
  });
});

describe('third-party SentencePiece fixture', () => {
  let sp: TextTokenizer;
  before(async () => {
    sp = await loadTokenizer(fixtureDir());
  });

  test('loads with its own vocabulary and special tokens', () => {
    assert.equal(sp.vocabSize, 32000);
    assert.equal(sp.bosTokenId, 1);
    assert.equal(sp.eosTokenId, 2);
    assert.deepEqual([...sp.specialTokenIds].sort(), [0, 1, 2]);
    assert.deepEqual(sp.encode('Hello world'), [1, 15043, 3186]);
    for (const text of ['Hello world', ' leading space', 'two  spaces\nnewline', 'x 👍🏽 你好，世界']) {
      assert.equal(sp.decode(sp.encode(text, { addSpecialTokens: false })), text);
    }
  });

  test('its own Llama-2 chat template renders', () => {
    assert.equal(sp.chatTemplateSource, 'tokenizer_config.json');
    const out = sp.applyChatTemplate(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: 'Bye' },
      ],
      { addGenerationPrompt: true },
    );
    assert.equal(out, '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]');
    const ids = sp.encodeChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((id) => id === 1).length, 1);
  });

  test('its template errors become ChatTemplateError', () => {
    assert.throws(
      () => sp.applyChatTemplate([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], { addGenerationPrompt: true }),
      (err: unknown) => err instanceof ChatTemplateError && /roles must alternate/.test(err.message),
    );
  });

  test('without a chat template the default transcript template is used', async () => {
    const dir = join(tmp, 'no-template');
    mkdirSync(dir);
    copyFileSync(join(fixtureDir(), 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: { content: '<s>' }, eos_token: '</s>' }));
    const tok = await loadTokenizer(dir);
    assert.equal(tok.chatTemplateSource, 'default');
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.eosTokenId, 2);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: {} } }] },
      { role: 'tool', content: 'ok' },
    ];
    const expected =
      '<s>system: Be brief.\n\nuser: Hi\n\nassistant: [{"type": "function", "function": {"name": "f", "arguments": {}}}]\n\ntool: ok\n\n';
    assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: false }), expected);
    assert.equal(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), expected + 'assistant:');
    const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
    assert.equal(ids[0], 1);
    assert.equal(ids.filter((id) => id === 1).length, 1);
  });

  test('a chat_template.jinja file is used when the config has no template', async () => {
    const dir = join(tmp, 'jinja-file');
    writeLlama31TokenizerFiles(dir);
    copyFileSync(join(fixtureDir(), 'tokenizer.json'), join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
    writeFileSync(join(dir, 'chat_template.jinja'), '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}');
    const tok = await loadTokenizer(dir);
    assert.equal(tok.chatTemplateSource, 'chat_template.jinja');
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false }), '<user>Hi');
  });

  test('a template that does not parse fails at load time', async () => {
    const dir = join(tmp, 'bad-template');
    writeLlama31TokenizerFiles(dir);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<|begin_of_text|>', chat_template: '{% if %}' }));
    await assert.rejects(loadTokenizer(dir), (err: unknown) => err instanceof ChatTemplateError && /cannot parse/.test(err.message));
  });
});
