/**
 * JSON Schema `pattern` → a regular-expression syntax tree, for the subset the byte automaton can enforce.
 *
 * Patterns are ECMAScript regular expressions read as with the `u` flag (as ajv reads them): code
 * points, not UTF-16 units. Supported: literals and escapes (`\n`, `\t`, `\xHH`, `\uHHHH`, `\u{…}`,
 * `\cX`, `\0`, escaped syntax characters), `.`, classes `[…]` / `[^…]` with ranges, the class escapes
 * `\d \D \w \W \s \S`, groups `(…)`, `(?:…)`, `(?<name>…)`, alternation `|`, quantifiers `* + ? {n}
 * {n,} {n,m}` (lazy forms too: whether a match exists does not depend on greediness), anchors `^` and
 * `$` anywhere (no `m` flag: start and end of the string only). Refused with a ConstraintError naming
 * the construct: backreferences, lookahead and lookbehind, word boundaries `\b` `\B`, Unicode property
 * escapes `\p{…}`, and group modifiers. A pattern that is not a valid `u`-flag RegExp is refused with
 * the engine's own syntax message.
 */
import { CharSet, classEscape, dotSet } from './charset.ts';
import { SCHEMA_LIMITS } from './bounds.ts';
import { ConstraintError } from './spec.ts';

/** A node of a parsed pattern. `repeat.max` may be Infinity. */
export type RegexNode =
  | { readonly kind: 'chars'; readonly set: CharSet }
  | { readonly kind: 'seq'; readonly items: readonly RegexNode[] }
  | { readonly kind: 'alt'; readonly items: readonly RegexNode[] }
  | { readonly kind: 'repeat'; readonly item: RegexNode; readonly min: number; readonly max: number }
  | { readonly kind: 'start' }
  | { readonly kind: 'end' };

/**
 * Parses `pattern`.
 * @param at - JSON pointer of the `pattern` keyword, for errors
 * @throws ConstraintError for an invalid pattern or a construct outside the subset (module comment)
 */
export function parsePattern(pattern: string, at: string): RegexNode {
  if (pattern.length > SCHEMA_LIMITS.maxPatternLength) {
    throw new ConstraintError(`'pattern' is longer than ${SCHEMA_LIMITS.maxPatternLength} characters`, at);
  }
  try {
    new RegExp(pattern, 'u'); // syntax only; never run
  } catch (err) {
    throw new ConstraintError(`'pattern' is not a valid regular expression: ${(err as Error).message}`, at);
  }
  return new Parser(pattern, at).parse();
}

const HEX = /^[0-9a-fA-F]$/;
const CONTROL_ESCAPES: Record<string, number> = { f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };

/** A recursive-descent parser over the pattern's code points (nesting bounded by maxPatternNesting). */
class Parser {
  private readonly cps: string[];
  private i = 0;

  constructor(
    source: string,
    private readonly path: string,
  ) {
    this.cps = Array.from(source);
  }

  parse(): RegexNode {
    const node = this.alternation(0);
    if (this.i < this.cps.length) this.fail(`unexpected '${this.cps[this.i]}'`);
    return node;
  }

  private fail(what: string): never {
    throw new ConstraintError(`'pattern' uses ${what}, which is outside the supported subset (classes, ranges, quantifiers, alternation, groups, ^ and $)`, this.path);
  }

  private peek(offset = 0): string | undefined {
    return this.cps[this.i + offset];
  }

  private lookingAt(text: string): boolean {
    return this.cps.slice(this.i, this.i + text.length).join('') === text;
  }

  private alternation(depth: number): RegexNode {
    const items = [this.sequence(depth)];
    while (this.peek() === '|') {
      this.i++;
      items.push(this.sequence(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'alt', items };
  }

  private sequence(depth: number): RegexNode {
    const items: RegexNode[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) items.push(this.term(depth));
    return items.length === 1 ? items[0]! : { kind: 'seq', items };
  }

  private term(depth: number): RegexNode {
    const c = this.peek();
    if (c === '^' || c === '$') {
      this.i++;
      return { kind: c === '^' ? 'start' : 'end' };
    }
    if (this.lookingAt('\\b') || this.lookingAt('\\B')) this.fail('a word-boundary assertion (\\b, \\B)');
    if (this.lookingAt('(?=') || this.lookingAt('(?!')) this.fail('a lookahead (?=…) / (?!…)');
    if (this.lookingAt('(?<=') || this.lookingAt('(?<!')) this.fail('a lookbehind (?<=…) / (?<!…)');
    return this.quantified(this.atom(depth));
  }

  private quantified(item: RegexNode): RegexNode {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') return this.counted(item);
    else return item;
    this.i++;
    if (this.peek() === '?') this.i++; // lazy: the same strings match
    return { kind: 'repeat', item, min, max };
  }

  /** `{n}`, `{n,}`, `{n,m}` (the RegExp check guarantees the shape under the `u` flag). */
  private counted(item: RegexNode): RegexNode {
    this.i++;
    const min = this.number();
    let max = min;
    if (this.peek() === ',') {
      this.i++;
      max = this.peek() === '}' ? Infinity : this.number();
    }
    this.i++; // '}'
    if (this.peek() === '?') this.i++;
    const limit = SCHEMA_LIMITS.maxPatternRepeat;
    if (min > limit || (max !== Infinity && max > limit)) {
      throw new ConstraintError(`'pattern' repeats more than ${limit} times ({n,m} counts are limited)`, this.path);
    }
    return { kind: 'repeat', item, min, max };
  }

  private number(): number {
    let n = 0;
    for (let c = this.peek(); c !== undefined && c >= '0' && c <= '9'; c = this.peek()) {
      n = Math.min(n * 10 + Number(c), Number.MAX_SAFE_INTEGER);
      this.i++;
    }
    return n;
  }

  private atom(depth: number): RegexNode {
    const c = this.cps[this.i++]!;
    switch (c) {
      case '.':
        return { kind: 'chars', set: dotSet() };
      case '(':
        return this.group(depth);
      case '[':
        return { kind: 'chars', set: this.charClass() };
      case '\\':
        return { kind: 'chars', set: this.escape(false) };
      default:
        return { kind: 'chars', set: CharSet.single(c.codePointAt(0)!) };
    }
  }

  private group(depth: number): RegexNode {
    if (depth + 1 > SCHEMA_LIMITS.maxPatternNesting) {
      throw new ConstraintError(`'pattern' nests groups deeper than ${SCHEMA_LIMITS.maxPatternNesting}`, this.path);
    }
    if (this.lookingAt('?:')) this.i += 2;
    else if (this.lookingAt('?<')) {
      while (this.peek() !== '>') this.i++; // a name: groups are not captured here
      this.i++;
    } else if (this.peek() === '?') this.fail('a group modifier (?…)');
    const node = this.alternation(depth + 1);
    this.i++; // ')'
    return node;
  }

  /** After '[': the class up to and including ']'. */
  private charClass(): CharSet {
    const negate = this.peek() === '^';
    if (negate) this.i++;
    let set = CharSet.of([]);
    while (this.peek() !== ']') {
      const lo = this.classAtom();
      if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
        this.i++;
        const hi = this.classAtom();
        // Under `u` a range's ends are single characters (the RegExp check refuses `[\d-z]`).
        set = set.union(CharSet.of([[lo.ranges[0]!, hi.ranges[0]!]]));
      } else set = set.union(lo);
    }
    this.i++;
    return negate ? set.complement() : set;
  }

  private classAtom(): CharSet {
    const c = this.cps[this.i++]!;
    return c === '\\' ? this.escape(true) : CharSet.single(c.codePointAt(0)!);
  }

  /** After '\': the escape's set (one code point, or a class escape). */
  private escape(inClass: boolean): CharSet {
    const c = this.cps[this.i++]!;
    const cls = classEscape(c);
    if (cls) return cls;
    if (c === 'p' || c === 'P') this.fail('a Unicode property escape (\\p{…}, \\P{…})');
    if (c === 'k') this.fail('a named backreference (\\k<…>)');
    if (c >= '1' && c <= '9') this.fail(`a backreference (\\${c})`);
    if (c === 'b' && inClass) return CharSet.single(0x08);
    if (c === '0') return CharSet.single(0);
    if (c in CONTROL_ESCAPES) return CharSet.single(CONTROL_ESCAPES[c]!);
    if (c === 'c') return CharSet.single(this.cps[this.i++]!.codePointAt(0)! % 32);
    if (c === 'x') return CharSet.single(this.hex(2));
    if (c === 'u') return CharSet.single(this.unicodeEscape());
    return CharSet.single(c.codePointAt(0)!); // an escaped syntax character, '/' or (in a class) '-'
  }

  private hex(digits: number): number {
    let v = 0;
    for (let k = 0; k < digits; k++) {
      const d = this.cps[this.i++]!;
      if (!HEX.test(d)) this.fail('a malformed hex escape');
      v = v * 16 + parseInt(d, 16);
    }
    return v;
  }

  /** After '\u': `{H…}`, or `HHHH` (a surrogate pair written as two escapes is one code point). */
  private unicodeEscape(): number {
    if (this.peek() === '{') {
      this.i++;
      let v = 0;
      while (this.peek() !== '}') v = v * 16 + parseInt(this.cps[this.i++]!, 16);
      this.i++;
      return v;
    }
    const v = this.hex(4);
    if (v >= 0xd800 && v <= 0xdbff && this.lookingAt('\\u') && HEX.test(this.peek(2) ?? '')) {
      const save = this.i;
      this.i += 2;
      const lo = this.hex(4);
      if (lo >= 0xdc00 && lo <= 0xdfff) return 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
      this.i = save;
    }
    return v;
  }
}
