import { checkInteger, checkKnownOptions, checkObject, checkRate } from '../check-option.ts';
import { InvalidOptionError } from '../errors.ts';
import type {
  FailurePolicy,
  PolicyInputs,
  PolicyStats,
  TripDescription,
} from '../failure-policy.ts';
import { overWindow, percent } from '../trip-reason.ts';
import { createWindow, type OutcomeWindow, type WindowOptions } from '../window.ts';

/**
 * Options of {@link failureRate}.
 *
 * @example
 * ```ts
 * const options: FailureRateOptions = { threshold: 0.25, minimumCalls: 40, window: { calls: 200 } };
 * new CircuitBreaker({ policy: failureRate(options) });
 * ```
 */
export interface FailureRateOptions {
  /** Trip when failures / calls is at or above this, in (0, 1]. */
  readonly threshold: number;
  /** No trip before this many outcomes are in the window. Default: 10, or the window's size if smaller. */
  readonly minimumCalls?: number;
  /** `{ calls: 100 }` for the last 100 calls, `{ duration: 60_000, buckets: 12 }` for the last minute. */
  readonly window: WindowOptions;
}

class FailureRate implements FailurePolicy {
  readonly uses: PolicyInputs;
  readonly #threshold: number;
  readonly #minimumCalls: number;
  readonly #window: OutcomeWindow;

  constructor(threshold: number, minimumCalls: number, window: OutcomeWindow) {
    this.#threshold = threshold;
    this.#minimumCalls = minimumCalls;
    this.#window = window;
    // A count window ignores the clock; a time window slides with it.
    this.uses = window.capacity === Number.POSITIVE_INFINITY ? 'time' : 'nothing';
  }

  recordSuccess(now: number): boolean {
    this.#window.record(now, false, false);
    return this.#tripped();
  }

  recordFailure(now: number): boolean {
    this.#window.record(now, true, false);
    return this.#tripped();
  }

  reset(now: number): void {
    this.#window.reset(now);
  }

  stats(): PolicyStats {
    const { calls, failures, size } = this.#window;
    return { kind: 'failureRate', threshold: this.#threshold, window: size, calls, failures };
  }

  describeTrip(): TripDescription {
    const { calls, failures } = this.#window;
    const rate = percent(failures / calls);
    const over = overWindow(this.#window, calls);
    return {
      rule: 'failureRate',
      text: `failure rate ${rate} ≥ ${percent(this.#threshold)} ${over}`,
    };
  }

  clone(): FailureRate {
    return new FailureRate(this.#threshold, this.#minimumCalls, this.#window.clone());
  }

  // Checked after successes too: in a time window, old successes sliding out can raise the rate.
  #tripped(): boolean {
    const { calls, failures } = this.#window;
    // Divide rather than multiply: 7 / 100 >= 0.07 holds, while 7 >= 0.07 * 100 (7.000000000000001)
    // does not, and "at or above" must hold at the threshold exactly.
    return calls >= this.#minimumCalls && failures / calls >= this.#threshold;
  }
}

/**
 * Trips when the share of failures in a sliding window reaches `threshold`, once the window holds
 * at least `minimumCalls` outcomes.
 *
 * @example
 * ```ts
 * // Open when half of the calls of the last 10 s failed, given at least 20 calls.
 * failureRate({ threshold: 0.5, minimumCalls: 20, window: { duration: 10_000, buckets: 10 } });
 * ```
 */
export function failureRate(options: FailureRateOptions): FailurePolicy {
  const o = checkObject('failureRate', options);
  checkKnownOptions('failureRate.', o, ['threshold', 'minimumCalls', 'window'], 'failureRate');
  const threshold = checkRate('failureRate.threshold', o.threshold);
  const window = createWindow('failureRate.window', o.window);
  const minimumCalls = minimumCallsFor('failureRate', o.minimumCalls, window);
  return new FailureRate(threshold, minimumCalls, window);
}

/** Validates `minimumCalls` against a window: a count window smaller than it could never trip. */
export function minimumCallsFor(policy: string, value: unknown, window: OutcomeWindow): number {
  const capacity = window.capacity;
  const minimumCalls = checkInteger(`${policy}.minimumCalls`, value, 1, Math.min(10, capacity));
  if (minimumCalls > capacity) {
    throw new InvalidOptionError(
      `${policy}.minimumCalls`,
      `at most the window's ${capacity} calls`,
      minimumCalls,
    );
  }
  return minimumCalls;
}
