/**
 * A retry budget caps retries at a fraction of recent traffic, so that when a dependency fails
 * every caller's retries together add at most `ratio` more load instead of multiplying it
 * (Envoy's retry budgets, Finagle's `RetryBudget`).
 */
import { checkKnownOptions } from './check-option.ts';
import { type Clock, systemClock } from './clock.ts';
import { InvalidOptionError } from './errors.ts';

/**
 * Options of a {@link RetryBudget}.
 *
 * @example
 * ```ts
 * const options: RetryBudgetOptions = { ratio: 0.1, minPerSecond: 5, window: 30_000 };
 * const budget = new RetryBudget(options);
 * retry({ budget });
 * ```
 */
export interface RetryBudgetOptions {
  /** Retries allowed per recorded request over the window, e.g. 0.2 for 20 %. */
  readonly ratio: number;
  /**
   * Retries allowed per second regardless of traffic, so a quiet client can still retry.
   * Added to the ratio's allowance. Default: 10.
   */
  readonly minPerSecond?: number;
  /** How far back requests and retries count, in ms. Default: 10 000. */
  readonly window?: number;
  /**
   * How many slices the window is cut into; old traffic leaves the budget one slice at a time.
   * Default: 10.
   */
  readonly buckets?: number;
  /** Default: {@link systemClock}. */
  readonly clock?: Clock;
}

/**
 * Counts requests and retries over a sliding window and admits a retry only while
 * `retries < ratio × requests + minPerSecond × window / 1000`. Every operation is O(1) and no
 * timer runs: buckets that fell out of the window are cleared when the budget is next touched.
 *
 * One budget is meant to be shared by every call to the same dependency.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 10, window: 10_000 });
 * budget.recordRequest(); // once per call, before its first attempt
 * if (budget.tryAcquireRetry()) {
 *   // retry; the retry is now counted
 * }
 * ```
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #minRetries: number;
  readonly #clock: Clock;
  readonly #bucketWidth: number;
  readonly #requestsIn: Float64Array;
  readonly #retriesIn: Float64Array;
  /** Index of the bucket that receives new counts. */
  #head = 0;
  /** Clock reading at which the head bucket began. */
  #headStart: number;
  #requests = 0;
  #retries = 0;

  constructor(options: RetryBudgetOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions(
      '',
      options,
      ['ratio', 'minPerSecond', 'window', 'buckets', 'clock'],
      'RetryBudget',
    );
    const ratio = nonNegative('ratio', options.ratio);
    const minPerSecond = nonNegative('minPerSecond', options.minPerSecond ?? 10);
    const window = options.window ?? 10_000;
    if (typeof window !== 'number' || !Number.isFinite(window) || window <= 0) {
      throw new InvalidOptionError('window', 'a finite number of ms > 0', window);
    }
    const buckets = options.buckets ?? 10;
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1_000) {
      throw new InvalidOptionError('buckets', 'an integer from 1 to 1000', buckets);
    }
    this.#ratio = ratio;
    this.#minRetries = (minPerSecond * window) / 1_000;
    this.#clock = options.clock ?? systemClock;
    this.#bucketWidth = window / buckets;
    this.#requestsIn = new Float64Array(buckets);
    this.#retriesIn = new Float64Array(buckets);
    this.#headStart = this.#clock.now();
  }

  /** Counts one call (not its retries). Call it once per call, before the first attempt. */
  recordRequest(): void {
    this.#roll();
    this.#requests++;
    this.#requestsIn[this.#head] = (this.#requestsIn[this.#head] ?? 0) + 1;
  }

  /**
   * True, and the retry counted, when the budget has room for one more retry; false otherwise
   * (the caller should give up and surface the last failure).
   */
  tryAcquireRetry(): boolean {
    this.#roll();
    // The epsilon absorbs float error in ratio × requests (0.1 × 30 is 3.0000000000000004).
    if (this.#retries + 1 > this.#ratio * this.#requests + this.#minRetries + 1e-9) return false;
    this.#retries++;
    this.#retriesIn[this.#head] = (this.#retriesIn[this.#head] ?? 0) + 1;
    return true;
  }

  /** Requests counted in the current window. */
  get requests(): number {
    this.#roll();
    return this.#requests;
  }

  /** Retries counted in the current window. */
  get retries(): number {
    this.#roll();
    return this.#retries;
  }

  /** Moves the head to the bucket covering now, dropping the counts of buckets that expired. */
  #roll(): void {
    const elapsed = Math.floor((this.#clock.now() - this.#headStart) / this.#bucketWidth);
    if (elapsed <= 0) return;
    const size = this.#requestsIn.length;
    if (elapsed >= size) {
      this.#requestsIn.fill(0);
      this.#retriesIn.fill(0);
      this.#requests = 0;
      this.#retries = 0;
    } else {
      // At most `buckets` steps: bounded by configuration, not by traffic or idle time.
      for (let i = 0; i < elapsed; i++) {
        this.#head = (this.#head + 1) % size;
        this.#requests -= this.#requestsIn[this.#head] ?? 0;
        this.#retries -= this.#retriesIn[this.#head] ?? 0;
        this.#requestsIn[this.#head] = 0;
        this.#retriesIn[this.#head] = 0;
      }
    }
    this.#headStart += elapsed * this.#bucketWidth;
  }
}

function nonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionError(option, 'a finite number >= 0', value);
  }
  return value;
}
