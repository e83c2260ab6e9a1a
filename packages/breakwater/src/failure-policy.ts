/**
 * The trip rule, kept apart from the state machine: a breaker hands every counted outcome of its
 * closed state to a {@link FailurePolicy} and opens when the policy says so. A new rule is a new
 * object with these three methods (and, optionally, words for why it tripped); the state machine
 * never changes.
 */

/**
 * What a policy reports about its window, for snapshots and dashboards. JSON-serialisable.
 *
 * @example
 * ```ts
 * breaker.snapshot().policy; // { kind: 'consecutiveFailures', threshold: 5, failures: 2 }
 * ```
 */
export interface PolicyStats {
  readonly [key: string]: number | string | readonly PolicyStats[];
}

/**
 * What a failure policy says about its own trip, from {@link FailurePolicy.describeTrip}.
 *
 * @example
 * ```ts
 * const policy: FailurePolicy = {
 *   recordSuccess: () => false,
 *   recordFailure: (_now, durationMs) => durationMs > 5_000,
 *   reset: () => {},
 *   describeTrip: () => ({ rule: 'slowFailure', text: 'a failure took longer than 5 s' }),
 * };
 * ```
 */
export interface TripDescription {
  /** A short, stable name of the rule, e.g. `'failureRate'`. */
  readonly rule: string;
  /** The rule in words and numbers, as of the trip. */
  readonly text: string;
  /** The counts the rule looked at; the policy's `stats()` when left out. */
  readonly window?: PolicyStats;
}

/**
 * What a {@link FailurePolicy} reads from the arguments it is given.
 *
 * @example
 * ```ts
 * const policy: FailurePolicy = { uses: 'nothing', recordSuccess, recordFailure, reset };
 * ```
 */
export type PolicyInputs = 'nothing' | 'time' | 'duration';

/**
 * Decides when a closed breaker should open. The breaker calls it only while closed, with the
 * clock reading and the call's duration, and resets it whenever the breaker closes.
 *
 * A policy is stateful and belongs to one breaker. Built-in policies implement
 * {@link FailurePolicy.clone}, so handing the same policy to several breakers gives each its own
 * copy; a custom policy without `clone` can serve only one breaker.
 *
 * @example
 * ```ts
 * // Trip on the first failure that takes longer than 5 s.
 * const slowFailure: FailurePolicy = {
 *   recordSuccess: () => false,
 *   recordFailure: (_now, durationMs) => durationMs > 5_000,
 *   reset: () => {},
 * };
 * new CircuitBreaker({ policy: slowFailure });
 * ```
 */
export interface FailurePolicy {
  /**
   * Which arguments the policy reads: `'duration'` (the default) both `now` and `durationMs`,
   * `'time'` only `now`, `'nothing'` neither. Reading the clock costs as much as the rest of a
   * closed-state call, so a breaker skips it when nobody needs the answer; a policy that declares
   * less than it reads gets `NaN`.
   */
  readonly uses?: PolicyInputs;
  /** Records a success; returns true when the breaker should open now. */
  recordSuccess(now: number, durationMs: number): boolean;
  /** Records a failure; returns true when the breaker should open now. */
  recordFailure(now: number, durationMs: number): boolean;
  /** Forgets every recorded outcome (the breaker closed or was reset). */
  reset(now: number): void;
  /** A cheap summary of the current window. */
  stats?(): PolicyStats;
  /**
   * Why the policy asked to trip, in words and numbers, for the breaker's trip reason. Called
   * only after `recordSuccess` or `recordFailure` returned true and before the next `reset`,
   * and only when someone asks for the reason; the window is as it was at the trip. A policy
   * without it gets a generic reason (`rule: 'custom'`).
   */
  describeTrip?(): TripDescription;
  /** A fresh policy with the same settings and an empty window. */
  clone?(): FailurePolicy;
}

/**
 * True when `value` has the three methods of a {@link FailurePolicy}.
 *
 * @example
 * ```ts
 * if (!isFailurePolicy(config.policy)) throw new Error('policy: not a FailurePolicy');
 * ```
 */
export function isFailurePolicy(value: unknown): value is FailurePolicy {
  if (typeof value !== 'object' || value === null) return false;
  const policy = value as Partial<FailurePolicy>;
  return (
    typeof policy.recordSuccess === 'function' &&
    typeof policy.recordFailure === 'function' &&
    typeof policy.reset === 'function'
  );
}
