/**
 * The part every server adapter shares: one breaker per route, admitted with the breaker's
 * two-step API because a route handler is not one function returning a value — it writes a
 * response whenever it likes. The outcome is read off the response:
 *
 * | how the request ended                                  | outcome  |
 * | ------------------------------------------------------ | -------- |
 * | response finished with status >= 500                    | failure  |
 * | response finished with any other status (4xx included) | success  |
 * | the handler threw or rejected, answered >= 500 (node:http) | failure |
 * | no response head within `timeout` (answered 504)        | failure  |
 * | the client went away before the response finished      | ignored  |
 *
 * Express and Fastify route a thrown error to their own error handling first, so there the
 * status it answers with decides: a 500 is a failure, while an error the framework answers with a
 * 4xx (a validation error, a NotFound) is the client's fault and counts as a success.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BreakerRegistry,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  type Clock,
  InvalidOptionError,
  type Permit,
  systemClock,
  TimeoutError,
  type TimerHandle,
} from 'breakwater';
import { checkKeys } from './check-keys.ts';
import { retryAfterSeconds } from './retry-after.ts';

/**
 * Options shared by `protectHandler`, `expressBreaker` and `fastifyBreaker`.
 *
 * @example
 * ```ts
 * const options: RouteProtectionOptions = { breaker: { policy: consecutiveFailures(3) }, timeout: 5_000 };
 * app.get('/users/:id', expressBreaker(options), getUser);
 * ```
 */
export interface RouteProtectionOptions {
  /**
   * Settings of every route's breaker. Not with `breakers`.
   * Default: the core's (`consecutiveFailures(5)`, open 30 s).
   */
  readonly breaker?: Omit<CircuitBreakerOptions, 'name'>;
  /** Your own registry, keyed by route name (for per-route `overrides`, or to inspect them). */
  readonly breakers?: BreakerRegistry;
  /**
   * Milliseconds a handler has to start its response; past it the request is answered 504
   * `ERR_TIMEOUT` and counted as a failure. Default: none.
   */
  readonly timeout?: number;
  /** Drives `timeout` and the breakers made here. Default: `breaker.clock`, else the system clock. */
  readonly clock?: Clock;
}

/**
 * The JSON body of a 503 or 504 answered by the middleware.
 *
 * @example
 * ```ts
 * const body = (await response.json()) as ErrorBody;
 * if (body.error.code === 'ERR_CIRCUIT_OPEN') scheduleRetry(response.headers.get('retry-after'));
 * ```
 */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** Writes a small JSON answer; each framework has its own way. */
export type Respond = (status: number, headers: Record<string, string>, body: ErrorBody) => void;

/** Per-request state, reachable from the raw request for {@link routeSignal}. */
export class GuardedRequest {
  readonly #permit: Permit;
  readonly #res: ServerResponse;
  #controller: AbortController | undefined;
  #timer: TimerHandle | undefined;
  #clock: Clock | undefined;
  /** Why the request was stopped, once it was: a signal read afterwards is born aborted. */
  #stopped: { readonly reason: unknown } | undefined;

  constructor(permit: Permit, res: ServerResponse) {
    this.#permit = permit;
    this.#res = res;
  }

  /** Aborts when the request timed out or the client went away. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      // A handler that first reads its signal after the 504 must still be told to stop.
      if (this.#stopped !== undefined) this.#controller.abort(this.#stopped.reason);
    }
    return this.#controller.signal;
  }

  watch(clock: Clock, timeout: number | undefined, onTimeout: (error: TimeoutError) => void): void {
    const res = this.#res;
    res.once('finish', () => this.#settle(res.statusCode >= 500 ? 'failure' : 'success'));
    // 'close' before 'finish' means the connection ended early: the client's doing, unless a
    // failure was recorded first (the handler threw, the timeout fired), which settle keeps.
    res.once('close', () => {
      if (res.writableFinished) return;
      this.#settle('ignored');
      this.#stop(new Error('The client closed the connection before the response finished'));
    });
    if (timeout === undefined) return;
    this.#clock = clock;
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      if (res.headersSent) return; // answering; 'finish' will tell how it went
      const error = new TimeoutError(timeout);
      this.#settle('failure', error);
      this.#stop(error);
      onTimeout(error);
    }, timeout);
  }

  /** The handler threw or rejected: a failure, whatever it may still write. */
  fail(error: unknown): void {
    this.#settle('failure', error);
  }

  #settle(outcome: 'success' | 'failure' | 'ignored', error?: unknown): void {
    if (this.#timer !== undefined) {
      this.#clock?.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (outcome === 'success') this.#permit.success();
    else if (outcome === 'failure') this.#permit.failure(error);
    else this.#permit.ignore();
  }

  #stop(reason: unknown): void {
    this.#stopped ??= { reason };
    this.#controller?.abort(reason);
  }
}

const optionKeys = new Set(['breaker', 'breakers', 'timeout', 'clock']);

const guarded = new WeakMap<IncomingMessage, GuardedRequest>();

/**
 * A signal that aborts when a protected request times out (and was answered 504) or its client
 * disconnects, so a handler can stop work nobody will receive. Never aborts for an unprotected
 * request.
 *
 * @example
 * ```ts
 * app.get('/report', breaker, async (req, res) => {
 *   res.json(await buildReport({ signal: routeSignal(req) }));
 * });
 * ```
 */
export function routeSignal(req: IncomingMessage): AbortSignal {
  return guarded.get(req)?.signal ?? neverAbortedSignal;
}

const neverAbortedSignal = new AbortController().signal;

/** One protection setup: its registry, timeout and clock, validated once. */
export class RouteGuard {
  readonly breakers: BreakerRegistry;
  readonly #timeout: number | undefined;
  readonly #clock: Clock;

  constructor(options: RouteProtectionOptions, where: string) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError(`${where} options`, 'an object', options);
    }
    checkKeys('', options, optionKeys);
    const { breaker, breakers, timeout } = options;
    if (breakers !== undefined && !(breakers instanceof BreakerRegistry)) {
      throw new InvalidOptionError('breakers', 'a BreakerRegistry', breakers);
    }
    if (breakers !== undefined && breaker !== undefined) {
      throw new InvalidOptionError('breaker', 'nothing when breakers is given', breaker);
    }
    if (
      timeout !== undefined &&
      !(typeof timeout === 'number' && timeout > 0 && timeout < 2 ** 31)
    ) {
      throw new InvalidOptionError('timeout', 'a number of ms > 0', timeout);
    }
    this.#clock = options.clock ?? breaker?.clock ?? systemClock;
    this.breakers =
      breakers ?? new BreakerRegistry({ defaults: breaker ?? {}, clock: this.#clock });
    this.#timeout = timeout;
  }

  /** The breaker of route `name`. */
  breaker(name: string): CircuitBreaker {
    return this.breakers.get(name);
  }

  /**
   * Admits a request to route `name`, or answers it 503 through `respond` and returns undefined.
   * An admitted request is watched until its response finishes; a timeout answers 504.
   */
  admit(
    name: string,
    req: IncomingMessage,
    res: ServerResponse,
    respond: Respond,
  ): GuardedRequest | undefined {
    const breaker = this.breakers.get(name);
    const permit = breaker.tryAcquire();
    if (permit === undefined) {
      const wait = breaker.retryAfter;
      respond(
        503,
        // A breaker forced open waits for an operator (Infinity): no time to promise.
        Number.isFinite(wait) ? { 'retry-after': String(retryAfterSeconds(wait)) } : {},
        errorBody(
          'ERR_CIRCUIT_OPEN',
          `Service unavailable: route "${name}" is failing; try again later`,
        ),
      );
      return undefined;
    }
    const request = new GuardedRequest(permit, res);
    guarded.set(req, request);
    request.watch(this.#clock, this.#timeout, (error) => {
      respond(
        504,
        {},
        errorBody(error.code, 'Gateway timeout: the handler did not answer in time'),
      );
    });
    return request;
  }
}

/** `{ "error": { "code", "message" } }` */
export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Answers on a plain `ServerResponse` (node:http, Express). */
export function respondRaw(res: ServerResponse): Respond {
  return (status, headers, body) => {
    if (res.headersSent || res.writableEnded) return;
    const json = JSON.stringify(body);
    res.writeHead(status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(json)),
    });
    res.end(json);
  };
}
