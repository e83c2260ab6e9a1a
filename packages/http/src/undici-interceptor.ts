/**
 * A circuit breaker per origin as an undici interceptor: `new Agent().compose(breakerInterceptor())`
 * protects every request sent through that dispatcher — undici's `request`, `stream` and
 * `fetch`, or the global `fetch` given it as `dispatcher`. Outcomes are judged as
 * {@link classifyHttpOutcome} judges them: a failure status (5xx by default) or a connection
 * error is a failure, any other status a success, and the caller's own abort counts for nothing.
 *
 * The outcome is settled when the response head arrives, not when its body ends: a body may
 * stream for hours (server-sent events), and a half-open breaker's trial slot must not be held
 * that long. A request the breaker rejects is never dispatched; its handler receives a
 * `CircuitOpenError`.
 */
import {
  BreakerRegistry,
  type CircuitBreakerOptions,
  CircuitOpenError,
  InvalidOptionError,
  type Permit,
} from 'breakwater';
import type { Dispatcher } from 'undici';
import { checkKeys } from './check-keys.ts';
import { type FailureStatuses, failureStatusPredicate } from './classify.ts';
import { defaultOriginBounds } from './protected-fetch.ts';
import { FailureStatusError } from './status-error.ts';

/**
 * Options of {@link breakerInterceptor}.
 *
 * @example
 * ```ts
 * const options: BreakerInterceptorOptions = {
 *   breaker: { policy: consecutiveFailures(5), openDuration: 10_000 },
 *   failureStatuses: [500, 502, 503, 504],
 * };
 * ```
 */
export interface BreakerInterceptorOptions {
  /** Settings of every origin's breaker. Not with `breakers`. Default: the core's defaults. */
  readonly breaker?: Omit<CircuitBreakerOptions, 'name'>;
  /**
   * Your own registry, keyed by origin (`https://api.example.com`): for per-origin `overrides`
   * or other bounds. Not with `breaker`. Default: one made here, keeping at most 1 000 origins
   * (least recently used evicted) and forgetting an origin unused for 15 minutes.
   */
  readonly breakers?: BreakerRegistry;
  /** Statuses counted as failures. Default: every 5xx. */
  readonly failureStatuses?: FailureStatuses;
}

/**
 * An undici interceptor with one circuit breaker per origin, for `Agent.compose()` or any
 * dispatcher's `compose()`. Requests to an origin whose breaker is open fail at once with a
 * `CircuitOpenError` and are never sent.
 *
 * @example
 * ```ts
 * import { Agent, fetch } from 'undici';
 * import { breakerInterceptor } from '@breakwater/http/undici';
 *
 * const dispatcher = new Agent().compose(
 *   breakerInterceptor({ breaker: { policy: consecutiveFailures(5), openDuration: 10_000 } }),
 * );
 * const response = await fetch('https://api.example.com/users/1', { dispatcher });
 * ```
 */
export function breakerInterceptor(
  options: BreakerInterceptorOptions = {},
): Dispatcher.DispatcherComposeInterceptor & { readonly breakers: BreakerRegistry } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  checkKeys('', options, optionKeys);
  const { breaker, breakers } = options;
  if (breakers !== undefined && breaker !== undefined) {
    throw new InvalidOptionError('breaker', 'nothing when breakers is given', breaker);
  }
  if (breakers !== undefined && !(breakers instanceof BreakerRegistry)) {
    throw new InvalidOptionError('breakers', 'a BreakerRegistry', breakers);
  }
  const registry =
    breakers ?? new BreakerRegistry({ defaults: breaker ?? {}, ...defaultOriginBounds });
  const isFailureStatus = failureStatusPredicate(options.failureStatuses);

  const interceptor = (dispatch: Dispatcher.Dispatch): Dispatcher.Dispatch =>
    function breakerDispatch(opts, handler) {
      if (opts.origin === undefined) return dispatch(opts, handler);
      const breakerOfOrigin = registry.get(originOf(opts.origin));
      const permit = breakerOfOrigin.tryAcquire();
      if (permit === undefined) {
        const error = new CircuitOpenError(breakerOfOrigin.retryAfter, breakerOfOrigin.name);
        // Delivered like any other error before a response: nothing was dispatched.
        queueMicrotask(() => handler.onResponseError?.(closedController, error));
        return true;
      }
      return dispatch(opts, new BreakerHandler(handler, permit, isFailureStatus));
    };
  return Object.assign(interceptor, { breakers: registry });
}

const optionKeys = new Set(['breaker', 'breakers', 'failureStatuses']);

function originOf(origin: string | URL): string {
  return typeof origin === 'string' ? new URL(origin).origin : origin.origin;
}

/** The controller a rejected request's handler is given: there is nothing to abort or pause. */
const closedController: Dispatcher.DispatchController = {
  aborted: false,
  paused: false,
  reason: null,
  abort() {},
  pause() {},
  resume() {},
};

/**
 * Passes every callback through to the caller's handler and settles the permit once: on the
 * final response head, on an upgrade, or on an error before either.
 */
class BreakerHandler implements Dispatcher.DispatchHandler {
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #permit: Permit;
  readonly #isFailureStatus: (status: number) => boolean;
  #settled = false;
  // Set when the caller (or an interceptor above us) aborts: its own cancellation says nothing
  // about the origin's health.
  #abortedByCaller = false;

  constructor(
    handler: Dispatcher.DispatchHandler,
    permit: Permit,
    isFailureStatus: (status: number) => boolean,
  ) {
    this.#handler = handler;
    this.#permit = permit;
    this.#isFailureStatus = isFailureStatus;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    const abort = controller.abort.bind(controller);
    controller.abort = (reason: Error) => {
      this.#abortedByCaller = true;
      abort(reason);
    };
    this.#handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[2],
    socket: Parameters<NonNullable<Dispatcher.DispatchHandler['onRequestUpgrade']>>[3],
  ): void {
    this.#settle(() => this.#permit.success());
    this.#handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2],
    statusMessage?: string,
  ): void {
    // 1xx heads (103 Early Hints) come before the final response and say nothing yet.
    if (statusCode >= 200) {
      this.#settle(() =>
        this.#isFailureStatus(statusCode)
          ? this.#permit.failure(statusError(statusCode))
          : this.#permit.success(),
      );
    }
    this.#handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(
    controller: Dispatcher.DispatchController,
    chunk: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseData']>>[1],
  ): void {
    this.#handler.onResponseData?.(controller, chunk);
  }

  onResponseEnd(
    controller: Dispatcher.DispatchController,
    trailers: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>[1],
  ): void {
    this.#handler.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#settle(() =>
      this.#abortedByCaller ? this.#permit.ignore() : this.#permit.failure(error),
    );
    this.#handler.onResponseError?.(controller, error);
  }

  #settle(settle: () => void): void {
    if (this.#settled) return;
    this.#settled = true;
    settle();
  }
}

/** The error a failure status is counted with, for the breaker's `failure` listeners. */
function statusError(status: number): FailureStatusError | undefined {
  // `Response` only holds statuses 200–599; a custom failure status outside them is counted
  // without an error object. Headers and body stay with the caller's response.
  if (status < 200 || status > 599) return undefined;
  return new FailureStatusError(new Response(null, { status }));
}
