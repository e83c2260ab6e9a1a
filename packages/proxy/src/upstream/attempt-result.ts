/**
 * How one attempt to a target ended, as the outlier detector and the retry policy see it. The
 * forwarder classifies; each consumer decides for itself what that means for it.
 */

/**
 * - `response`: the target answered with `status`.
 * - `connect-error`: no connection (refused, unreachable, connect timeout).
 * - `timeout`: connected, but the response took too long.
 * - `reset`: the connection broke mid-exchange.
 * - `aborted`: the client went away; says nothing about the target.
 * - `rejected`: the proxy refused the request itself; says nothing about the target.
 */
export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'connect-error' | 'timeout' | 'reset' | 'aborted' | 'rejected' };

/** The non-response outcomes as shared constants, so reporting one allocates nothing. */
export const attemptResults = {
  connectError: { kind: 'connect-error' },
  timeout: { kind: 'timeout' },
  reset: { kind: 'reset' },
  aborted: { kind: 'aborted' },
  rejected: { kind: 'rejected' },
} as const satisfies Record<string, AttemptResult>;
