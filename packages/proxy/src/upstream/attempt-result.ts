/**
 * The one vocabulary for how an attempt to a target ended. The request layer classifies
 * (`request/attempt-failure.ts` turns errors into an outcome); the outlier detector, the retry
 * policy, metrics and the access log each decide for themselves what the outcome means.
 */

/**
 * How one attempt to a target ended.
 * - `response`: the target answered (any status); the status says how well.
 * - `connect-error`: no connection (refused, unreachable, connect timeout).
 * - `timeout`: connected, but the response (headers or a body gap) took too long.
 * - `reset`: the connection broke mid-exchange.
 * - `aborted`: the client went away; says nothing about the target.
 * - `rejected`: the proxy refused the request itself (e.g. body too large); says nothing about
 *   the target.
 */
export type AttemptOutcome =
  | 'response'
  | 'connect-error'
  | 'timeout'
  | 'reset'
  | 'aborted'
  | 'rejected';

/** An {@link AttemptOutcome} with the status when the target answered. */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: Exclude<AttemptOutcome, 'response'> };

/** The non-response outcomes as shared constants, so reporting one allocates nothing. */
export const attemptResults = {
  connectError: { kind: 'connect-error' },
  timeout: { kind: 'timeout' },
  reset: { kind: 'reset' },
  aborted: { kind: 'aborted' },
  rejected: { kind: 'rejected' },
} as const satisfies Record<string, AttemptResult>;

/**
 * The {@link AttemptResult} of an outcome; `status` is read only for `response`.
 *
 * @example
 * resultOf('response', 503); // { kind: 'response', status: 503 }
 * resultOf('timeout', 0);    // attemptResults.timeout
 */
export function resultOf(outcome: AttemptOutcome, status: number): AttemptResult {
  switch (outcome) {
    case 'response':
      return { kind: 'response', status };
    case 'connect-error':
      return attemptResults.connectError;
    case 'timeout':
      return attemptResults.timeout;
    case 'reset':
      return attemptResults.reset;
    case 'aborted':
      return attemptResults.aborted;
    default:
      return attemptResults.rejected;
  }
}

/**
 * What an attempt means for its target's breaker, in the core's words: `success`, `failure`, or
 * `ignored` (says nothing about the target).
 */
export type AttemptVerdict = 'success' | 'failure' | 'ignored';
