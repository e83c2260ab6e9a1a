/**
 * Sliding windows of call outcomes for the rate-based policies. Both kinds keep running totals,
 * so recording an outcome and reading the rate are O(1) and allocate nothing.
 */
import { checkInteger, checkKnownOptions, checkObject, checkPositive } from './check-option.ts';
import { InvalidOptionError } from './errors.ts';

/**
 * Which outcomes a rate is computed over: the last N calls, or the last `duration` ms.
 *
 * @example
 * ```ts
 * failureRate({ threshold: 0.5, window: { calls: 100 } });
 * failureRate({ threshold: 0.5, window: { duration: 60_000, buckets: 12 } });
 * ```
 */
export type WindowOptions =
  | { readonly calls: number }
  | {
      readonly duration: number;
      /** How many slices the duration is cut into; more is smoother. Default: 10. */
      readonly buckets?: number;
    };

/**
 * Running totals of the outcomes currently in a window.
 *
 * @example
 * ```ts
 * window.record(now, failed, durationMs > slowerThan);
 * if (window.calls >= 20 && window.failures >= window.calls / 2) trip();
 * ```
 */
export interface OutcomeWindow {
  /** Adds one outcome at time `now` (and first forgets what slid out of the window). */
  record(now: number, failed: boolean, slow: boolean): void;
  /** Forgets everything. */
  reset(now: number): void;
  /** Outcomes in the window as of the last `record`. */
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  /** The window's size, for stats: `100 calls` or `60000 ms`. */
  readonly size: string;
  /** The most outcomes the window can hold: its call count, or `Infinity` for a time window. */
  readonly capacity: number;
  /** Copy with the same shape and no outcomes. */
  clone(): OutcomeWindow;
}

const FAILED = 1;
const SLOW = 2;

/**
 * The last `capacity` outcomes, in a ring of one byte each. Public for custom policies.
 *
 * @example
 * ```ts
 * const window = new CountWindow(100);
 * window.record(clock.now(), true, false);
 * const rate = window.failures / window.calls;
 * ```
 */
export class CountWindow implements OutcomeWindow {
  readonly #ring: Uint8Array;
  #next = 0;
  #filled = 0;
  calls = 0;
  failures = 0;
  slowCalls = 0;

  constructor(capacity: number) {
    this.#ring = new Uint8Array(capacity);
  }

  get size(): string {
    return `${this.#ring.length} calls`;
  }

  get capacity(): number {
    return this.#ring.length;
  }

  record(_now: number, failed: boolean, slow: boolean): void {
    const ring = this.#ring;
    if (this.#filled === ring.length) {
      const old = ring[this.#next]!;
      this.failures -= old & FAILED;
      this.slowCalls -= (old & SLOW) >> 1;
    } else {
      this.#filled++;
      this.calls++;
    }
    ring[this.#next] = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (failed) this.failures++;
    if (slow) this.slowCalls++;
    this.#next = this.#next + 1 === ring.length ? 0 : this.#next + 1;
  }

  reset(): void {
    this.#next = 0;
    this.#filled = 0;
    this.calls = 0;
    this.failures = 0;
    this.slowCalls = 0;
  }

  clone(): CountWindow {
    return new CountWindow(this.#ring.length);
  }
}

/**
 * The outcomes of the last `duration` ms, in `buckets` slices. Public for custom policies. A slice is forgotten as a whole
 * once it is older than the window, so the window covers between `duration - duration/buckets`
 * and `duration` ms. Time advances only when an outcome is recorded: no timer.
 *
 * @example
 * ```ts
 * const lastMinute = new TimeWindow(60_000, 12); // 5-second slices
 * lastMinute.record(clock.now(), false, durationMs > 1_000);
 * ```
 */
export class TimeWindow implements OutcomeWindow {
  readonly #duration: number;
  readonly #width: number;
  readonly #calls: Float64Array;
  readonly #failures: Float64Array;
  readonly #slow: Float64Array;
  /** Index of the slice that holds the current time. */
  #head = 0;
  /** `floor(time / width)` of the head slice; slices are aligned to the clock, not to calls. */
  #headEpoch = Number.NEGATIVE_INFINITY;
  calls = 0;
  failures = 0;
  slowCalls = 0;

  constructor(duration: number, buckets: number) {
    this.#duration = duration;
    this.#width = duration / buckets;
    this.#calls = new Float64Array(buckets);
    this.#failures = new Float64Array(buckets);
    this.#slow = new Float64Array(buckets);
  }

  get size(): string {
    return `${this.#duration} ms`;
  }

  /** How far back the window reaches, in ms. */
  get duration(): number {
    return this.#duration;
  }

  get capacity(): number {
    return Number.POSITIVE_INFINITY;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    this.#advance(now);
    const head = this.#head;
    this.#calls[head]!++;
    this.calls++;
    if (failed) {
      this.#failures[head]!++;
      this.failures++;
    }
    if (slow) {
      this.#slow[head]!++;
      this.slowCalls++;
    }
  }

  reset(now: number): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#slow.fill(0);
    this.calls = 0;
    this.failures = 0;
    this.slowCalls = 0;
    this.#head = 0;
    this.#headEpoch = Math.floor(now / this.#width);
  }

  clone(): TimeWindow {
    return new TimeWindow(this.#duration, this.#calls.length);
  }

  #advance(now: number): void {
    const epoch = Math.floor(now / this.#width);
    const gap = epoch - this.#headEpoch;
    // A clock that steps back leaves outcomes in the current slice rather than corrupting totals.
    if (!(gap > 0)) return;
    const buckets = this.#calls.length;
    if (gap >= buckets) {
      this.reset(now);
      return;
    }
    let index = this.#head;
    for (let step = 0; step < gap; step++) {
      index = index + 1 === buckets ? 0 : index + 1;
      this.calls -= this.#calls[index]!;
      this.failures -= this.#failures[index]!;
      this.slowCalls -= this.#slow[index]!;
      this.#calls[index] = 0;
      this.#failures[index] = 0;
      this.#slow[index] = 0;
    }
    this.#head = index;
    this.#headEpoch = epoch;
  }
}

/** Builds a window from its options, naming `option` in any error. */
export function createWindow(option: string, value: unknown): OutcomeWindow {
  const options = checkObject(option, value);
  if (options.calls !== undefined) {
    if (options.duration !== undefined) {
      throw new InvalidOptionError(option, 'either { calls } or { duration, buckets }', value);
    }
    checkKnownOptions(`${option}.`, options, ['calls'], 'count window');
    return new CountWindow(checkInteger(`${option}.calls`, options.calls, 1));
  }
  if (options.duration !== undefined) {
    checkKnownOptions(`${option}.`, options, ['duration', 'buckets'], 'time window');
    const duration = checkPositive(`${option}.duration`, options.duration);
    const buckets = checkInteger(`${option}.buckets`, options.buckets, 1, 10);
    return new TimeWindow(duration, buckets);
  }
  throw new InvalidOptionError(option, '{ calls } or { duration, buckets }', value);
}
