/**
 * The one shape every resilience policy has, so that policies compose: a breaker, a retry, a
 * timeout, a bulkhead and a fallback all `execute(fn, { signal })`.
 */

/**
 * What a protected function receives.
 *
 * @example
 * ```ts
 * await breaker.execute((context: CallContext) => fetch(url, { signal: context.signal }));
 * ```
 */
export interface CallContext {
  /**
   * Aborts when the caller aborts or a timeout elapses. Each call gets its own signal: one call's
   * timeout never aborts another's work.
   */
  readonly signal: AbortSignal;
  /**
   * Which attempt this is, from 1. A {@link RetryPolicy} numbers its attempts; without one every
   * call is attempt 1. Policies inside the retry pass the number on.
   */
  readonly attempt: number;
}

/**
 * Options for one execution.
 *
 * @example
 * ```ts
 * const options: ExecuteOptions = { signal: AbortSignal.timeout(5_000) };
 * await policy.execute(work, options);
 * ```
 */
export interface ExecuteOptions {
  /** The caller's own cancellation. A caller's abort is never counted as a failure. */
  readonly signal?: AbortSignal | undefined;
  /**
   * The attempt this execution belongs to, handed to the work as {@link CallContext.attempt}.
   * Set by an outer retry (a pipeline passes each layer's context on as the next one's options).
   * Default: 1.
   */
  readonly attempt?: number | undefined;
}

/**
 * Work handed to a policy. It may be synchronous or return a promise.
 *
 * @example
 * ```ts
 * const work: Work<Response> = ({ signal }) => fetch(url, { signal });
 * await breaker.execute(work);
 * ```
 */
export type Work<T> = (context: CallContext) => T | PromiseLike<T>;

/**
 * A resilience policy.
 *
 * @example
 * ```ts
 * const result = await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export interface Policy {
  /** Runs `fn` under this policy and settles with its result or error. */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T>;
}

/**
 * A signal that never aborts, shared so a call without a caller signal allocates nothing.
 *
 * @example
 * ```ts
 * await policy.execute(work, { signal: request.signal ?? neverAborted });
 * ```
 */
export const neverAborted: AbortSignal = new AbortController().signal;
