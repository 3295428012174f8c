/**
 * Helpers for constrained-decoding tests: the real Llama 3.1 tokenizer (written to a temp folder once
 * per process) and a driver that decodes under a constraint from seeded random logits.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { LLAMA31_TOKENS, writeLlama31TokenizerFiles } from '../../src/modelgen/tokenizer-files.ts';
import { createPrng } from '../../src/runtime/prng.ts';
import { DEFAULT_SAMPLING_PARAMS, createSamplingState, sampleToken } from '../../src/runtime/sampling.ts';
import { ConstraintViolation, type TokenConstraint } from '../../src/runtime/grammar/index.ts';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/index.ts';

export const EOS_IDS: number[] = [LLAMA31_TOKENS.endOfText, LLAMA31_TOKENS.eom, LLAMA31_TOKENS.eot];

let tokenizer: Promise<TextTokenizer> | undefined;

/** The Llama 3.1 tokenizer (128,256 ids), loaded once per process. */
export function llamaTokenizer(): Promise<TextTokenizer> {
  if (!tokenizer) {
    const dir = mkdtempSync(join(tmpdir(), 'grammar-tok-'));
    writeLlama31TokenizerFiles(dir);
    tokenizer = loadTokenizer(dir);
  }
  return tokenizer;
}

/** What a constrained run produced. */
export interface ConstrainedRun {
  ids: number[];
  /** Decoded text without the EOS token. */
  text: string;
  /** The constraint said the value was finished (or EOS was sampled once complete). */
  finished: boolean;
}

/** Options of {@link runConstrained}. */
export interface RunOptions {
  seed: number;
  maxTokens: number;
  /** Spread of the uniform random logits (higher: peakier distributions). */
  scale?: number;
  /** Sampling temperature; 0 = greedy. */
  temperature?: number;
  /** Adds to the random logits before the mask (to favour some tokens adversarially). */
  bias?: (logits: Float32Array) => void;
}

/**
 * Decodes up to `maxTokens` tokens: random logits → constraint mask (with the tokens left) → the
 * server's own sampler → accept. Stops when the constraint is finished or EOS is sampled.
 */
export function runConstrained(c: TokenConstraint, tok: TextTokenizer, opts: RunOptions): ConstrainedRun {
  const logitsPrng = createPrng(opts.seed * 7919 + 1);
  const params = { ...DEFAULT_SAMPLING_PARAMS, temperature: opts.temperature ?? 1, seed: opts.seed };
  const state = createSamplingState(params);
  const logits = new Float32Array(tok.vocabSize);
  const scale = opts.scale ?? 8;
  // One random row per run, rotated by a random offset each step: random per step, and cheap.
  const base = Float32Array.from({ length: logits.length }, () => logitsPrng.next() * scale);
  const ids: number[] = [];
  let finished = false;
  for (let i = 0; i < opts.maxTokens && !finished; i++) {
    const offset = Math.floor(logitsPrng.next() * logits.length);
    logits.set(base.subarray(offset));
    logits.set(base.subarray(0, offset), logits.length - offset);
    opts.bias?.(logits);
    c.mask(logits, opts.maxTokens - i);
    const { tokenId } = sampleToken(logits, params, state, false);
    c.accept(tokenId);
    if (EOS_IDS.includes(tokenId)) finished = true;
    else {
      ids.push(tokenId);
      finished = c.isFinished();
    }
  }
  return { ids, text: tok.decode(ids), finished };
}

const ajv = new Ajv({ strict: false, allErrors: true });

/** Null when `value` is valid against `schema`, else ajv's error text. */
export function schemaErrors(schema: object | boolean, value: unknown): string | null {
  const validate = ajv.compile(schema);
  return validate(value) ? null : ajv.errorsText(validate.errors);
}

/**
 * Whether constraint `c` takes `text`'s UTF-8 bytes one by one and is complete after them (false at the
 * first byte it refuses).
 */
export function acceptsBytes(c: TokenConstraint, text: string): boolean {
  for (const b of new TextEncoder().encode(text)) {
    try {
      c.accept(b);
    } catch (err) {
      assert.ok(err instanceof ConstraintViolation, `a refusal, not ${String(err)}`);
      return false;
    }
  }
  return c.isComplete();
}
