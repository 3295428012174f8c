/**
 * The automaton's building blocks: configurations (immutable stacks of frames) and the frame base class
 * with the three moves a byte can make (replace the top, push a child, pop a finished frame). See
 * automaton.ts for the frames themselves.
 */
/** One configuration: a frame and the stack below it. */
export class Config {
  constructor(
    readonly frame: Frame,
    readonly parent: Config | null,
    /** Bytes needed to finish the frames below once `frame` is finished. */
    readonly outer: number,
  ) {}

  /** Bytes of the shortest text that completes the whole value from here. */
  cost(): number {
    return this.frame.rest() + this.outer;
  }
}

/** A parse state: the configurations still possible. Empty means the text so far is invalid. */
export type ParseState = readonly Config[];

/** A stack frame. Frames are immutable; `feed` pushes the successor configurations of `cfg` to `out`. */
export abstract class Frame {
  /** Feeds byte `b` to `cfg` (whose top is this frame). */
  abstract feed(cfg: Config, b: number, out: Config[]): void;
  /** Bytes of the shortest way to finish this frame, when it is the top. */
  abstract rest(): number;
  /** Complete, yet further bytes could extend it (numbers, some enum texts). */
  canEnd(): boolean {
    return false;
  }
  /** This frame's state once its in-progress child value finished. */
  childDone(): Frame {
    throw new Error(`${this.constructor.name} has no child`);
  }
  /** Bytes to finish this frame after its in-progress child finishes. */
  afterChild(): number {
    throw new Error(`${this.constructor.name} has no child`);
  }
}

export function replaceTop(cfg: Config, frame: Frame): Config {
  return new Config(frame, cfg.parent, cfg.outer);
}

/** `parent` (already in its child-in-progress state) with `child` on top. */
export function pushChild(parent: Config, child: Frame): Config {
  return new Config(child, parent, parent.outer + parent.frame.afterChild());
}

/** Pops the finished top of `cfg`; with `refeed`, the byte that ended it goes on to the parent. */
export function pop(cfg: Config, out: Config[], refeed?: number): void {
  const parent = cfg.parent!;
  const next = new Config(parent.frame.childDone(), parent.parent, parent.outer);
  if (refeed === undefined) out.push(next);
  else next.frame.feed(next, refeed, out);
}
