/**
 * A `fetch` that goes through a circuit breaker per origin. One failing host opens its own
 * breaker and no other's.
 *
 * Each call: build the request (an invalid one throws at once and counts for nothing), pick the
 * origin's policy, then run attempts through it. By default the policy is the origin's breaker
 * with a per-attempt timeout inside it, so a timed-out attempt counts as a failure while the
 * caller's own abort counts for nothing. Retries wrap the policy, so every attempt is counted
 * and an opened breaker stops the retries.
 */
import {
  BreakerRegistry,
  type CircuitBreakerOptions,
  type Clock,
  type Composable,
  InvalidOptionError,
  pipeline,
  systemClock,
  timeout,
} from 'breakwater';
import { checkKeys } from './check-keys.ts';
import { type FailureStatuses, failureStatusPredicate } from './classify.ts';
import { type AttemptResult, BodyRead, HttpRetry, type HttpRetryOptions } from './http-retry.ts';
import { idempotentMethods, isReplayableBody } from './replay.ts';
import { FailureStatusError } from './status-error.ts';

/**
 * Options of {@link protectedFetch}.
 *
 * @example
 * ```ts
 * const options: ProtectedFetchOptions = {
 *   breaker: { policy: consecutiveFailures(5), openDuration: 10_000 },
 *   timeout: 2_000,
 *   retryMethods: [...idempotentMethods, 'POST'],
 * };
 * const http = protectedFetch(options);
 * ```
 */
export interface ProtectedFetchOptions {
  /** The `fetch` to protect. Default: the runtime's global `fetch`, looked up on each call. */
  readonly fetch?: typeof fetch;
  /**
   * Breaker settings for every origin's breaker (per-origin `overrides` go through your own
   * {@link ProtectedFetchOptions.breakers}). Not with `breakers` or `policyFor`.
   */
  readonly breaker?: Omit<CircuitBreakerOptions, 'name'>;
  /**
   * Your own registry of breakers, keyed by origin (`https://api.example.com`). Default: one
   * made here, bounded like {@link defaultOriginBounds}: at most 1 000 origins (the least
   * recently used is evicted), and an origin unused for 15 minutes is forgotten.
   */
  readonly breakers?: BreakerRegistry;
  /** Time limit of each attempt in ms; counts as a failure. Default: none. Not with `policyFor`. */
  readonly timeout?: number;
  /**
   * The policy each attempt of a request to `origin` runs through, instead of the origin's
   * breaker and timeout. Called on every request: cache what you return. It should not retry
   * (protectedFetch does), and sees a failure status as a {@link FailureStatusError}.
   */
  readonly policyFor?: (origin: string) => Composable;
  /** Retries; `false` for none. Default: 3 attempts, see {@link HttpRetryOptions}. */
  readonly retry?: HttpRetryOptions | false;
  /**
   * Methods that may be sent more than once. Default: the idempotent ones — GET, HEAD, OPTIONS,
   * PUT, DELETE, TRACE. A POST or PATCH is sent once unless listed here.
   */
  readonly retryMethods?: readonly string[];
  /** Statuses counted as failures by the breaker. Default: every 5xx. */
  readonly failureStatuses?: FailureStatuses;
  /**
   * Drives the breakers made here, the timeout and the waits between retries.
   * Default: `breaker.clock`, else the system clock.
   */
  readonly clock?: Clock;
}

/**
 * Reads a response's body inside the attempt, so that a broken body counts as a failure.
 *
 * @example
 * ```ts
 * const asJson: BodyReader<unknown> = (response) => response.json();
 * const data = await http.read('https://api.example.com/items', asJson);
 * ```
 */
export type BodyReader<T> = (response: Response) => Promise<T>;

/**
 * A fetch-compatible function, plus {@link ProtectedFetch.read} and its breakers.
 *
 * @example
 * ```ts
 * const http: ProtectedFetch = protectedFetch();
 * const response = await http('https://api.example.com/health');
 * console.log(http.breakers?.list());
 * ```
 */
export interface ProtectedFetch {
  (input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Fetches and reads the body in the same attempt: a body that breaks off (reset, truncated,
   * invalid JSON) is a failure of that attempt, counted by the breaker and retried like a
   * connection error. With the plain call the breaker has already recorded a success by the time
   * the caller reads the body, so a broken body there is the caller's to handle.
   *
   * A response whose status counts as a failure is handed to `readBody` once retries are over,
   * outside the breaker (it has been counted already).
   */
  read<T>(input: RequestInfo | URL, readBody: BodyReader<T>, init?: RequestInit): Promise<T>;
  /** The registry holding one breaker per origin; undefined with `policyFor`. */
  readonly breakers: BreakerRegistry | undefined;
}

/**
 * Creates a `fetch` with a circuit breaker per origin, optional per-attempt timeouts, and retries
 * of idempotent requests that honour `Retry-After`.
 *
 * A response is returned unchanged, a 5xx included: the breaker counts the 5xx as a failure
 * (result-based, as resilience4j does), but the caller still gets the `Response` once retries are
 * over — a 500 is an answer, not an exception. What does throw: the request could not be built
 * (`TypeError`, not counted), the breaker is open (`CircuitOpenError`, nothing sent), an attempt
 * timed out (`TimeoutError`), the connection failed (fetch's `TypeError`), or the caller aborted
 * (the signal's reason, not counted).
 *
 * @example
 * ```ts
 * const http = protectedFetch({
 *   breaker: { policy: consecutiveFailures(5), openDuration: 10_000 },
 *   timeout: 2_000,
 *   retry: { maxAttempts: 3, backoff: 200 },
 * });
 * const response = await http('https://api.example.com/users/1');
 * const user = await http.read('https://api.example.com/users/1', (r) => r.json());
 * ```
 */
export function protectedFetch(options: ProtectedFetchOptions = {}): ProtectedFetch {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  checkKeys('', options, optionKeys);
  const fetchImpl = options.fetch;
  if (fetchImpl !== undefined && typeof fetchImpl !== 'function') {
    throw new InvalidOptionError('fetch', 'a function', fetchImpl);
  }
  const clock = options.clock ?? options.breaker?.clock ?? systemClock;
  const isFailureStatus = failureStatusPredicate(options.failureStatuses);
  const retryMethods = methodSet(options.retryMethods);
  const retry = options.retry === false ? undefined : new HttpRetry(options.retry ?? {}, clock);
  const { policyFor, breakers } = policySource(options, clock);

  const run = async <T>(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    readBody: BodyReader<T> | undefined,
  ): Promise<T | Response> => {
    // Built before any policy runs: a request that cannot be built was never sent, so it counts
    // for nothing and is thrown as is.
    const first = new Request(input, init);
    const signal = first.signal;
    const origin = new URL(first.url).origin;
    const policy = policyFor(origin);
    if (typeof policy?.execute !== 'function') {
      throw new InvalidOptionError('policyFor', `a policy for "${origin}"`, policy);
    }
    const replayable =
      isReplayableBody(init?.body) && !(input instanceof Request && input.body !== null);
    const canRetry = retry !== undefined && replayable && retryMethods.has(first.method);
    const send = (attempt: number, attemptSignal: AbortSignal) =>
      // Only the first attempt uses the checked request; a retry rebuilds from the replayable
      // init, since a request's body stream can be read once.
      attempt === 0
        ? (fetchImpl ?? fetch)(first, { signal: attemptSignal })
        : (fetchImpl ?? fetch)(input, { ...init, signal: attemptSignal });

    const attempt = (n: number, last: boolean): Promise<AttemptResult<T>> =>
      policy.execute(
        async ({ signal: attemptSignal }): Promise<AttemptResult<T>> => {
          const response = await send(n, attemptSignal);
          if (isFailureStatus(response.status)) throw failureStatus(response);
          // A 429 that will be retried is handed back unread, for the retry loop to discard.
          if (readBody === undefined || (!last && retry?.retriesStatus(response.status))) {
            return response;
          }
          return new BodyRead(await readBody(response));
        },
        { signal },
      ) as Promise<AttemptResult<T>>;

    let result: AttemptResult<T>;
    try {
      result = canRetry ? await retry.run(attempt, signal) : await attempt(0, true);
    } catch (error) {
      if (!(error instanceof FailureStatusError)) throw error;
      result = error.response;
    }
    if (result instanceof BodyRead) return result.value;
    return readBody === undefined ? result : readBody(result);
  };

  const protectedCall = (input: RequestInfo | URL, init?: RequestInit) =>
    run(input, init, undefined) as Promise<Response>;
  return Object.assign(protectedCall, {
    read: <T>(input: RequestInfo | URL, readBody: BodyReader<T>, init?: RequestInit) => {
      if (typeof readBody !== 'function') {
        return Promise.reject(new InvalidOptionError('readBody', 'a function', readBody));
      }
      return run(input, init, readBody) as Promise<T>;
    },
    breakers,
  });
}

const optionKeys = new Set([
  'fetch',
  'breaker',
  'breakers',
  'timeout',
  'policyFor',
  'retry',
  'retryMethods',
  'failureStatuses',
  'clock',
]);

function methodSet(methods: readonly string[] | undefined): Set<string> {
  if (methods === undefined) return new Set(idempotentMethods);
  if (!Array.isArray(methods)) {
    throw new InvalidOptionError('retryMethods', 'an array of HTTP methods', methods);
  }
  return new Set(
    methods.map((method, i) => {
      if (typeof method !== 'string' || !/^[A-Za-z]+$/.test(method)) {
        throw new InvalidOptionError(`retryMethods[${i}]`, 'an HTTP method name', method);
      }
      return method.toUpperCase();
    }),
  );
}

/** Where each origin's per-attempt policy comes from; rejects options that would be ignored. */
function policySource(
  options: ProtectedFetchOptions,
  clock: Clock,
): { policyFor: (origin: string) => Composable; breakers: BreakerRegistry | undefined } {
  const { policyFor, breakers, breaker } = options;
  if (policyFor !== undefined) {
    if (typeof policyFor !== 'function') {
      throw new InvalidOptionError('policyFor', 'a function (origin) => policy', policyFor);
    }
    for (const name of ['breaker', 'breakers', 'timeout'] as const) {
      if (options[name] !== undefined) {
        throw new InvalidOptionError(name, `nothing when policyFor is given`, options[name]);
      }
    }
    return { policyFor, breakers: undefined };
  }
  if (breakers !== undefined && breaker !== undefined) {
    throw new InvalidOptionError('breaker', 'nothing when breakers is given', breaker);
  }
  if (breakers !== undefined && !(breakers instanceof BreakerRegistry)) {
    throw new InvalidOptionError('breakers', 'a BreakerRegistry', breakers);
  }
  const registry =
    breakers ?? new BreakerRegistry({ defaults: breaker ?? {}, clock, ...defaultOriginBounds });
  if (options.timeout === undefined)
    return { policyFor: (origin) => registry.get(origin), breakers: registry };
  const ms = options.timeout;
  if (typeof ms !== 'number' || !(ms > 0 && ms < 2 ** 31)) {
    throw new InvalidOptionError('timeout', 'a number of ms > 0', ms);
  }
  const perAttempt = timeout(ms, { clock });
  // One pipeline per origin, kept: the registry hands out the same breaker for an origin.
  const pipelines = new Map<string, Composable>();
  // Bounded with the registry: an evicted origin's pipeline holds its old breaker.
  registry.on('evicted', ({ name }) => pipelines.delete(name));
  return {
    policyFor: (origin) => {
      let policy = pipelines.get(origin);
      if (policy === undefined) {
        policy = pipeline(registry.get(origin), perAttempt);
        pipelines.set(origin, policy);
      }
      return policy;
    },
    breakers: registry,
  };
}

/**
 * Bounds of the per-origin registry that `protectedFetch` and `breakerInterceptor` make when not
 * given one: origins come from URLs, so without a bound a crawler or a multi-tenant client would
 * keep a breaker for every host it ever saw.
 *
 * @example
 * ```ts
 * const breakers = new BreakerRegistry({ defaults: {}, ...defaultOriginBounds, maxSize: 10_000 });
 * const http = protectedFetch({ breakers });
 * ```
 */
export const defaultOriginBounds = Object.freeze({ maxSize: 1_000, idleTimeout: 15 * 60_000 });

/**
 * Without a stack: during an outage every response is a 5xx, and a stack pointing into this file
 * says nothing the status doesn't.
 */
function failureStatus(response: Response): FailureStatusError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new FailureStatusError(response);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
