import { checkInteger, checkKnownOptions, checkObject, checkRate } from '../check-option.ts';
import type { FailurePolicy, PolicyStats, TripDescription } from '../failure-policy.ts';
import { percent } from '../trip-reason.ts';

/**
 * Options of {@link successRateEma}.
 *
 * @example
 * ```ts
 * const options: SuccessRateEmaOptions = { minimumRate: 0.95, window: 100, minimumCalls: 30 };
 * new CircuitBreaker({ policy: successRateEma(options) });
 * ```
 */
export interface SuccessRateEmaOptions {
  /** Trip when the smoothed success rate falls below this, in (0, 1]. */
  readonly minimumRate: number;
  /** No trip before this many outcomes since the breaker closed. Default: `window`. */
  readonly minimumCalls?: number;
  /** Smoothing span in calls: each outcome weighs 2 / (window + 1). */
  readonly window: number;
}

class SuccessRateEma implements FailurePolicy {
  readonly uses = 'nothing';
  readonly #minimumRate: number;
  readonly #minimumCalls: number;
  readonly #window: number;
  readonly #weight: number;
  #rate = 1;
  #calls = 0;

  constructor(minimumRate: number, minimumCalls: number, window: number) {
    this.#minimumRate = minimumRate;
    this.#minimumCalls = minimumCalls;
    this.#window = window;
    this.#weight = 2 / (window + 1);
  }

  recordSuccess(): boolean {
    return this.#record(1);
  }

  recordFailure(): boolean {
    return this.#record(0);
  }

  reset(): void {
    // Start optimistic: a fresh window has seen no failure.
    this.#rate = 1;
    this.#calls = 0;
  }

  stats(): PolicyStats {
    return {
      kind: 'successRateEma',
      minimumRate: this.#minimumRate,
      rate: this.#rate,
      calls: this.#calls,
    };
  }

  describeTrip(): TripDescription {
    return {
      rule: 'successRateEma',
      text: `success-rate EMA ${percent(this.#rate)} < ${percent(this.#minimumRate)} over about the last ${this.#window} calls`,
    };
  }

  clone(): SuccessRateEma {
    return new SuccessRateEma(this.#minimumRate, this.#minimumCalls, this.#window);
  }

  #record(outcome: number): boolean {
    this.#rate += this.#weight * (outcome - this.#rate);
    if (this.#calls < this.#minimumCalls) this.#calls++;
    return this.#calls >= this.#minimumCalls && this.#rate < this.#minimumRate;
  }
}

/**
 * Trips when an exponential moving average of successes falls below `minimumRate`. Recent calls
 * weigh most, so a sudden outage trips it quickly while old history fades without a window.
 *
 * @example
 * ```ts
 * // Open when the success rate, smoothed over about 50 calls, drops below 90%.
 * successRateEma({ minimumRate: 0.9, window: 50, minimumCalls: 20 });
 * ```
 */
export function successRateEma(options: SuccessRateEmaOptions): FailurePolicy {
  const o = checkObject('successRateEma', options);
  checkKnownOptions(
    'successRateEma.',
    o,
    ['minimumRate', 'minimumCalls', 'window'],
    'successRateEma',
  );
  const minimumRate = checkRate('successRateEma.minimumRate', o.minimumRate);
  const window = checkInteger('successRateEma.window', o.window, 1);
  const minimumCalls = checkInteger('successRateEma.minimumCalls', o.minimumCalls, 1, window);
  return new SuccessRateEma(minimumRate, minimumCalls, window);
}
