/**
 * How an HTTP call ends, as far as a circuit breaker is concerned. The rules follow mercari's
 * go-circuitbreaker talk:
 *
 * | how the call ended                              | outcome   |
 * | ----------------------------------------------- | --------- |
 * | the request could not be built (bad URL, header) | ignored   |
 * | the caller cancelled (its own signal aborted)    | ignored   |
 * | connection error, reset, inner timeout           | failure   |
 * | response with a failure status (default: 5xx)    | failure   |
 * | any other response, 4xx and 429 included        | success   |
 * | the response body failed to arrive               | failure   |
 *
 * A 4xx means the dependency is alive and answered "no"; counting it would let one client's bad
 * requests trip a breaker that every client shares. 429 is a success by default for the same
 * reason — the server is up and pacing this client, which `Retry-After` handles — but a service
 * that sheds load with 429 can list it in {@link ClassifyOptions.failureStatuses}.
 */
import { InvalidOptionError } from 'breakwater';

/**
 * The outcome a breaker records; the same names as the core's `Outcome`.
 *
 * @example
 * ```ts
 * const outcome: HttpOutcome = classifyHttpOutcome({ status: 502 }); // 'failure'
 * ```
 */
export type HttpOutcome = 'success' | 'failure' | 'ignored';

/**
 * Where an HTTP call failed, when it ended with an error.
 *
 * @example
 * ```ts
 * classifyHttpOutcome({ error, stage: 'body' }); // 'failure': the body broke off
 * ```
 */
export type HttpStage =
  /** Building the request: the URL, method or headers were invalid. Nothing was sent. */
  | 'build'
  /** Sending it or waiting for the response head: connect errors, resets, timeouts. */
  | 'send'
  /** Reading the response body after the head arrived. */
  | 'body';

/**
 * What an HTTP call produced: a response status, or an error at some stage.
 *
 * @example
 * ```ts
 * const result: HttpCallResult = response ? { status: response.status } : { error, stage: 'send' };
 * permit[classifyHttpOutcome(result) === 'failure' ? 'failure' : 'success']();
 * ```
 */
export type HttpCallResult =
  | { readonly status: number }
  | { readonly error: unknown; readonly stage?: HttpStage | undefined };

/**
 * Which response statuses count as failures: a list, or a predicate.
 *
 * @example
 * ```ts
 * const listed: FailureStatuses = [429, 500, 502, 503, 504];
 * const ruled: FailureStatuses = (status) => status >= 500 && status !== 501;
 * ```
 */
export type FailureStatuses = readonly number[] | ((status: number) => boolean);

/**
 * Options of {@link classifyHttpOutcome}.
 *
 * @example
 * ```ts
 * const options: ClassifyOptions = { failureStatuses: [429, 503], signal: request.signal };
 * classifyHttpOutcome({ status: 429 }, options); // 'failure'
 * ```
 */
export interface ClassifyOptions {
  /**
   * Statuses that count as failures. Default: every 5xx (`status >= 500`); 4xx and 429 count as
   * successes.
   *
   * @example `[429, 500, 502, 503, 504]`, or `(status) => status >= 500 && status !== 501`
   */
  readonly failureStatuses?: FailureStatuses | undefined;
  /**
   * The caller's own signal. An error after it aborted is the caller's doing, not the
   * dependency's, and is ignored; an error while it is still live (an inner timeout) is a failure.
   */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The default failure rule: any 5xx is the server's failure.
 *
 * @example
 * ```ts
 * protectedFetch({ failureStatuses: (status) => isServerError(status) || status === 429 });
 * ```
 */
export const isServerError = (status: number): boolean => status >= 500;

/**
 * Turns the `failureStatuses` option into a predicate, validating it once.
 *
 * @example
 * ```ts
 * const isFailure = failureStatusPredicate([429, 503]);
 * isFailure(503); // true
 * ```
 */
export function failureStatusPredicate(
  option: FailureStatuses | undefined,
  name = 'failureStatuses',
): (status: number) => boolean {
  if (option === undefined) return isServerError;
  if (typeof option === 'function') return option;
  if (!Array.isArray(option)) {
    throw new InvalidOptionError(name, 'an array of statuses or a function', option);
  }
  option.forEach((status, i) => {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw new InvalidOptionError(`${name}[${i}]`, 'an HTTP status from 100 to 599', status);
    }
  });
  const statuses = new Set(option);
  return (status) => statuses.has(status);
}

/**
 * Classifies one HTTP call as `'success'`, `'failure'` or `'ignored'` by the rules in this
 * module's table.
 *
 * @example
 * ```ts
 * classifyHttpOutcome({ status: 503 }); // 'failure'
 * classifyHttpOutcome({ status: 404 }); // 'success'
 * classifyHttpOutcome({ status: 429 }, { failureStatuses: [429, 500, 502, 503, 504] }); // 'failure'
 * classifyHttpOutcome({ error: new TypeError('Invalid URL'), stage: 'build' }); // 'ignored'
 * classifyHttpOutcome({ error }, { signal: controller.signal }); // 'ignored' once it aborted
 * ```
 */
export function classifyHttpOutcome(
  result: HttpCallResult,
  options: ClassifyOptions = {},
): HttpOutcome {
  if (typeof result !== 'object' || result === null) {
    throw new InvalidOptionError('result', '{ status } or { error, stage }', result);
  }
  if ('status' in result) {
    if (typeof result.status !== 'number') {
      throw new InvalidOptionError('result.status', 'a number', result.status);
    }
    const isFailure = failureStatusPredicate(options.failureStatuses);
    return isFailure(result.status) ? 'failure' : 'success';
  }
  return classifyError(result.stage, options.signal);
}

/** The error half of {@link classifyHttpOutcome}, for callers that compiled their statuses. */
export function classifyError(
  stage: HttpStage | undefined,
  signal: AbortSignal | undefined,
): HttpOutcome {
  // Nothing reached the dependency, so nothing can be said about its health.
  if (stage === 'build') return 'ignored';
  // go-circuitbreaker's point about context cancellation: a caller must not be able to trip a
  // breaker shared with everyone else by cancelling its own requests.
  if (signal?.aborted) return 'ignored';
  return 'failure';
}
