/**
 * Fallback: answers with a substitute (a cached value, a default, a degraded path) when the work
 * fails, including when an inner breaker, bulkhead or timeout rejected it.
 */
import { checkKnownOptions } from './check-option.ts';
import { InvalidOptionError } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import { callContext } from './internal.ts';
import { unwrapOutcome } from './outcome.ts';
import type { ExecuteOptions, Work } from './policy.ts';
import { judge } from './predicate.ts';

/**
 * Options of {@link fallback}.
 *
 * @example
 * ```ts
 * const options: FallbackOptions = {
 *   handles: (error) => error instanceof CircuitOpenError,
 *   handlesResult: (response) => (response as Response).status === 503,
 * };
 * fallback(cachedResponse, options);
 * ```
 */
export interface FallbackOptions {
  /** Which errors the fallback answers for. Default: every error except the caller's own abort. */
  readonly handles?: (error: unknown) => boolean;
  /**
   * Which results the fallback answers for (e.g. a 503 response); the fallback function then
   * receives the result in place of an error. Default: none.
   */
  readonly handlesResult?: (result: unknown) => boolean;
}

/**
 * Events of a {@link FallbackPolicy}.
 *
 * @example
 * ```ts
 * fallbackPolicy.on('fallback', ({ error }) => log.info({ error }, 'served from cache'));
 * ```
 */
export interface FallbackEvents {
  /** The fallback answered in place of the work. */
  fallback: {
    /** The error it answered for; undefined when it answered for a result. */
    readonly error: unknown;
    /** The result it answered for, when `handlesResult` matched. */
    readonly result: unknown;
  };
}

/**
 * The substitute: a value, or a function of the failure returning one.
 *
 * @example
 * ```ts
 * const fixed: FallbackValue<string[]> = [];
 * const fromCache: FallbackValue<string[]> = () => cache.get('tags') ?? [];
 * ```
 */
export type FallbackValue<R> = R | ((failure: unknown) => R | PromiseLike<R>);

/**
 * A policy that settles with a substitute when the work fails. The substitute is computed at most
 * once per call, and only for a handled failure; the caller's own abort is never handled (the
 * caller asked to stop, not for a substitute). An unhandled `ignore(e)`/`markAsSuccess(e)` error
 * is passed on wrapped, for a breaker outside; a {@link pipeline} unwraps it for its caller.
 *
 * @example
 * ```ts
 * const orEmpty = new FallbackPolicy<string[]>([]);
 * const tags = await orEmpty.execute(() => loadTags()); // [] when loadTags fails
 * ```
 */
export class FallbackPolicy<R> {
  readonly #substitute: FallbackValue<R>;
  readonly #handles: ((error: unknown) => boolean) | undefined;
  readonly #handlesResult: ((result: unknown) => boolean) | undefined;
  readonly #events = new Emitter<FallbackEvents>();

  constructor(substitute: FallbackValue<R>, options: FallbackOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions('', options, ['handles', 'handlesResult'], 'fallback');
    if (options.handles !== undefined && typeof options.handles !== 'function') {
      throw new InvalidOptionError('handles', 'a function', options.handles);
    }
    if (options.handlesResult !== undefined && typeof options.handlesResult !== 'function') {
      throw new InvalidOptionError('handlesResult', 'a function', options.handlesResult);
    }
    this.#substitute = substitute;
    this.#handles = options.handles;
    this.#handlesResult = options.handlesResult;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof FallbackEvents>(
    name: K,
    listener: (event: FallbackEvents[K]) => void,
  ): Unsubscribe {
    return this.#events.on(name, listener);
  }

  /**
   * Runs `fn`; on a handled failure settles as the substitute does instead. If the substitute
   * function throws, the call rejects with that error.
   */
  async execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T | R> {
    const signal = options?.signal;
    let result: T;
    try {
      result = await fn(callContext(signal, options?.attempt));
    } catch (thrown) {
      if (signal?.aborted) throw thrown;
      // The substitute answers for the error itself, not an ignore()/markAsSuccess() wrapper.
      const error = unwrapOutcome(thrown);
      if (this.#handles !== undefined && !judge(this.#handles, error, 'handles')) throw thrown;
      if (this.#events.has('fallback')) this.#events.emit('fallback', { error, result: undefined });
      return this.#answer(error);
    }
    if (
      this.#handlesResult === undefined ||
      signal?.aborted ||
      !judge(this.#handlesResult, result, 'handlesResult')
    ) {
      return result;
    }
    if (this.#events.has('fallback')) this.#events.emit('fallback', { error: undefined, result });
    return this.#answer(result);
  }

  #answer(failure: unknown): R | PromiseLike<R> {
    const substitute = this.#substitute;
    return typeof substitute === 'function'
      ? (substitute as (failure: unknown) => R | PromiseLike<R>)(failure)
      : substitute;
  }
}

/**
 * Answers with `substitute` when the work fails. A function is called with the error (once per
 * failed call); anything else is returned as is.
 *
 * @example
 * ```ts
 * const policy = fallback((error) => cachedPrices, {
 *   handles: (error) => !(error instanceof TypeError),
 * });
 * const prices = await policy.execute(({ signal }) => fetchPrices(signal));
 * ```
 */
export function fallback<R>(
  substitute: (failure: unknown) => R | PromiseLike<R>,
  options?: FallbackOptions,
): FallbackPolicy<R>;
export function fallback<R>(substitute: R, options?: FallbackOptions): FallbackPolicy<R>;
export function fallback<R>(
  substitute: FallbackValue<R>,
  options?: FallbackOptions,
): FallbackPolicy<R> {
  return new FallbackPolicy(substitute, options);
}
