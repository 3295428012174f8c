/**
 * A byte-level pushdown automaton for the JSON texts a grammar (schema.ts) allows.
 *
 * A parse state is a list of alternative configurations (several only while an anyOf or enum is
 * undecided). A configuration is an immutable stack of frames, so a trie walk can branch from one state
 * into thousands of successors without copying: a byte replaces the top frame, pushes a child, or pops a
 * finished one. Each configuration carries `outer`, the bytes needed to finish every frame below its top
 * once the top finishes, so the shortest completion of a configuration is `top.rest() + outer` in O(1).
 *
 * Output form: no whitespace, except at most one space after ':' and after ','. Strings are valid UTF-8
 * (no surrogate `\u` escapes). Frames and their phases:
 *   RootFrame    in progress (its child is the value) → done (nothing more may follow)
 *   ValueFrame   a value of a node not begun yet: its first byte picks the alternative(s)
 *   ObjectFrame  START → (KEY → COLON → AFTER_COLON[_SP] → VALUE → AFTER_VALUE → AFTER_COMMA[_SP] → KEY …) → '}'
 *                free-form objects use a child string frame for the key (FKEY) instead of KEY
 *   ArrayFrame   START → VALUE → AFTER_VALUE → AFTER_COMMA[_SP] → VALUE … → ']'
 *   StringFrame  characters, escapes, UTF-8 continuation bytes → '"'
 *   PatternFrame a string under a pattern / format (pattern-frame.ts); a StringFrame once anything goes
 *   NumberFrame  see numbers.ts; ends when a byte does not continue it (that byte goes to the parent)
 *   LiteralFrame bytes of a finite set of texts (enum, const, true/false/null)
 */
import { Config, Frame, type ParseState, pop, pushChild, replaceTop } from './frames.ts';
import { LiteralFrame, NumberFrame, StringFrame } from './scalars.ts';
import { NumberState } from './numbers.ts';
import { PatternFrame } from './pattern-frame.ts';
import type { ArrayNode, GrammarNode, LeafNode, ObjectNode } from './nodes.ts';

export { Config, type ParseState } from './frames.ts';

/** The state before any byte, for the value `root`. */
export function initialState(root: GrammarNode): ParseState {
  const bottom = new Config(new RootFrame(false), null, 0);
  return [new Config(new ValueFrame(root), bottom, 0)];
}

/** The state after byte `b`. */
export function advance(state: ParseState, b: number): Config[] {
  const out: Config[] = [];
  for (const c of state) c.frame.feed(c, b, out);
  return out;
}

/** Bytes of the shortest completion of `state` (Infinity if none). */
export function completionCost(state: ParseState): number {
  let best = Infinity;
  for (const c of state) {
    const cost = c.cost();
    if (cost < best) best = cost;
  }
  return best;
}

/** Whether the text so far is a complete value (EOS may come now). */
export function isComplete(state: ParseState): boolean {
  return state.some((c) => isRootDone(c.frame) || (c.frame.canEnd() && c.parent !== null && c.parent.frame instanceof RootFrame));
}

/** Whether the value is complete and nothing at all may follow (only EOS). */
export function isFinished(state: ParseState): boolean {
  return state.length > 0 && state.every((c) => isRootDone(c.frame));
}

function isRootDone(f: Frame): boolean {
  return f instanceof RootFrame && f.done;
}

/** Pushes a value of `node` onto `parent` and feeds it `b`. */
function startChild(parent: Config, node: GrammarNode, b: number, out: Config[]): void {
  const child = pushChild(parent, new ValueFrame(node));
  child.frame.feed(child, b, out);
}

class RootFrame extends Frame {
  constructor(readonly done: boolean) {
    super();
  }
  feed(): void {}
  rest(): number {
    return 0;
  }
  override childDone(): Frame {
    return new RootFrame(true);
  }
  override afterChild(): number {
    return 0;
  }
}

const enum Ch {
  QUOTE = 0x22,
  COMMA = 0x2c,
  COLON = 0x3a,
  SPACE = 0x20,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  BACKSLASH = 0x5c,
}

/** A value not begun: the first byte selects among the node's alternatives. */
class ValueFrame extends Frame {
  private readonly alts: readonly LeafNode[];
  constructor(readonly node: GrammarNode) {
    super();
    this.alts = node.kind === 'union' ? node.alts : [node];
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    for (const alt of this.alts) {
      switch (alt.kind) {
        case 'object':
          if (b === Ch.LBRACE) out.push(replaceTop(cfg, new ObjectFrame(alt, ObjPhase.START, 0, 0, EMPTY, -1)));
          break;
        case 'array':
          if (b === Ch.LBRACKET) out.push(replaceTop(cfg, new ArrayFrame(alt, ArrPhase.START, 0)));
          break;
        case 'string':
          if (b === Ch.QUOTE) {
            const frame = alt.pattern ? PatternFrame.begin(alt.pattern) : new StringFrame(alt, 0, 0, 0x80, 0xbf, 0);
            out.push(replaceTop(cfg, frame));
          }
          break;
        case 'number': {
          const s = NumberState.start(alt.rules, b);
          if (s) out.push(replaceTop(cfg, new NumberFrame(s)));
          break;
        }
        case 'literal':
          LiteralFrame.begin(alt, b).feedInto(cfg, out);
          break;
      }
    }
  }

  rest(): number {
    return this.node.minLen;
  }
}

const EMPTY: readonly number[] = [];

const enum ObjPhase {
  START,
  KEY,
  FKEY,
  COLON,
  AFTER_COLON,
  AFTER_COLON_SP,
  VALUE,
  AFTER_VALUE,
  AFTER_COMMA,
  AFTER_COMMA_SP,
}

/**
 * An object. Declared objects match keys inline (`alive`: candidate property indices, `matched`: key
 * bytes read, quotes included); `next` is the first property slot still available; `prop` the property
 * whose key or value is being read.
 */
class ObjectFrame extends Frame {
  constructor(
    readonly node: ObjectNode,
    readonly phase: ObjPhase,
    readonly next: number,
    readonly matched: number,
    readonly alive: readonly number[],
    readonly prop: number,
  ) {
    super();
  }

  private to(phase: ObjPhase, next = this.next, matched = 0, alive: readonly number[] = EMPTY, prop = this.prop): ObjectFrame {
    return new ObjectFrame(this.node, phase, next, matched, alive, prop);
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    const node = this.node;
    switch (this.phase) {
      case ObjPhase.START:
      case ObjPhase.AFTER_COMMA_SP:
        if (b === Ch.QUOTE) this.beginKey(cfg, b, out);
        else if (b === Ch.RBRACE && this.phase === ObjPhase.START && this.canClose()) pop(cfg, out);
        return;
      case ObjPhase.AFTER_COMMA:
        if (b === Ch.SPACE) out.push(replaceTop(cfg, this.to(ObjPhase.AFTER_COMMA_SP)));
        else if (b === Ch.QUOTE) this.beginKey(cfg, b, out);
        return;
      case ObjPhase.KEY:
        this.keyByte(cfg, b, out);
        return;
      case ObjPhase.COLON:
        if (b === Ch.COLON) out.push(replaceTop(cfg, this.to(ObjPhase.AFTER_COLON)));
        return;
      case ObjPhase.AFTER_COLON:
      case ObjPhase.AFTER_COLON_SP: {
        if (b === Ch.SPACE && this.phase === ObjPhase.AFTER_COLON) {
          out.push(replaceTop(cfg, this.to(ObjPhase.AFTER_COLON_SP)));
          return;
        }
        const value = node.free ? node.free.value : node.props[this.prop]!.node;
        startChild(replaceTop(cfg, this.to(ObjPhase.VALUE)), value, b, out);
        return;
      }
      case ObjPhase.AFTER_VALUE:
        if (b === Ch.COMMA && (node.free !== null || this.next < node.props.length)) {
          out.push(replaceTop(cfg, this.to(ObjPhase.AFTER_COMMA)));
        } else if (b === Ch.RBRACE && this.canClose()) pop(cfg, out);
        return;
      default:
        return; // FKEY and VALUE are never the top
    }
  }

  private canClose(): boolean {
    return this.node.free !== null || this.node.sumReq[this.next] === 0;
  }

  /** An opening quote of a key: free keys are a child string; declared keys are matched inline. */
  private beginKey(cfg: Config, b: number, out: Config[]): void {
    const node = this.node;
    if (node.free) {
      startChild(replaceTop(cfg, this.to(ObjPhase.FKEY)), node.free.key, b, out);
      return;
    }
    const last = node.lastCandidate[this.next];
    if (last === undefined) return;
    const alive: number[] = [];
    for (let j = this.next; j <= last; j++) alive.push(j);
    out.push(replaceTop(cfg, this.to(ObjPhase.KEY, this.next, 1, alive)));
  }

  private keyByte(cfg: Config, b: number, out: Config[]): void {
    const props = this.node.props;
    const m = this.matched;
    const alive = this.alive.filter((j) => props[j]!.key[m] === b);
    if (alive.length === 0) return;
    // Keys end with their closing quote, so no key is a prefix of another: a full match is unique.
    if (alive.length === 1 && props[alive[0]!]!.key.length === m + 1) {
      out.push(replaceTop(cfg, this.to(ObjPhase.COLON, this.next, 0, EMPTY, alive[0]!)));
    } else out.push(replaceTop(cfg, this.to(ObjPhase.KEY, this.next, m + 1, alive)));
  }

  override childDone(): Frame {
    if (this.phase === ObjPhase.FKEY) return this.to(ObjPhase.COLON);
    return this.to(ObjPhase.AFTER_VALUE, this.node.free ? 0 : this.prop + 1);
  }

  override afterChild(): number {
    const node = this.node;
    if (node.free) return this.phase === ObjPhase.FKEY ? 2 + node.free.value.minLen : 1;
    return node.sumReq[this.prop + 1]! + 1;
  }

  rest(): number {
    const node = this.node;
    if (node.free) return this.freeRest(node.free.value.minLen);
    const after = (j: number): number => node.sumReq[j + 1]! + 1;
    switch (this.phase) {
      case ObjPhase.START:
        return (node.sumReq[0]! > 0 ? node.sumReq[0]! - 1 : 0) + 1;
      case ObjPhase.KEY: {
        let best = Infinity;
        for (const j of this.alive) best = Math.min(best, node.props[j]!.key.length - this.matched + 1 + node.props[j]!.node.minLen + after(j));
        return best;
      }
      case ObjPhase.COLON:
        return 1 + node.props[this.prop]!.node.minLen + after(this.prop);
      case ObjPhase.AFTER_COLON:
      case ObjPhase.AFTER_COLON_SP:
        return node.props[this.prop]!.node.minLen + after(this.prop);
      case ObjPhase.AFTER_VALUE:
        return node.sumReq[this.next]! + 1;
      case ObjPhase.AFTER_COMMA:
      case ObjPhase.AFTER_COMMA_SP: {
        let best = Infinity;
        const last = node.lastCandidate[this.next] ?? -1;
        for (let j = this.next; j <= last; j++) best = Math.min(best, node.propCost[j]! + after(j));
        return best;
      }
      default:
        return Infinity;
    }
  }

  private freeRest(valueMin: number): number {
    switch (this.phase) {
      case ObjPhase.START:
      case ObjPhase.AFTER_VALUE:
        return 1;
      case ObjPhase.COLON:
        return 1 + valueMin + 1;
      case ObjPhase.AFTER_COLON:
      case ObjPhase.AFTER_COLON_SP:
        return valueMin + 1;
      case ObjPhase.AFTER_COMMA:
      case ObjPhase.AFTER_COMMA_SP:
        return 2 + 1 + valueMin + 1;
      default:
        return Infinity;
    }
  }
}

const enum ArrPhase {
  START,
  VALUE,
  AFTER_VALUE,
  AFTER_COMMA,
  AFTER_COMMA_SP,
}

/** An array; `count` is the number of items begun. */
class ArrayFrame extends Frame {
  constructor(
    readonly node: ArrayNode,
    readonly phase: ArrPhase,
    readonly count: number,
  ) {
    super();
  }

  feed(cfg: Config, b: number, out: Config[]): void {
    const node = this.node;
    switch (this.phase) {
      case ArrPhase.START:
        if (b === Ch.RBRACKET) {
          if (node.minItems === 0) pop(cfg, out);
        } else if (node.maxItems > 0) this.item(cfg, b, out);
        return;
      case ArrPhase.AFTER_VALUE:
        if (b === Ch.COMMA && this.count < node.maxItems) out.push(replaceTop(cfg, new ArrayFrame(node, ArrPhase.AFTER_COMMA, this.count)));
        else if (b === Ch.RBRACKET && this.count >= node.minItems) pop(cfg, out);
        return;
      case ArrPhase.AFTER_COMMA:
        if (b === Ch.SPACE) out.push(replaceTop(cfg, new ArrayFrame(node, ArrPhase.AFTER_COMMA_SP, this.count)));
        else this.item(cfg, b, out);
        return;
      case ArrPhase.AFTER_COMMA_SP:
        this.item(cfg, b, out);
        return;
      default:
        return;
    }
  }

  private item(cfg: Config, b: number, out: Config[]): void {
    startChild(replaceTop(cfg, new ArrayFrame(this.node, ArrPhase.VALUE, this.count + 1)), this.node.items, b, out);
  }

  override childDone(): Frame {
    return new ArrayFrame(this.node, ArrPhase.AFTER_VALUE, this.count);
  }

  override afterChild(): number {
    return this.missing(this.count) + 1;
  }

  /** Bytes of the items still required after `count` items (each with its comma). */
  private missing(count: number): number {
    return Math.max(0, this.node.minItems - count) * (1 + this.node.items.minLen);
  }

  rest(): number {
    const node = this.node;
    switch (this.phase) {
      case ArrPhase.START:
        return node.minItems === 0 ? 1 : node.items.minLen + this.missing(1) + 1;
      case ArrPhase.AFTER_VALUE:
        return this.missing(this.count) + 1;
      case ArrPhase.AFTER_COMMA:
      case ArrPhase.AFTER_COMMA_SP:
        return node.items.minLen + this.missing(this.count + 1) + 1;
      default:
        return Infinity;
    }
  }
}
