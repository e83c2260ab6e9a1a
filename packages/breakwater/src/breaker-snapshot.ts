/**
 * A breaker's state as plain JSON, to persist it, ship it to another process or show it on a
 * dashboard. Times are relative ("open for 4 200 ms more"), because clock readings of one process
 * mean nothing in another.
 */
import type {
  AnyState,
  BreakerState,
  Closed,
  Disabled,
  ForcedOpen,
  HalfOpen,
  Open,
} from './breaker-states.ts';
import { InvalidOptionError } from './errors.ts';
import type { PolicyStats } from './failure-policy.ts';
import { MAX_TIMER_DELAY } from './internal.ts';
import type { SyncSnapshot } from './sync.ts';
import { checkTripReason, type TripReason } from './trip-reason.ts';

/**
 * Lifetime counters of a breaker.
 *
 * @example
 * ```ts
 * const { failures, rejections } = breaker.snapshot().totals;
 * ```
 */
export interface BreakerTotals {
  readonly successes: number;
  readonly failures: number;
  /** Calls turned away without running. */
  readonly rejections: number;
  /** Outcomes counted as neither (caller aborts, `ignore()`d errors, stale outcomes). */
  readonly ignored: number;
  /** Failures that were `callTimeout`s (also counted in `failures`). */
  readonly timeouts: number;
}

/**
 * The JSON-serialisable state of a breaker, from `breaker.snapshot()`; pass it back as
 * `initialState` to restore it.
 *
 * @example
 * ```ts
 * const saved = JSON.stringify(breaker.snapshot());
 * const restored = new CircuitBreaker({ initialState: JSON.parse(saved) });
 * ```
 */
export interface BreakerSnapshot {
  readonly version: 1;
  readonly name: string | null;
  readonly state: BreakerState;
  /** Re-openings since the breaker last closed (0 after the first trip): the backoff step. */
  readonly openAttempt: number;
  /** The last open duration chosen, in ms (decorrelated jitter grows from it). */
  readonly lastOpenDuration: number;
  /** How long an open breaker stays open from now, in ms; 0 in any other state. */
  readonly remainingOpenMs: number;
  /** Successful trials so far while half-open. */
  readonly halfOpenSuccesses: number;
  readonly totals: BreakerTotals;
  /** The failure policy's own summary, when it offers one. Not restored. */
  readonly policy: PolicyStats | null;
  /**
   * Why the breaker opened, while it is open, half-open or forced open; null otherwise. Restored
   * (a snapshot without one restores a breaker whose reason says so).
   */
  readonly reason: TripReason | null;
  /**
   * For a breaker given `sync`: where its state came from (`'local'` or another instance's id),
   * the epoch and whether the other instances are reachable. Not restored.
   */
  readonly sync?: SyncSnapshot;
}

/** What a breaker holds that its snapshot records. */
export interface SnapshotSource {
  readonly name: string | undefined;
  readonly state: AnyState;
  readonly openAttempt: number;
  readonly lastOpenDuration: number;
  readonly totals: BreakerTotals;
  readonly policy: PolicyStats | null;
  readonly reason: TripReason | null;
  readonly sync: SyncSnapshot | undefined;
}

/** The snapshot of a breaker whose state is up to date as of `now`. */
export function takeSnapshot(source: SnapshotSource, now: number): BreakerSnapshot {
  const state = source.state;
  return {
    version: 1,
    name: source.name ?? null,
    state: state.name,
    openAttempt: source.openAttempt,
    lastOpenDuration: source.lastOpenDuration,
    remainingOpenMs: state.name === 'open' ? state.retryAfter(now) : 0,
    halfOpenSuccesses: state.name === 'half-open' ? state.successes : 0,
    totals: source.totals,
    policy: source.policy,
    reason: source.reason,
    ...(source.sync === undefined ? {} : { sync: source.sync }),
  };
}

/** The states a breaker builds, for {@link restoredState}. */
export interface StateFactory {
  readonly closed: Closed;
  open(until: number): Open;
  halfOpen(successes: number): HalfOpen;
  forcedOpen(): ForcedOpen;
  disabled(): Disabled;
}

/**
 * The state a breaker restored from `snapshot` starts in at `now`. An open breaker whose wait has
 * run out starts half-open; the policy's window is not restored (it starts empty).
 */
export function restoredState(
  snapshot: BreakerSnapshot,
  now: number,
  states: StateFactory,
): AnyState {
  switch (snapshot.state) {
    case 'closed':
      return states.closed;
    case 'open':
      return snapshot.remainingOpenMs > 0
        ? states.open(now + Math.min(snapshot.remainingOpenMs, MAX_TIMER_DELAY))
        : states.halfOpen(0);
    case 'half-open':
      return states.halfOpen(snapshot.halfOpenSuccesses);
    case 'forced-open':
      return states.forcedOpen();
    case 'disabled':
      return states.disabled();
  }
}

const STATES: readonly BreakerState[] = ['closed', 'open', 'half-open', 'forced-open', 'disabled'];

/** Checks a snapshot given as `initialState`, naming the bad field. */
export function checkSnapshot(value: unknown): BreakerSnapshot {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError('initialState', 'a BreakerSnapshot object', value);
  }
  const s = value as Record<string, unknown>;
  if (s.version !== 1) throw new InvalidOptionError('initialState.version', '1', s.version);
  if (s.name !== null && s.name !== undefined && typeof s.name !== 'string') {
    throw new InvalidOptionError('initialState.name', 'a string or null', s.name);
  }
  if (!STATES.includes(s.state as BreakerState)) {
    throw new InvalidOptionError('initialState.state', STATES.join(' | '), s.state);
  }
  for (const key of ['openAttempt', 'lastOpenDuration', 'remainingOpenMs', 'halfOpenSuccesses']) {
    count(`initialState.${key}`, s[key]);
  }
  const totals = s.totals;
  if (typeof totals !== 'object' || totals === null) {
    throw new InvalidOptionError('initialState.totals', 'an object', totals);
  }
  for (const key of ['successes', 'failures', 'rejections', 'ignored', 'timeouts']) {
    count(`initialState.totals.${key}`, (totals as Record<string, unknown>)[key]);
  }
  // Absent in snapshots taken before reasons existed: same version, nothing else changed.
  if (s.reason !== undefined && s.reason !== null) checkTripReason('initialState.reason', s.reason);
  return value as BreakerSnapshot;
}

function count(option: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, 'a finite number >= 0', value);
  }
}
