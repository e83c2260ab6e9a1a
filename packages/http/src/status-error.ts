/**
 * A response whose status counts as a failure travels through the per-attempt policy as an
 * error, so that any breaker — ours or one from `policyFor` — counts it without being told about
 * HTTP. `protectedFetch` unwraps it: the caller receives the `Response`, never this error.
 */
import { BreakwaterError } from 'breakwater';

/**
 * A response with a failure status (by default any 5xx), as seen by the policies inside
 * `protectedFetch` — a breaker's `failure` event, a `policyFor` policy's fallback.
 *
 * @example
 * ```ts
 * breakers.on('created', ({ breaker }) =>
 *   breaker.on('failure', ({ error }) => {
 *     if (error instanceof FailureStatusError) metrics.upstream5xx.inc({ status: error.status });
 *   }),
 * );
 * ```
 */
export class FailureStatusError extends BreakwaterError {
  /** The `code` of every FailureStatusError. */
  static readonly code = 'ERR_HTTP_FAILURE_STATUS';

  /** The response, body unread. */
  readonly response: Response;
  /** Its status, e.g. 503. */
  readonly status: number;

  constructor(response: Response) {
    super(FailureStatusError.code, `Response status ${response.status} counts as a failure`);
    this.response = response;
    this.status = response.status;
  }
}
