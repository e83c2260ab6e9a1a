/**
 * One breaker's end of a sync link. It stamps local transitions with the next epoch and publishes
 * them, fences remote ones (a stale, duplicate or reordered message changes nothing: the
 * generation rule across processes), asks for the half-open trial lease once per open period,
 * and in `outcomes` mode batches this instance's outcome counts and replays the others' into the
 * breaker's policy. Nothing here is on a call's path except counting an outcome in a map, and
 * nothing is awaited.
 */
import type { Clock, TimerHandle } from './clock.ts';
import {
  isNewer,
  type LeaseAnswer,
  parseSyncMessage,
  type SyncCounts,
  type SyncLink,
  type SyncMode,
  type SyncSnapshot,
  type SyncStatus,
  type SyncTransition,
  type SyncTransport,
} from './sync.ts';

/** A transition's content, without the fencing fields the agent adds. */
export type SharedState = Pick<
  SyncTransition,
  'state' | 'openAttempt' | 'lastOpenDuration' | 'remainingOpenMs'
>;

/** What the agent may ask of its breaker. */
export interface SyncHost {
  /** Takes on a remote state without publishing it. */
  adopt(state: SharedState): void;
  /** Feeds `count` remote outcomes to the policy; false once the breaker is no longer closed. */
  replay(outcome: 'success' | 'failure', durationMs: number, count: number): boolean;
  /** The local state to re-publish after an outage, or undefined when it isn't shared. */
  current(): SharedState | undefined;
}

/** Settings of a {@link SyncAgent}, fixed for its breaker's life. */
export interface SyncAgentOptions {
  readonly name: string;
  readonly transport: SyncTransport;
  readonly mode: SyncMode;
  readonly clock: Clock;
  readonly host: SyncHost;
  /** Whether the policy reads call durations (then counts carry a duration class). */
  readonly readsDuration: boolean;
  /** How long a half-open trial lease is held at most (the trial's maxDuration). */
  readonly leaseMs: number;
}

type LeaseState = 'none' | 'pending' | 'granted' | 'denied';

/** Duration classes are eighths of a power of two: within 9 % of the real duration. */
const CLASSES_PER_DOUBLING = 8;
/** A lease denied without a retry time is asked for again after this long. */
const LEASE_RETRY_FLOOR = 50;
/**
 * A denied lease is asked for again after this long at most, even when its holder's lease runs
 * longer: a holder disposed mid-trial gives the lease back early, and nothing tells the others.
 */
const LEASE_RETRY_CEILING = 1_000;

/** Couples one breaker to a transport; made by the breaker when it is given `sync`. */
export class SyncAgent {
  readonly #name: string;
  readonly #me: string;
  readonly #mode: SyncMode;
  readonly #clock: Clock;
  readonly #host: SyncHost;
  readonly #readsDuration: boolean;
  readonly #leaseMs: number;
  readonly #flushInterval: number;
  readonly #wallClock: (() => number) | undefined;
  readonly #link: SyncLink;
  #status: SyncStatus = 'connected';
  #epoch = 0;
  #source = '';
  #lease: LeaseState = 'none';
  #leaseEpoch = -1;
  #leaseRetryAt = 0;
  /**
   * This instance's cumulative counts in the current epoch: plain numbers when durations are not
   * shared (the common case costs an increment per call), by `s:class` / `f:class` when they are.
   */
  #ownSuccesses = 0;
  #ownFailures = 0;
  readonly #ownByClass = new Map<string, number>();
  /** The highest count seen per other instance's key in the current epoch. */
  readonly #seen = new Map<string, number>();
  #flushTimer: TimerHandle | undefined;
  #detached = false;
  #applied = 0;
  #stale = 0;
  #malformed = 0;

  constructor(options: SyncAgentOptions) {
    this.#name = options.name;
    this.#me = options.transport.instanceId;
    this.#source = 'local';
    this.#mode = options.mode;
    this.#clock = options.clock;
    this.#host = options.host;
    this.#readsDuration = options.readsDuration;
    this.#leaseMs = options.leaseMs;
    this.#flushInterval = options.transport.flushInterval;
    this.#wallClock = options.transport.wallClock;
    this.#link = options.transport.attach(options.name, {
      deliver: (message) => this.receive(message),
      status: (status) => this.#onStatus(status),
    });
  }

  /** A local transition happened: stamp it with the next epoch and publish it. */
  transitioned(state: SharedState): void {
    const floor = this.#wallClock === undefined ? 0 : Math.floor(this.#wallClock());
    this.#newEpoch(Math.max(this.#epoch + 1, floor), this.#me);
    this.#source = 'local';
    this.#link.publish(this.#message(state));
  }

  /**
   * The open period ended locally: may this instance start half-open trials? Asks for the lease
   * once per epoch (again, when denied, once the holder's lease runs out or a second has passed,
   * whichever is first); until it is granted the breaker stays open. Alone, an instance decides
   * for itself.
   */
  trialAllowed(now: number): boolean {
    if (this.#status === 'alone') return true;
    if (this.#leaseEpoch === this.#epoch) {
      if (this.#lease === 'granted') return true;
      if (this.#lease === 'pending' || now < this.#leaseRetryAt) return false;
    }
    const epoch = this.#epoch;
    this.#leaseEpoch = epoch;
    this.#lease = 'pending';
    this.#link.lease(epoch, this.#leaseMs, (answer) => this.#onLease(epoch, answer));
    // A transport that decides alone answers before returning.
    return this.#granted();
  }

  /** Counts a local outcome of the closed state (`outcomes` mode); a failure is sent at once. */
  outcome(outcome: 'success' | 'failure', durationMs: number): void {
    if (this.#mode !== 'outcomes') return;
    if (this.#readsDuration) {
      const key = `${outcome === 'success' ? 's' : 'f'}:${durationClass(durationMs)}`;
      this.#ownByClass.set(key, (this.#ownByClass.get(key) ?? 0) + 1);
    } else if (outcome === 'success') {
      this.#ownSuccesses++;
    } else {
      this.#ownFailures++;
    }
    if (outcome === 'failure') this.#flush();
    else this.#flushTimer ??= this.#clock.setTimeout(() => this.#flush(), this.#flushInterval);
  }

  /** A message from another instance or the store, unvalidated. Never throws. */
  receive(value: unknown): void {
    const message = parseSyncMessage(value);
    if (message === undefined || message.name !== this.#name) {
      this.#malformed++;
      return;
    }
    if (message.kind === 'transition') this.#receiveTransition(message);
    else this.#receiveCounts(message);
  }

  /** For the breaker's snapshot. */
  snapshot(): SyncSnapshot {
    return {
      mode: this.#mode,
      instanceId: this.#me,
      status: this.#status,
      epoch: this.#epoch,
      source: this.#source,
      applied: this.#applied,
      stale: this.#stale,
      malformed: this.#malformed,
    };
  }

  /**
   * Stops sharing: pending counts are dropped, nothing more is delivered, and a trial lease this
   * instance holds (or is granted later) is given back. Its trials' outcomes will never be shared,
   * so keeping the lease would keep every other instance open until it ran out.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.#cancelFlush();
    if (this.#lease === 'granted') this.#release();
    this.#link.detach();
  }

  #receiveTransition(message: SyncTransition): void {
    if (!isNewer(message.epoch, message.origin, this.#epoch, this.#origin)) {
      this.#stale++;
      return;
    }
    this.#applied++;
    this.#newEpoch(message.epoch, message.origin);
    this.#source = message.origin === this.#me ? 'local' : message.origin;
    this.#host.adopt(message);
  }

  #receiveCounts(message: SyncCounts): void {
    if (this.#mode !== 'outcomes' || message.epoch !== this.#epoch) {
      this.#stale++;
      return;
    }
    const prefix = `${this.#me}|`;
    let successes: Map<number, number> | undefined;
    let failures: Map<number, number> | undefined;
    for (const key in message.counts) {
      if (key.startsWith(prefix)) continue;
      const count = message.counts[key]!;
      const delta = count - (this.#seen.get(key) ?? 0);
      if (delta <= 0) continue;
      this.#seen.set(key, count);
      const field = key.slice(key.indexOf('|') + 1);
      const colon = field.indexOf(':');
      const kind = colon === -1 ? field : field.slice(0, colon);
      const duration = colon === -1 ? 0 : classDuration(Number(field.slice(colon + 1)));
      if (Number.isNaN(duration)) continue;
      if (kind === 's') successes = add(successes, duration, delta);
      else if (kind === 'f') failures = add(failures, duration, delta);
    }
    if (successes === undefined && failures === undefined) {
      this.#stale++;
      return;
    }
    this.#applied++;
    // Successes first: a batch is older than the failures sent at once beside it.
    const epoch = this.#epoch;
    for (const [outcome, batch] of [
      ['success', successes],
      ['failure', failures],
    ] as const) {
      if (batch === undefined) continue;
      for (const [duration, count] of batch) {
        if (!this.#host.replay(outcome, duration, count) || this.#epoch !== epoch) return;
      }
    }
  }

  #onStatus(status: SyncStatus): void {
    if (status === this.#status) return;
    this.#status = status;
    if (status !== 'connected' || this.#epoch === 0) return;
    // Back after an outage: offer the state we hold, under its own epoch and origin. The store
    // keeps the newest (it may have lost everything in a restart); if it holds a newer one, the
    // transport delivers that back and we adopt it.
    const state = this.#host.current();
    if (state !== undefined) this.#link.publish(this.#message(state, this.#origin));
  }

  #granted(): boolean {
    return this.#lease === 'granted';
  }

  #onLease(epoch: number, answer: LeaseAnswer): void {
    if (epoch !== this.#leaseEpoch || this.#lease !== 'pending') return;
    this.#lease = answer.granted ? 'granted' : 'denied';
    const wait = Math.min(Math.max(answer.retryInMs, LEASE_RETRY_FLOOR), LEASE_RETRY_CEILING);
    this.#leaseRetryAt = this.#clock.now() + wait;
    // Asked before the breaker was disposed, granted after: nobody here will use it.
    if (this.#detached && answer.granted) this.#release();
  }

  #release(): void {
    this.#lease = 'none';
    this.#link.release?.(this.#leaseEpoch);
  }

  get #origin(): string {
    return this.#source === 'local' ? this.#me : this.#source;
  }

  #newEpoch(epoch: number, origin: string): void {
    this.#epoch = epoch;
    this.#source = origin;
    this.#lease = 'none';
    this.#ownSuccesses = 0;
    this.#ownFailures = 0;
    this.#ownByClass.clear();
    this.#seen.clear();
    this.#cancelFlush();
  }

  #message(state: SharedState, origin = this.#me): SyncTransition {
    return {
      kind: 'transition',
      name: this.#name,
      epoch: this.#epoch,
      origin,
      state: state.state,
      openAttempt: state.openAttempt,
      lastOpenDuration: state.lastOpenDuration,
      remainingOpenMs: Math.round(state.remainingOpenMs),
    };
  }

  #flush(): void {
    this.#cancelFlush();
    const me = this.#me;
    const counts: Record<string, number> = {};
    let any = false;
    if (this.#ownSuccesses > 0) {
      counts[`${me}|s`] = this.#ownSuccesses;
      any = true;
    }
    if (this.#ownFailures > 0) {
      counts[`${me}|f`] = this.#ownFailures;
      any = true;
    }
    for (const [field, count] of this.#ownByClass) {
      counts[`${me}|${field}`] = count;
      any = true;
    }
    if (!any) return;
    this.#link.publish({
      kind: 'counts',
      name: this.#name,
      epoch: this.#epoch,
      origin: me,
      counts,
    });
  }

  #cancelFlush(): void {
    if (this.#flushTimer === undefined) return;
    this.#clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }
}

function durationClass(durationMs: number): number {
  return durationMs > 0 ? Math.round(Math.log2(1 + durationMs) * CLASSES_PER_DOUBLING) : 0;
}

function classDuration(durationClass: number): number {
  if (!Number.isInteger(durationClass) || durationClass < 0 || durationClass > 400) return NaN;
  return 2 ** (durationClass / CLASSES_PER_DOUBLING) - 1;
}

function add(
  batch: Map<number, number> | undefined,
  duration: number,
  count: number,
): Map<number, number> {
  const map = batch ?? new Map<number, number>();
  map.set(duration, (map.get(duration) ?? 0) + count);
  return map;
}
