/**
 * The proxy's per-request retry decision: whether a failed attempt may be tried again on another
 * target, and after how long. The forwarder owns the loop; this owns the rules.
 */
import { type Backoff, type Clock, fullJitter, RetryBudget, systemClock } from 'breakwater';
import type { RetryConfig } from '../config/schema.ts';
import type { AttemptResult } from './attempt-result.ts';

/**
 * An upstream's `retry` block as the schema validated it (durations in ms, sizes in bytes,
 * `on` parsed to error kinds and status numbers), plus where time and randomness come from.
 */
export interface RetryPolicyOptions extends Omit<Exclude<RetryConfig, false>, 'budget'> {
  /**
   * Retries at most `ratio` of requests, plus `minPerSecond`, over `window` ms (default 10 s);
   * `false` or absent: no budget.
   */
  readonly budget?:
    | false
    | { readonly ratio: number; readonly minPerSecond: number; readonly window?: number }
    | undefined;
  readonly clock?: Clock;
  /** Source of randomness in [0, 1) for the jitter. Default: `Math.random`. */
  readonly random?: () => number;
}

/** What the forwarder knows when an attempt has failed. */
export interface RetryQuestion {
  /** Only requests that may have reached a target need a retryable method. */
  readonly method: string;
  /** The 1-based number of the attempt that just ended. */
  readonly attempt: number;
  readonly result: AttemptResult;
  /** Whether any byte of the response has been sent to the client. */
  readonly responseStarted: boolean;
  /**
   * Whether the request body can be sent again (no body, or fully buffered). A body that was
   * never sent (connect error) can be sent once more whatever this says.
   */
  readonly bodyReplayable: boolean;
  /** Whether the upstream already has `limits.maxRetries` retries in flight. */
  readonly retriesAtLimit?: boolean;
}

/**
 * `'retry'`, or why not: `'exhausted'` (no attempts left), `'method'` (not a retryable method),
 * `'condition'` (not a listed result), `'response-started'`, `'body'` (the body was streamed and
 * cannot be replayed), `'max-retries'` (the upstream's concurrent retries are at
 * `limits.maxRetries`), `'budget'` (the retry budget is spent).
 */
export type RetryVerdict =
  | 'retry'
  | 'exhausted'
  | 'method'
  | 'condition'
  | 'response-started'
  | 'body'
  | 'max-retries'
  | 'budget';

/**
 * One per upstream: it holds the upstream's retry budget, shared by all its requests.
 *
 * Checks run cheapest first and the budget last, because asking the budget spends it: a retry
 * refused for another reason must not use up budget.
 *
 * @example
 * ```ts
 * const retries = new ProxyRetryPolicy({
 *   attempts: 3, on: ['connect-error', 'reset', 502, 503, 504],
 *   methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'], perTryTimeout: 2_000,
 *   backoff: { initial: 25, max: 250 }, budget: { ratio: 0.2, minPerSecond: 10 },
 *   replayBodyUpTo: 65_536,
 * });
 * retries.recordRequest();
 * // after attempt n failed:
 * if (retries.shouldRetry({ method, attempt: n, result, responseStarted, bodyReplayable })) {
 *   await sleep(clock, retries.delay(n));
 * }
 * ```
 */
export class ProxyRetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  /** Each attempt's own timeout in ms, if configured. */
  readonly perTryTimeout: number | undefined;
  /** Bodies up to this many bytes are worth buffering for a replay. */
  readonly replayBodyUpTo: number;
  readonly #methods: ReadonlySet<string>;
  readonly #errors: ReadonlySet<string>;
  readonly #statuses: ReadonlySet<number>;
  readonly #backoff: Backoff;
  readonly #budget: RetryBudget | undefined;

  constructor(options: RetryPolicyOptions) {
    this.attempts = options.attempts;
    this.perTryTimeout = options.perTryTimeout;
    this.replayBodyUpTo = options.replayBodyUpTo;
    this.#methods = new Set(options.methods);
    const errors = new Set<string>();
    const statuses = new Set<number>();
    for (const entry of options.on) {
      if (typeof entry === 'number') statuses.add(entry);
      else errors.add(entry);
    }
    this.#errors = errors;
    this.#statuses = statuses;
    this.#backoff = fullJitter({
      initial: options.backoff.initial,
      max: options.backoff.max,
      ...(options.random ? { random: options.random } : {}),
    });
    this.#budget =
      options.budget === undefined || options.budget === false
        ? undefined
        : new RetryBudget({
            ratio: options.budget.ratio,
            minPerSecond: options.budget.minPerSecond,
            ...(options.budget.window !== undefined ? { window: options.budget.window } : {}),
            clock: options.clock ?? systemClock,
          });
  }

  /**
   * Whether requests with this method may ever be retried, so the forwarder knows whether to
   * buffer the body up to {@link replayBodyUpTo} before sending.
   */
  retriesMethod(method: string): boolean {
    return this.attempts > 1 && this.#methods.has(method);
  }

  /** Counts a client request toward the budget; call once per request, before its first try. */
  recordRequest(): void {
    this.#budget?.recordRequest();
  }

  /** Whether a result is one of the listed retry conditions. */
  retriesResult(result: AttemptResult): boolean {
    return result.kind === 'response'
      ? this.#statuses.has(result.status)
      : this.#errors.has(result.kind);
  }

  /**
   * Decides about a retry and says why not. A `'retry'` verdict has spent one unit of budget.
   *
   * @example
   * ```ts
   * const verdict = retries.decide(question);
   * if (verdict !== 'retry') metrics.retriesDenied.inc({ reason: verdict });
   * ```
   */
  decide(question: RetryQuestion): RetryVerdict {
    const verdict = this.#rules(question);
    if (verdict !== 'retry') return verdict;
    if (this.#budget !== undefined && !this.#budget.tryAcquireRetry()) return 'budget';
    return 'retry';
  }

  /**
   * Whether {@link decide} could say `'retry'` to this question, its budget aside and without
   * spending any: e.g. whether a retry is worth waiting for while a body is still arriving
   * (asked with `bodyReplayable: true`, as it would be once the body is whole).
   *
   * @example
   * ```ts
   * if (retries.mayRetry({ ...question, bodyReplayable: true })) tee.whenSettled(decideThen);
   * ```
   */
  mayRetry(question: RetryQuestion): boolean {
    return this.#rules(question) === 'retry';
  }

  #rules(question: RetryQuestion): RetryVerdict {
    if (question.attempt >= this.attempts) return 'exhausted';
    // A connect error means the request provably never reached the target: nothing was written,
    // body included (undici writes only on a connected socket and leaves the body stream unread).
    // Sending it elsewhere cannot repeat a side effect, so the method and body rules, which guard
    // against exactly that, do not apply (nginx's `proxy_next_upstream error` does the same).
    const neverReached = question.result.kind === 'connect-error';
    if (!neverReached && !this.#methods.has(question.method)) return 'method';
    if (!this.retriesResult(question.result)) return 'condition';
    if (question.responseStarted) return 'response-started';
    if (!neverReached && !question.bodyReplayable) return 'body';
    if (question.retriesAtLimit === true) return 'max-retries';
    return 'retry';
  }

  /** True when {@link decide} says `'retry'` (and one unit of budget is spent). */
  shouldRetry(question: RetryQuestion): boolean {
    return this.decide(question) === 'retry';
  }

  /**
   * How long to wait before the try after attempt `attempt` (1-based): a random delay up to
   * `initial × 2^(attempt-1)`, capped at `max` (AWS's full jitter, which Envoy uses too).
   */
  delay(attempt: number): number {
    return this.#backoff.delay(Math.max(0, attempt - 1), 0);
  }
}
