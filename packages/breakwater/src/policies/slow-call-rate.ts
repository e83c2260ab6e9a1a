import { checkKnownOptions, checkNumber, checkObject, checkRate } from '../check-option.ts';
import type { FailurePolicy, PolicyStats, TripDescription } from '../failure-policy.ts';
import { overWindow, percent, span } from '../trip-reason.ts';
import { createWindow, type OutcomeWindow, type WindowOptions } from '../window.ts';
import { minimumCallsFor } from './failure-rate.ts';

/**
 * Options of {@link slowCallRate}.
 *
 * @example
 * ```ts
 * const options: SlowCallRateOptions = {
 *   threshold: 0.5,
 *   slowerThan: 1_000,
 *   window: { duration: 10_000, buckets: 10 },
 * };
 * new CircuitBreaker({ policy: slowCallRate(options) });
 * ```
 */
export interface SlowCallRateOptions {
  /** Trip when slow calls / calls is at or above this, in (0, 1]. */
  readonly threshold: number;
  /** A call that takes longer than this many ms is slow, whether it succeeded or failed. */
  readonly slowerThan: number;
  /** No trip before this many outcomes are in the window. Default: 10, or the window's size if smaller. */
  readonly minimumCalls?: number;
  /** `{ calls: n }` or `{ duration: ms, buckets }`. */
  readonly window: WindowOptions;
}

class SlowCallRate implements FailurePolicy {
  readonly uses = 'duration';
  readonly #threshold: number;
  readonly #slowerThan: number;
  readonly #minimumCalls: number;
  readonly #window: OutcomeWindow;

  constructor(threshold: number, slowerThan: number, minimumCalls: number, window: OutcomeWindow) {
    this.#threshold = threshold;
    this.#slowerThan = slowerThan;
    this.#minimumCalls = minimumCalls;
    this.#window = window;
  }

  recordSuccess(now: number, durationMs: number): boolean {
    return this.#record(now, false, durationMs);
  }

  recordFailure(now: number, durationMs: number): boolean {
    return this.#record(now, true, durationMs);
  }

  reset(now: number): void {
    this.#window.reset(now);
  }

  stats(): PolicyStats {
    const { calls, slowCalls, size } = this.#window;
    return { kind: 'slowCallRate', threshold: this.#threshold, window: size, calls, slowCalls };
  }

  describeTrip(): TripDescription {
    const { calls, slowCalls } = this.#window;
    const rate = percent(slowCalls / calls);
    const over = overWindow(this.#window, calls);
    return {
      rule: 'slowCallRate',
      text: `slow-call rate ${rate} ≥ ${percent(this.#threshold)} ${over} (slow: over ${span(this.#slowerThan)})`,
    };
  }

  clone(): SlowCallRate {
    return new SlowCallRate(
      this.#threshold,
      this.#slowerThan,
      this.#minimumCalls,
      this.#window.clone(),
    );
  }

  #record(now: number, failed: boolean, durationMs: number): boolean {
    const window = this.#window;
    window.record(now, failed, durationMs > this.#slowerThan);
    // Divided, not multiplied, so a rate exactly at the threshold trips (see failureRate).
    return window.calls >= this.#minimumCalls && window.slowCalls / window.calls >= this.#threshold;
  }
}

/**
 * Trips when the share of slow calls in a sliding window reaches `threshold`: a dependency that
 * answers, but too slowly, ties up callers as surely as one that fails.
 *
 * @example
 * ```ts
 * // Open when 80% of the last 50 calls took more than 2 s.
 * slowCallRate({ threshold: 0.8, slowerThan: 2_000, minimumCalls: 20, window: { calls: 50 } });
 * ```
 */
export function slowCallRate(options: SlowCallRateOptions): FailurePolicy {
  const o = checkObject('slowCallRate', options);
  checkKnownOptions(
    'slowCallRate.',
    o,
    ['threshold', 'slowerThan', 'minimumCalls', 'window'],
    'slowCallRate',
  );
  const threshold = checkRate('slowCallRate.threshold', o.threshold);
  const slowerThan = checkNumber('slowCallRate.slowerThan', o.slowerThan, 0);
  const window = createWindow('slowCallRate.window', o.window);
  const minimumCalls = minimumCallsFor('slowCallRate', o.minimumCalls, window);
  return new SlowCallRate(threshold, slowerThan, minimumCalls, window);
}
