/**
 * The primary's record of shared breaker state, one entry per name: the newest transition (by
 * epoch, then origin), the half-open trial lease of its epoch, and the merged outcome counts of
 * its epoch. Pure bookkeeping on a clock; `cluster-sync.ts` moves envelopes in and out.
 */
import type { Clock } from '../clock.ts';
import {
  isNewer,
  type LeaseAnswer,
  parseSyncMessage,
  type SyncCounts,
  type SyncMessage,
  type SyncTransition,
} from '../sync.ts';

interface Entry {
  transition: SyncTransition | undefined;
  /** Clock reading when `transition` was stored, to tell the time left open later. */
  storedAt: number;
  leaseEpoch: number;
  leaseHolder: string;
  leaseUntil: number;
  counts: Map<string, number>;
}

/** What to do with a published message: pass it on to the others, or answer the sender. */
export interface PublishResult {
  /** Send this to every other instance (the message itself, accepted). */
  readonly forward: SyncMessage | undefined;
  /** Send this back to the sender (the state that beat its transition). */
  readonly reply: SyncMessage | undefined;
}

const DROP: PublishResult = { forward: undefined, reply: undefined };

/** Shared state by breaker name, held by the node:cluster primary. */
export class SyncHub {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Records a message; returns what to send and to whom. A malformed one returns undefined. */
  publish(value: unknown): PublishResult | undefined {
    const message = parseSyncMessage(value);
    if (message === undefined) return undefined;
    const entry = this.#entry(message.name);
    if (message.kind === 'counts') {
      if (message.epoch !== this.#epoch(entry)) return DROP;
      for (const [key, count] of Object.entries(message.counts)) {
        if (count > (entry.counts.get(key) ?? 0)) entry.counts.set(key, count);
      }
      return { forward: message, reply: undefined };
    }
    const current = entry.transition;
    if (
      current !== undefined &&
      !isNewer(message.epoch, message.origin, current.epoch, current.origin)
    ) {
      return { forward: undefined, reply: this.#current(entry) };
    }
    entry.transition = message;
    entry.storedAt = this.#clock.now();
    entry.counts.clear();
    return { forward: message, reply: undefined };
  }

  /**
   * Grants the lease of `epoch` to the first who asks while no one holds it. A request for an
   * older epoch is refused (the asker learns the newer state from {@link read}).
   */
  lease(name: string, epoch: number, ttlMs: number, origin: string): LeaseAnswer {
    const entry = this.#entry(name);
    const now = this.#clock.now();
    if (epoch < this.#epoch(entry)) return { granted: false, retryInMs: 0 };
    if (entry.leaseEpoch === epoch && entry.leaseHolder !== origin && now < entry.leaseUntil) {
      return { granted: false, retryInMs: entry.leaseUntil - now };
    }
    entry.leaseEpoch = epoch;
    entry.leaseHolder = origin;
    entry.leaseUntil = now + ttlMs;
    return { granted: true, retryInMs: 0 };
  }

  /** Ends the lease of `epoch` early when `origin` holds it (its breaker was disposed). */
  release(name: string, epoch: number, origin: string): void {
    const entry = this.#entries.get(name);
    if (entry === undefined || entry.leaseEpoch !== epoch || entry.leaseHolder !== origin) return;
    entry.leaseHolder = '';
    entry.leaseUntil = 0;
  }

  /** The shared state of `name`: its transition and counts, as messages. */
  read(name: string): SyncMessage[] {
    const entry = this.#entries.get(name);
    if (entry?.transition === undefined) return [];
    const messages: SyncMessage[] = [this.#current(entry)];
    if (entry.counts.size > 0) {
      const counts: SyncCounts = {
        kind: 'counts',
        name,
        epoch: entry.transition.epoch,
        origin: entry.transition.origin,
        counts: Object.fromEntries(entry.counts),
      };
      messages.push(counts);
    }
    return messages;
  }

  /** The stored transition with its time left open as of now. */
  #current(entry: Entry): SyncTransition {
    const stored = entry.transition!;
    const elapsed = this.#clock.now() - entry.storedAt;
    return {
      ...stored,
      remainingOpenMs: Math.max(0, Math.round(stored.remainingOpenMs - elapsed)),
    };
  }

  #epoch(entry: Entry): number {
    return entry.transition?.epoch ?? 0;
  }

  #entry(name: string): Entry {
    let entry = this.#entries.get(name);
    if (entry === undefined) {
      entry = {
        transition: undefined,
        storedAt: 0,
        leaseEpoch: -1,
        leaseHolder: '',
        leaseUntil: 0,
        counts: new Map(),
      };
      this.#entries.set(name, entry);
    }
    return entry;
  }
}
