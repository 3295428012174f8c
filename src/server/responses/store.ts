/**
 * The Responses API's store: recent responses kept in memory for `previous_response_id` and
 * GET / DELETE /v1/responses/{id}. Bounded two ways: at most `maxEntries` entries (the least recently
 * used is evicted first) and each entry for at most `ttlMs` after it was stored. Nothing else keeps
 * a response alive, so memory never grows without bound; a server restart forgets everything.
 *
 * An entry holds the whole conversation that led to its response (as chat messages), so a chain of
 * `previous_response_id`s keeps working when a middle link is evicted. Entries of one chain share their
 * message objects (each entry's list is the previous list's items plus its own), so a chain costs memory
 * for its messages once, plus one reference per message per entry.
 */
import type { ResponseObject } from './build.ts';
import type { WireMessage } from './convert.ts';
import type { InputItem } from './input-items.ts';

/** One stored response. */
export interface StoredResponse {
  /** The response object as it was answered (what GET returns). */
  response: ResponseObject;
  /** The conversation up to and including this response's output, as chat messages (no instructions). */
  conversation: WireMessage[];
  /** This request's own input items, as GET /v1/responses/{id}/input_items lists them. */
  inputItems: InputItem[];
}

interface Entry {
  value: StoredResponse;
  expiresAt: number;
}

/** A bounded, least-recently-used, expiring map from response id to stored response. */
export class ResponseStore {
  /** Insertion order is recency order: a read moves an entry to the end. */
  private readonly entries = new Map<string, Entry>();

  constructor(
    /** Most entries kept; 0 turns the store off (nothing is kept). */
    readonly maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether responses can be stored at all. */
  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  /** Entries held now (expired ones not yet swept included). */
  get size(): number {
    return this.entries.size;
  }

  /** Stores a response, evicting expired entries and then the least recently used beyond the bound. */
  put(value: StoredResponse): void {
    if (!this.enabled) return;
    this.entries.delete(value.response.id);
    this.entries.set(value.response.id, { value, expiresAt: this.now() + this.ttlMs });
    this.sweep();
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** The stored response, or undefined when unknown, expired or evicted. Counts as a use. */
  get(id: string): StoredResponse | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    this.entries.delete(id);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(id, entry);
    return entry.value;
  }

  /**
   * An output item of a live stored response, by item id (for `item_reference` input items). A pass
   * over the entries: the bound keeps it short. Does not count as a use.
   */
  findItem(itemId: string): ResponseObject['output'][number] | undefined {
    const now = this.now();
    for (const entry of this.entries.values()) {
      if (entry.expiresAt <= now) continue;
      const item = entry.value.response.output.find((o) => o.id === itemId);
      if (item) return item;
    }
    return undefined;
  }

  /** Forgets a response; false when it was not there. */
  delete(id: string): boolean {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry !== undefined && entry.expiresAt > this.now();
  }

  /** Drops expired entries (a pass over the entries: the bound keeps it short). */
  private sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(id);
    }
  }
}
