/**
 * The states of a circuit breaker, one object each (after go-circuitbreaker's `state.go`): each
 * decides whether it admits a call, what an outcome does to it and which move time alone makes
 * (open → half-open, a half-open trial expiring), and asks its breaker for a transition when one
 * is due. The breaker owns the generation rule, events and counters.
 */
import type { FailurePolicy } from './failure-policy.ts';

/**
 * The states a {@link CircuitBreaker} reports.
 *
 * @example
 * ```ts
 * const healthy: boolean = breaker.state === 'closed' || breaker.state === 'disabled';
 * ```
 */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'forced-open' | 'disabled';

/** What a state may ask of its breaker. */
export interface Machine {
  readonly policy: FailurePolicy;
  /** Closed → open, with the first open duration. Transitions read the clock themselves. */
  trip(): void;
  /**
   * Open → half-open, once the open duration has passed; false when the breaker must stay open
   * (a shared breaker whose trial lease another instance holds).
   */
  halfOpen(now: number): boolean;
  /** Half-open → open, with the next, usually longer, open duration. */
  reopen(): void;
  /** Half-open → closed. */
  close(): void;
  /**
   * A half-open trial held its slot past `halfOpen.maxDuration`: count a failure and reopen as of
   * `at`, the moment it expired.
   */
  trialExpired(at: number): void;
}

/** `admit` returns this when the call must not run. */
export const REJECTED = -1;
/** `admit` returns this for a call that holds no half-open trial slot. */
export const NO_SLOT = 0;

/**
 * One state's behaviour. Slots are 1-based half-open trial slots, or {@link NO_SLOT}. In the closed
 * state `now` and `durationMs` may be NaN when the policy declared it does not read them.
 */
export interface StateBehaviour {
  readonly name: BreakerState;
  /** False when outcomes are not counted at all (disabled). */
  readonly records: boolean;
  /** Admits a call (returning its slot) or returns {@link REJECTED}. */
  admit(now: number): number;
  /** Milliseconds until a call would be admitted; `Infinity` when only a reset will do. */
  retryAfter(now: number): number;
  /**
   * Makes the move that time alone makes by `now`, if one is due, and returns true when it asked
   * the breaker for a transition (the new state may have a move due too). The breaker asks on
   * every read instead of setting a timer, so an idle breaker holds none.
   */
  advance(now: number): boolean;
  onSuccess(now: number, durationMs: number, slot: number): void;
  onFailure(now: number, durationMs: number, slot: number): void;
  onIgnored(slot: number): void;
}

/** Every state a breaker can be in; `name` tells them apart. */
export type AnyState = Closed | Open | HalfOpen | ForcedOpen | Disabled;

/** Calls run; the policy watches their outcomes. */
export class Closed implements StateBehaviour {
  readonly name = 'closed';
  readonly records = true;
  readonly #machine: Machine;

  constructor(machine: Machine) {
    this.#machine = machine;
  }

  admit(): number {
    return NO_SLOT;
  }

  retryAfter(): number {
    return 0;
  }

  advance(): boolean {
    return false;
  }

  onSuccess(now: number, durationMs: number): void {
    if (this.#machine.policy.recordSuccess(now, durationMs)) this.#machine.trip();
  }

  onFailure(now: number, durationMs: number): void {
    if (this.#machine.policy.recordFailure(now, durationMs)) this.#machine.trip();
  }

  onIgnored(): void {}
}

/**
 * Calls are rejected until `until`. The move to half-open happens when someone next looks (the
 * breaker checks `until` on every read), so an idle open breaker holds no timer.
 */
export class Open implements StateBehaviour {
  readonly name = 'open';
  readonly records = true;
  readonly #machine: Machine;
  /** Clock reading at which the breaker turns half-open. */
  readonly until: number;

  constructor(machine: Machine, until: number) {
    this.#machine = machine;
    this.until = until;
  }

  admit(): number {
    return REJECTED;
  }

  retryAfter(now: number): number {
    return Math.max(0, this.until - now);
  }

  advance(now: number): boolean {
    // A shared breaker stays open until it holds the trial lease of this open period.
    return now >= this.until && this.#machine.halfOpen(now);
  }

  // Nothing admitted in this state: outcomes of earlier states are dropped by the generation rule.
  onSuccess(): void {}
  onFailure(): void {}
  onIgnored(): void {}
}

/** Up to `maxCalls` trial calls at once; enough successes close, one failure reopens. */
export class HalfOpen implements StateBehaviour {
  readonly name = 'half-open';
  readonly records = true;
  readonly #machine: Machine;
  readonly #successesToClose: number;
  readonly #maxDuration: number;
  /** Start time of the trial in each slot; NaN when the slot is free. */
  readonly #trialStarts: Float64Array;
  successes: number;

  constructor(
    machine: Machine,
    maxCalls: number,
    successesToClose: number,
    maxDuration: number,
    successes = 0,
  ) {
    this.#machine = machine;
    this.#successesToClose = successesToClose;
    this.#maxDuration = maxDuration;
    this.#trialStarts = new Float64Array(maxCalls).fill(Number.NaN);
    this.successes = successes;
  }

  admit(now: number): number {
    const starts = this.#trialStarts;
    for (let i = 0; i < starts.length; i++) {
      if (Number.isNaN(starts[i])) {
        starts[i] = now;
        return i + 1;
      }
    }
    return REJECTED;
  }

  /**
   * Reopens when the oldest unsettled trial outlived `maxDuration` (a leaked permit), dating the
   * failure to the expiry, not to whenever someone looked.
   */
  advance(now: number): boolean {
    const starts = this.#trialStarts;
    let oldest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      if (start < oldest) oldest = start; // NaN (a free slot) never compares below
    }
    const expiry = oldest + this.#maxDuration;
    if (expiry > now) return false;
    this.#machine.trialExpired(expiry);
    return true;
  }

  retryAfter(): number {
    return 0;
  }

  onSuccess(_now: number, _durationMs: number, slot: number): void {
    this.#free(slot);
    if (++this.successes >= this.#successesToClose) this.#machine.close();
  }

  onFailure(): void {
    this.#machine.reopen();
  }

  onIgnored(slot: number): void {
    this.#free(slot);
  }

  #free(slot: number): void {
    if (slot !== NO_SLOT) this.#trialStarts[slot - 1] = Number.NaN;
  }
}

/** Rejects every call until reset: its retry-after is `Infinity`, since no wait will do. */
export class ForcedOpen implements StateBehaviour {
  readonly name = 'forced-open';
  readonly records = true;

  admit(): number {
    return REJECTED;
  }

  retryAfter(): number {
    return Number.POSITIVE_INFINITY;
  }

  advance(): boolean {
    return false;
  }

  onSuccess(): void {}
  onFailure(): void {}
  onIgnored(): void {}
}

/** Admits every call and records nothing. */
export class Disabled implements StateBehaviour {
  readonly name = 'disabled';
  readonly records = false;

  admit(): number {
    return NO_SLOT;
  }

  retryAfter(): number {
    return 0;
  }

  advance(): boolean {
    return false;
  }

  onSuccess(): void {}
  onFailure(): void {}
  onIgnored(): void {}
}
