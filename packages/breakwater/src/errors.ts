/**
 * Every error Breakwater raises is a {@link BreakwaterError} with a stable `code`; callers branch
 * on `code`, never on message text. Each error also carries a brand registered with
 * `Symbol.for`, so `CircuitOpenError.is(error)` recognises an error thrown by another copy of the
 * package (two versions installed side by side), where `instanceof` cannot.
 */

/** The brand's key: shared by every copy of the package loaded in one realm, or across realms. */
const brand = Symbol.for('breakwater.error.code');

/**
 * Base class of Breakwater's own errors.
 *
 * @example
 * ```ts
 * try {
 *   await policy.execute(work);
 * } catch (error) {
 *   if (error instanceof BreakwaterError && error.code === 'ERR_CIRCUIT_OPEN') return cached;
 *   throw error;
 * }
 * ```
 */
export class BreakwaterError extends Error {
  /** A stable, machine-readable code such as `'ERR_CIRCUIT_OPEN'`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    // Not enumerable: logs and `util.inspect` show the code, not the brand.
    Object.defineProperty(this, brand, { value: code });
  }

  /**
   * Whether `value` is an error of this class, from this copy of Breakwater or any other:
   * `instanceof`, or else the brand carrying this class's `code`. On `BreakwaterError` itself,
   * any Breakwater error. The type guard makes the class's fields available.
   *
   * @example
   * ```ts
   * try {
   *   await breaker.execute(work);
   * } catch (error) {
   *   if (CircuitOpenError.is(error)) return retryLater(error.retryAfter);
   *   if (BreakwaterError.is(error)) log.warn(error.code);
   *   throw error;
   * }
   * ```
   */
  static is<T extends abstract new (...args: never[]) => BreakwaterError>(
    this: T,
    value: unknown,
  ): value is InstanceType<T> {
    // biome-ignore lint/complexity: `is` is inherited by every subclass, and `this` is the class it was called on.
    const cls = this;
    if (value instanceof cls) return true;
    if (typeof value !== 'object' || value === null) return false;
    const code = (value as { [brand]?: unknown })[brand];
    if (typeof code !== 'string') return false;
    if ((cls as unknown) === BreakwaterError) return true;
    // Only a class that declares its own code can be recognised by it; a subclass without one
    // is recognised by `instanceof` alone rather than mistaken for its parent.
    return Object.hasOwn(cls, 'code') && code === (cls as { code?: unknown }).code;
  }
}

/**
 * Builds an error without capturing a stack trace. Rejections on the hot path (an open breaker,
 * a full bulkhead) happen thousands of times a second during an outage; a stack costs
 * microseconds and says nothing useful, since the cause is the policy, not the call site.
 *
 * @example
 * ```ts
 * const error = withoutStack(() => new CircuitOpenError(5_000, 'payments')); // error.stack holds no frames
 * ```
 */
export function withoutStack<E extends Error>(build: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/**
 * A call was rejected because the circuit is open (or forced open, or its half-open trial slots
 * are taken). The work was never started.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.execute(work);
 * } catch (error) {
 *   if (error instanceof CircuitOpenError && Number.isFinite(error.retryAfter)) {
 *     res.setHeader('retry-after', Math.ceil(error.retryAfter / 1000)); // not when forced open
 *   }
 * }
 * ```
 */
export class CircuitOpenError extends BreakwaterError {
  /** The `code` of every CircuitOpenError. */
  static readonly code = 'ERR_CIRCUIT_OPEN';

  /**
   * Whole milliseconds until the breaker will admit a trial call (rounded up, so waiting this
   * long is always enough); 0 when it would admit one now; `Infinity` when it was forced open
   * and admits nothing until reset (leave `Retry-After` out then).
   */
  readonly retryAfter: number;
  /** The breaker's name, when it has one. */
  readonly breaker: string | undefined;

  constructor(retryAfter: number, breaker?: string) {
    const wait = Math.max(0, Math.ceil(retryAfter));
    const until = wait === Number.POSITIVE_INFINITY ? ' until reset' : `; retry after ${wait} ms`;
    super(
      CircuitOpenError.code,
      breaker === undefined ? `Circuit is open${until}` : `Circuit "${breaker}" is open${until}`,
    );
    this.retryAfter = wait;
    this.breaker = breaker;
  }
}

/**
 * A call ran longer than its timeout. Its signal was aborted with this error as the reason.
 *
 * @example
 * ```ts
 * await timeout(1_000).execute(work).catch((error) => {
 *   if (error instanceof TimeoutError) metrics.timeouts.inc({ after: error.timeout });
 *   throw error;
 * });
 * ```
 */
export class TimeoutError extends BreakwaterError {
  /** The `code` of every TimeoutError. */
  static readonly code = 'ERR_TIMEOUT';

  /** The timeout that elapsed, in milliseconds. */
  readonly timeout: number;

  constructor(timeout: number) {
    super(TimeoutError.code, `Call timed out after ${timeout} ms`);
    this.timeout = timeout;
  }
}

/**
 * A bulkhead had no free slot and no room in its queue.
 *
 * @example
 * ```ts
 * await limit.execute(work).catch((error) => {
 *   if (error.code === 'ERR_BULKHEAD_FULL') return reply(429);
 *   throw error;
 * });
 * ```
 */
export class BulkheadFullError extends BreakwaterError {
  /** The `code` of every BulkheadFullError. */
  static readonly code = 'ERR_BULKHEAD_FULL';

  /** The bulkhead's concurrency limit. */
  readonly maxConcurrent: number;
  /** The bulkhead's queue limit. */
  readonly maxQueue: number;

  constructor(maxConcurrent: number, maxQueue: number) {
    super(
      BulkheadFullError.code,
      `Bulkhead is full (${maxConcurrent} running, ${maxQueue} queued)`,
    );
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
  }
}

/**
 * An adaptive concurrency limiter had as many calls in flight as its current limit allows. The
 * work was never started.
 *
 * @example
 * ```ts
 * await limiter.execute(work).catch((error) => {
 *   if (error.code === 'ERR_CONCURRENCY_LIMIT') return reply(503, { 'retry-after': '1' });
 *   throw error;
 * });
 * ```
 */
export class ConcurrencyLimitError extends BreakwaterError {
  /** The `code` of every ConcurrencyLimitError. */
  static readonly code = 'ERR_CONCURRENCY_LIMIT';

  /** The limit in force when the call was turned away. */
  readonly limit: number;
  /** The limiter's name, when it has one. */
  readonly limiter: string | undefined;

  constructor(limit: number, limiter?: string) {
    super(
      'ERR_CONCURRENCY_LIMIT',
      limiter === undefined
        ? `Concurrency limit of ${limit} reached`
        : `Concurrency limit of ${limit} reached for "${limiter}"`,
    );
    this.limit = limit;
    this.limiter = limiter;
  }
}

/**
 * An option given to a Breakwater constructor or factory is out of range or of the wrong type.
 *
 * @example
 * ```ts
 * try {
 *   new CircuitBreaker({ halfOpen: { maxCalls: 0 } });
 * } catch (error) {
 *   if (error instanceof InvalidOptionError) console.error(error.option); // 'halfOpen.maxCalls'
 * }
 * ```
 */
export class InvalidOptionError extends BreakwaterError {
  /** The `code` of every InvalidOptionError. */
  static readonly code = 'ERR_INVALID_OPTION';

  /** The option's name, e.g. `'halfOpen.maxCalls'`. */
  readonly option: string;

  constructor(option: string, expected: string, received: unknown) {
    super(
      InvalidOptionError.code,
      `Invalid option "${option}": expected ${expected}, received ${describe(received)}`,
    );
    this.option = option;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value;
}
