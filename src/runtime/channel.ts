/**
 * A single-consumer async queue: the producer pushes values and ends it; the consumer iterates with
 * `for await`. Leaving the loop early (break, throw) calls `onReturn` once, which is how a client that
 * stops reading aborts its generation.
 */
export class EventChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: ((r: IteratorResult<T>) => void) | undefined;
  private done = false;
  private returned = false;

  constructor(private readonly onReturn?: () => void) {}

  /** Adds a value (ignored after end). */
  push(value: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value, done: false });
    } else this.items.push(value);
  }

  /** Ends the stream after the values already pushed. */
  end(): void {
    this.done = true;
    if (this.waiter && this.items.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiter = resolve));
      },
      return: () => {
        if (!this.done && !this.returned) {
          this.returned = true;
          this.onReturn?.();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
