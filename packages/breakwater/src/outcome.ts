/**
 * "Was this call a failure?" is answered here, before any policy asks "should we trip?". Work can
 * overrule the breaker's predicate for one error by throwing it wrapped: {@link ignore} or
 * {@link markAsSuccess}. The breaker unwraps it, so the caller always receives the original.
 */

/**
 * How one call ended, as far as a breaker is concerned.
 *
 * @example
 * ```ts
 * const outcome: Outcome = response.ok ? 'success' : 'failure';
 * ```
 */
export type Outcome = 'success' | 'failure' | 'ignored';

/**
 * An error carrying the outcome its thrower wants recorded. Unwrapped before the caller sees it.
 * Build it with {@link ignore} or {@link markAsSuccess}.
 *
 * @example
 * ```ts
 * if (thrown instanceof MarkedOutcome) console.log(thrown.outcome, thrown.error);
 * ```
 */
export class MarkedOutcome {
  /** The original error, handed to the caller. */
  readonly error: unknown;
  /** The outcome the breaker records. */
  readonly outcome: Outcome;

  constructor(error: unknown, outcome: Outcome) {
    this.error = error;
    this.outcome = outcome;
  }
}

/**
 * Wraps an error so the breaker neither counts it as a failure nor as a success. The caller of
 * `execute` receives `error` itself.
 *
 * @example
 * ```ts
 * await breaker.execute(async () => {
 *   const response = await fetch(url);
 *   if (response.status === 404) throw ignore(new NotFoundError(url)); // not the upstream's fault
 *   return response;
 * });
 * ```
 */
export function ignore(error: unknown): MarkedOutcome {
  return new MarkedOutcome(error, 'ignored');
}

/**
 * Wraps an error so the breaker counts the call as a success (the dependency answered, the
 * answer was "no"). The caller of `execute` receives `error` itself.
 *
 * @example
 * ```ts
 * await breaker.execute(() => {
 *   if (!user) throw markAsSuccess(new Error('unknown user'));
 * });
 * ```
 */
export function markAsSuccess(error: unknown): MarkedOutcome {
  return new MarkedOutcome(error, 'success');
}

/**
 * The error as the caller should see it: without an {@link ignore}/{@link markAsSuccess} wrapper.
 * For policies other than the breaker that run the same work.
 *
 * @example
 * ```ts
 * catch (error) { throw unwrapOutcome(error); }
 * ```
 */
export function unwrapOutcome(error: unknown): unknown {
  return error instanceof MarkedOutcome ? error.error : error;
}
