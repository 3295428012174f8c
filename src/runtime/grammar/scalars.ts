/**
 * Scalar frames of the automaton: strings (UTF-8 validated byte by byte, escapes, length limits in code
 * points), numbers (numbers.ts) and literal texts (enum, const, true/false/null).
 */
import { Config, Frame, pop, replaceTop } from './frames.ts';
import { NumberState } from './numbers.ts';
import type { LiteralNode, StringNode } from './nodes.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A UTF-8 lead byte: how many continuation bytes follow and the allowed range of the first one. */
export interface Utf8Lead {
  pending: number;
  lo: number;
  hi: number;
}

const LEADS: (Utf8Lead | null)[] = Array.from({ length: 256 }, (_, b) => {
  if (b >= 0xc2 && b <= 0xdf) return { pending: 1, lo: 0x80, hi: 0xbf };
  if (b === 0xe0) return { pending: 2, lo: 0xa0, hi: 0xbf }; // no overlong forms
  if (b === 0xed) return { pending: 2, lo: 0x80, hi: 0x9f }; // no surrogates
  if (b >= 0xe1 && b <= 0xef) return { pending: 2, lo: 0x80, hi: 0xbf };
  if (b === 0xf0) return { pending: 3, lo: 0x90, hi: 0xbf };
  if (b >= 0xf1 && b <= 0xf3) return { pending: 3, lo: 0x80, hi: 0xbf };
  if (b === 0xf4) return { pending: 3, lo: 0x80, hi: 0x8f }; // up to U+10FFFF
  return null;
});

/** The UTF-8 lead-byte rule for `b` (null for ASCII, continuation and invalid bytes). */
export function utf8Lead(b: number): Utf8Lead | null {
  return LEADS[b]!;
}

/** Whether `b` may appear unescaped inside a JSON string as an ASCII character. */
export function isPlainAscii(b: number): boolean {
  return b >= 0x20 && b < 0x80 && b !== QUOTE && b !== BACKSLASH;
}

const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

/**
 * Inside a string: `count` characters (code points) begun, `pending` UTF-8 continuation bytes still due
 * (the next one within [lo, hi]), `esc` 0 = none, 1 = after '\', 2..5 = reading the 4 hex digits of \u.
 */
export class StringFrame extends Frame {
  constructor(
    readonly node: StringNode,
    readonly count: number,
    readonly pending: number,
    readonly lo: number,
    readonly hi: number,
    readonly esc: number,
  ) {
    super();
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    const next = this.step(b);
    if (next === CLOSE) pop(cfg, out);
    else if (next) out.push(replaceTop(cfg, next));
  }

  private step(b: number): StringFrame | typeof CLOSE | null {
    const { node, count } = this;
    if (this.esc === 1) {
      if (SIMPLE_ESCAPES.has(b)) return this.with(count, 0);
      return b === 0x75 ? this.with(count, 2) : null;
    }
    if (this.esc >= 2) {
      // The first hex digit may not be d/D: no surrogate halves, so the text stays valid Unicode.
      if (!isHex(b) || (this.esc === 2 && (b === 0x64 || b === 0x44))) return null;
      return this.with(count, this.esc === 5 ? 0 : this.esc + 1);
    }
    if (this.pending > 0) {
      if (b < this.lo || b > this.hi) return null;
      return new StringFrame(node, count, this.pending - 1, 0x80, 0xbf, 0);
    }
    if (b === QUOTE) return count >= node.minLength ? CLOSE : null;
    if (count >= node.maxLength) return null;
    if (b === BACKSLASH) return this.with(count + 1, 1);
    if (b < 0x80) return b >= 0x20 ? this.with(count + 1, 0) : null;
    const lead = LEADS[b];
    return lead ? new StringFrame(node, count + 1, lead.pending, lead.lo, lead.hi, 0) : null;
  }

  private with(count: number, esc: number): StringFrame {
    return new StringFrame(this.node, count, 0, 0x80, 0xbf, esc);
  }

  /** In plain content (no escape or UTF-8 sequence open): where whole plain tokens may be bulk-checked. */
  get inPlainContent(): boolean {
    return this.esc === 0 && this.pending === 0;
  }

  rest(): number {
    const escRest = this.esc === 1 ? 1 : this.esc >= 2 ? 6 - this.esc : 0;
    return this.pending + escRest + Math.max(0, this.node.minLength - this.count) + 1;
  }
}

const CLOSE = Symbol('close');

export class NumberFrame extends Frame {
  constructor(readonly state: NumberState) {
    super();
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    const next = this.state.step(b);
    if (next) out.push(replaceTop(cfg, new NumberFrame(next)));
    else if (this.state.canEnd) pop(cfg, out, b);
  }

  override canEnd(): boolean {
    return this.state.canEnd;
  }

  rest(): number {
    return this.state.extra();
  }
}

/** Matching one of a finite set of texts; `alive` are the indices still matching the `matched` bytes read. */
export class LiteralFrame extends Frame {
  constructor(
    readonly node: LiteralNode,
    readonly matched: number,
    readonly alive: readonly number[],
  ) {
    super();
  }

  /** The frame after the first byte (possibly with nothing alive). */
  static begin(node: LiteralNode, b: number): LiteralFrame {
    const alive: number[] = [];
    node.values.forEach((v, i) => {
      if (v[0] === b) alive.push(i);
    });
    return new LiteralFrame(node, 1, alive);
  }

  /** Pushes this frame as the top of `cfg` (popping it at once when every alive text is complete). */
  feedInto(cfg: Config, out: Config[]): void {
    if (this.alive.length === 0) return;
    const next = replaceTop(cfg, this);
    if (this.alive.every((i) => this.node.values[i]!.length === this.matched)) pop(next, out);
    else out.push(next);
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    const m = this.matched;
    const values = this.node.values;
    const alive = this.alive.filter((i) => values[i]!.length > m && values[i]![m] === b);
    if (alive.length > 0) new LiteralFrame(this.node, m + 1, alive).feedInto(cfg, out);
    else if (this.canEnd()) pop(cfg, out, b);
  }

  override canEnd(): boolean {
    return this.alive.some((i) => this.node.values[i]!.length === this.matched);
  }

  rest(): number {
    let best = Infinity;
    for (const i of this.alive) best = Math.min(best, this.node.values[i]!.length - this.matched);
    return best;
  }
}
