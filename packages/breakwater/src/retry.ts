/**
 * Retry: runs the work again after a failure, waiting between attempts as a backoff says, within
 * an attempt limit and an optional {@link RetryBudget}.
 */

import { type Backoff, equalJitter, toBackoff } from './backoff.ts';
import { checkKnownOptions } from './check-option.ts';
import { type Clock, sleep, systemClock } from './clock.ts';
import { CircuitOpenError, InvalidOptionError } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import { callContext, MAX_TIMER_DELAY } from './internal.ts';
import { unwrapOutcome } from './outcome.ts';
import type { ExecuteOptions, Work } from './policy.ts';
import { judge } from './predicate.ts';
import type { RetryBudget } from './retry-budget.ts';

/**
 * Options of {@link retry}.
 *
 * @example
 * ```ts
 * const options: RetryOptions = { maxAttempts: 5, backoff: fullJitter({ initial: 50, max: 2_000 }) };
 * retry(options);
 * ```
 */
export interface RetryOptions {
  /** Attempts in all, the first included; `Infinity` leaves the limit to the budget. Default: 3. */
  readonly maxAttempts?: number;
  /**
   * Wait before each retry: a number of ms or a {@link Backoff}, asked with attempt 0 for the first
   * retry. Default: `equalJitter({ initial: 100, max: 10_000 })`.
   */
  readonly backoff?: number | Backoff;
  /** Whether an error is worth another attempt. Default: every error. */
  readonly retryOn?: (error: unknown) => boolean;
  /** Whether a result is worth another attempt (e.g. a 503 response). Default: none. */
  readonly retryOnResult?: (result: unknown) => boolean;
  /**
   * Retry a {@link CircuitOpenError} from an inner breaker too. Default: false — the breaker
   * rejected without calling anything, and hammering it only delays the caller.
   */
  readonly retryCircuitOpen?: boolean;
  /** Shared cap on retries as a fraction of calls; without it only `maxAttempts` limits. */
  readonly budget?: RetryBudget;
  /** Default: {@link systemClock}. */
  readonly clock?: Clock;
}

/**
 * Events of a {@link RetryPolicy}.
 *
 * @example
 * ```ts
 * retries.on('retry', ({ attempt, delay }) => log.info(`attempt ${attempt} failed, again in ${delay} ms`));
 * retries.on('give-up', ({ attempts, reason }) => log.warn({ attempts, reason }, 'gave up'));
 * ```
 */
export interface RetryEvents {
  /** An attempt failed and another will follow after `delay` ms. */
  retry: {
    /** The attempt that failed, from 1. */
    readonly attempt: number;
    readonly delay: number;
    /** The failed attempt's error; undefined when its result was retried. */
    readonly error: unknown;
    /** The retried result, when `retryOnResult` asked for the retry. */
    readonly result: unknown;
  };
  /** Retrying stopped with a retryable failure: attempts exhausted or budget spent. */
  'give-up': {
    readonly attempts: number;
    readonly reason: 'max-attempts' | 'budget';
    readonly error: unknown;
    readonly result: unknown;
  };
}

const RETRY_OPTIONS = [
  'maxAttempts',
  'backoff',
  'retryOn',
  'retryOnResult',
  'retryCircuitOpen',
  'budget',
  'clock',
];

/**
 * A policy that retries failed attempts. Every attempt gets the caller's signal; an abort stops
 * the wait between attempts at once and no attempt starts after it. An error the work throws as
 * `ignore(e)`/`markAsSuccess(e)` is judged as `e` but passed on wrapped, for a breaker outside to
 * read; a {@link pipeline} unwraps it before its caller sees it.
 *
 * @example
 * ```ts
 * const retries = new RetryPolicy({ maxAttempts: 3, backoff: 200 });
 * const rows = await retries.execute(({ signal }) => db.query(sql, { signal }));
 * ```
 */
export class RetryPolicy {
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #retryOn: ((error: unknown) => boolean) | undefined;
  readonly #retryOnResult: ((result: unknown) => boolean) | undefined;
  readonly #retryCircuitOpen: boolean;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;
  readonly #events = new Emitter<RetryEvents>();

  constructor(options: RetryOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions('', options, RETRY_OPTIONS, 'retry');
    const maxAttempts = options.maxAttempts ?? 3;
    if (!(Number.isInteger(maxAttempts) || maxAttempts === Number.POSITIVE_INFINITY)) {
      throw new InvalidOptionError('maxAttempts', 'an integer >= 1 or Infinity', maxAttempts);
    }
    if (maxAttempts < 1) {
      throw new InvalidOptionError('maxAttempts', 'an integer >= 1 or Infinity', maxAttempts);
    }
    const backoff = options.backoff ?? equalJitter({ initial: 100, max: 10_000 });
    if (typeof backoff === 'number') {
      if (!Number.isFinite(backoff) || backoff < 0) {
        throw new InvalidOptionError('backoff', 'a finite number of ms >= 0 or a Backoff', backoff);
      }
    } else if (typeof backoff?.delay !== 'function') {
      throw new InvalidOptionError('backoff', 'a number of ms or a Backoff', backoff);
    }
    this.#maxAttempts = maxAttempts;
    this.#backoff = toBackoff(backoff);
    this.#retryOn = predicate('retryOn', options.retryOn);
    this.#retryOnResult = predicate('retryOnResult', options.retryOnResult);
    this.#retryCircuitOpen = options.retryCircuitOpen ?? false;
    if (options.budget !== undefined && typeof options.budget?.tryAcquireRetry !== 'function') {
      throw new InvalidOptionError('budget', 'a RetryBudget', options.budget);
    }
    this.#budget = options.budget;
    this.#clock = options.clock ?? systemClock;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof RetryEvents>(name: K, listener: (event: RetryEvents[K]) => void): Unsubscribe {
    return this.#events.on(name, listener);
  }

  /**
   * Runs `fn`, retrying as configured. Settles with the first success, the first error not worth
   * a retry, or the last failure once attempts or budget run out (a retried result is returned as
   * is). Rejects with the abort reason when the caller aborts during a wait.
   */
  async execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    this.#budget?.recordRequest();
    let previousDelay = 0;
    for (let attempt = 1; ; attempt++) {
      let error: unknown;
      let result: T | undefined;
      let failed = false;
      try {
        result = await fn(callContext(signal, attempt));
        if (this.#retryOnResult === undefined) return result;
        if (!judge(this.#retryOnResult, result, 'retryOnResult')) return result;
      } catch (caught) {
        if (signal?.aborted || !this.#isRetryable(caught)) throw caught;
        error = caught;
        failed = true;
      }
      // A result the caller can't use anyway: no point running another attempt.
      if (signal?.aborted) return result as T;
      if (attempt >= this.#maxAttempts) {
        return this.#giveUp(attempt, 'max-attempts', failed, error, result);
      }
      if (this.#budget !== undefined && !this.#budget.tryAcquireRetry()) {
        return this.#giveUp(attempt, 'budget', failed, error, result);
      }
      const delay = waitFor(this.#backoff.delay(attempt - 1, previousDelay));
      previousDelay = delay;
      if (this.#events.has('retry')) this.#events.emit('retry', { attempt, delay, error, result });
      if (delay > 0) await sleep(this.#clock, delay, signal);
      else if (signal?.aborted) throw signal.reason;
    }
  }

  #isRetryable(thrown: unknown): boolean {
    // Judge the error itself; an ignore()/markAsSuccess() wrapper is kept for an outer breaker.
    const error = unwrapOutcome(thrown);
    if (error instanceof CircuitOpenError && !this.#retryCircuitOpen) return false;
    return this.#retryOn === undefined || judge(this.#retryOn, error, 'retryOn');
  }

  #giveUp<T>(
    attempts: number,
    reason: 'max-attempts' | 'budget',
    failed: boolean,
    error: unknown,
    result: T | undefined,
  ): T {
    if (this.#events.has('give-up')) {
      this.#events.emit('give-up', { attempts, reason, error, result });
    }
    if (failed) throw error;
    return result as T;
  }
}

/** Keeps a custom backoff's NaN, negative or huge delay from firing a timer at once or never. */
function waitFor(delay: number): number {
  return delay > 0 ? Math.min(delay, MAX_TIMER_DELAY) : 0;
}

function predicate<A>(option: string, value: ((arg: A) => boolean) | undefined) {
  if (value !== undefined && typeof value !== 'function') {
    throw new InvalidOptionError(option, 'a function', value);
  }
  return value;
}

/**
 * Retries failed attempts.
 *
 * @example
 * ```ts
 * const policy = retry({
 *   maxAttempts: 4,
 *   backoff: exponential({ initial: 100, max: 2_000 }),
 *   retryOn: (error) => !(error instanceof TypeError),
 *   budget: new RetryBudget({ ratio: 0.2 }),
 * });
 * const body = await policy.execute(({ signal }) => fetch(url, { signal }).then((r) => r.json()));
 * ```
 */
export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}
