/**
 * Retries for HTTP: the core `retry` waits by attempt number only, while an HTTP client must also
 * wait as long as a 429 or 503 asks through `Retry-After`, and must free a discarded response's
 * connection before the next attempt. Built from the same pieces: a backoff, the clock's `sleep`
 * and an optional shared retry budget.
 */
import {
  type Backoff,
  BulkheadFullError,
  CircuitOpenError,
  type Clock,
  equalJitter,
  InvalidOptionError,
  type RetryBudget,
  sleep,
  toBackoff,
} from 'breakwater';
import { checkKeys } from './check-keys.ts';
import { retryAfterOf } from './retry-after.ts';
import { FailureStatusError } from './status-error.ts';

/**
 * Retry options of `protectedFetch`.
 *
 * @example
 * ```ts
 * const retry: HttpRetryOptions = { maxAttempts: 4, backoff: 250, statuses: [502, 503, 504], maxRetryAfter: 10_000 };
 * protectedFetch({ retry });
 * ```
 */
export interface HttpRetryOptions {
  /** Attempts in all, the first included. Default: 3. */
  readonly maxAttempts?: number;
  /**
   * Wait before each retry, in ms or as a backoff (asked with attempt 0 for the first retry),
   * unless the response says otherwise with `Retry-After`.
   * Default: `equalJitter({ initial: 100, max: 10_000 })`.
   */
  readonly backoff?: number | Backoff;
  /** Statuses worth another attempt. Default: 408, 429, 500, 502, 503, 504. */
  readonly statuses?: readonly number[];
  /**
   * The longest wait a `Retry-After` on a 429 or 503 may impose, in ms; a longer one is cut to
   * this. Default: 30 000.
   */
  readonly maxRetryAfter?: number;
  /** A budget shared by every call, capping retries at a fraction of traffic. */
  readonly budget?: RetryBudget;
}

/** The value of an attempt that read the body: distinct from a `Response` left unread. */
export class BodyRead<T> {
  readonly value: T;
  constructor(value: T) {
    this.value = value;
  }
}

/** What one attempt yields: a response left unread for the retry loop, or the read body. */
export type AttemptResult<T> = Response | BodyRead<T>;

/** One attempt; `last` tells it whether another may follow (so it need not read a 429). */
export type Attempt<T> = (attempt: number, last: boolean) => Promise<AttemptResult<T>>;

const defaultStatuses = [408, 429, 500, 502, 503, 504];
const optionKeys = new Set(['maxAttempts', 'backoff', 'statuses', 'maxRetryAfter', 'budget']);

/** The retry loop of `protectedFetch`, configured once. */
export class HttpRetry {
  readonly #maxAttempts: number;
  readonly #backoff: Backoff;
  readonly #statuses: ReadonlySet<number>;
  readonly #maxRetryAfter: number;
  readonly #budget: RetryBudget | undefined;
  readonly #clock: Clock;

  constructor(options: HttpRetryOptions, clock: Clock) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('retry', 'an object or false', options);
    }
    checkKeys('retry.', options, optionKeys);
    const maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
      throw new InvalidOptionError('retry.maxAttempts', 'an integer >= 1', maxAttempts);
    }
    const backoff = options.backoff ?? equalJitter({ initial: 100, max: 10_000 });
    if (
      typeof backoff === 'number'
        ? !(backoff >= 0 && Number.isFinite(backoff))
        : typeof backoff?.delay !== 'function'
    ) {
      throw new InvalidOptionError('retry.backoff', 'a number of ms >= 0 or a Backoff', backoff);
    }
    const statuses = options.statuses ?? defaultStatuses;
    if (!Array.isArray(statuses)) {
      throw new InvalidOptionError('retry.statuses', 'an array of HTTP statuses', statuses);
    }
    statuses.forEach((status, i) => {
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        throw new InvalidOptionError(
          `retry.statuses[${i}]`,
          'an HTTP status from 100 to 599',
          status,
        );
      }
    });
    const maxRetryAfter = options.maxRetryAfter ?? 30_000;
    if (
      typeof maxRetryAfter !== 'number' ||
      !(maxRetryAfter >= 0) ||
      !Number.isFinite(maxRetryAfter)
    ) {
      throw new InvalidOptionError(
        'retry.maxRetryAfter',
        'a finite number of ms >= 0',
        maxRetryAfter,
      );
    }
    if (options.budget !== undefined && typeof options.budget?.tryAcquireRetry !== 'function') {
      throw new InvalidOptionError('retry.budget', 'a RetryBudget', options.budget);
    }
    this.#maxAttempts = maxAttempts;
    this.#backoff = toBackoff(backoff);
    this.#statuses = new Set(statuses);
    this.#maxRetryAfter = maxRetryAfter;
    this.#budget = options.budget;
    this.#clock = clock;
  }

  /** True when a response with `status` is worth another attempt. */
  retriesStatus(status: number): boolean {
    return this.#statuses.has(status);
  }

  /**
   * Runs attempts until one is not worth retrying, attempts or budget run out, or `signal`
   * aborts. Settles like the last attempt: its response, its read body, or its error.
   */
  async run<T>(attempt: Attempt<T>, signal: AbortSignal): Promise<AttemptResult<T>> {
    this.#budget?.recordRequest();
    let previousDelay = 0;
    for (let n = 0; ; n++) {
      const last = n + 1 >= this.#maxAttempts;
      let response: Response | undefined;
      let failure: unknown;
      try {
        const result = await attempt(n, last);
        if (!(result instanceof Response) || !this.#statuses.has(result.status)) return result;
        response = result;
      } catch (error) {
        if (signal.aborted || !isRetryableError(error)) throw error;
        if (error instanceof FailureStatusError) {
          if (!this.#statuses.has(error.status)) throw error;
          response = error.response;
        }
        failure = error;
      }
      if (last || (this.#budget !== undefined && !this.#budget.tryAcquireRetry())) {
        if (failure !== undefined) throw failure;
        return response as Response;
      }
      let delay = response === undefined ? undefined : this.#askedWait(response);
      if (delay === undefined) {
        delay = this.#backoff.delay(n, previousDelay);
        previousDelay = delay;
      }
      // Cancelling (rather than draining) frees the connection without reading a body nobody
      // wants, however large it is.
      await response?.body?.cancel().catch(() => {});
      if (delay > 0) await sleep(this.#clock, delay, signal);
      else if (signal.aborted) throw signal.reason;
    }
  }

  /** The `Retry-After` wait of a 429 or 503, capped at `maxRetryAfter`. */
  #askedWait(response: Response): number | undefined {
    if (response.status !== 429 && response.status !== 503) return undefined;
    const asked = retryAfterOf(response);
    return asked === undefined ? undefined : Math.min(asked, this.#maxRetryAfter);
  }
}

/**
 * An open breaker or a full bulkhead rejected the attempt without sending it: retrying at once
 * would only be rejected again, and delays the caller for nothing.
 */
function isRetryableError(error: unknown): boolean {
  return !(error instanceof CircuitOpenError || error instanceof BulkheadFullError);
}
