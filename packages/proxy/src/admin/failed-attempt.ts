/**
 * Whether an attempt counts as an error on the dashboard: no response (connect error, timeout,
 * reset) or a 5xx. A client's own abort and the proxy's refusal to send are not the target's.
 */
import type { AttemptOutcome } from '../upstream/attempt-result.ts';

/**
 * @example
 * ```ts
 * traffic.record(durationMs, failedAttempt(outcome, status));
 * ```
 */
export function failedAttempt(outcome: AttemptOutcome, status: number): boolean {
  if (outcome === 'response') return status >= 500;
  return outcome === 'connect-error' || outcome === 'timeout' || outcome === 'reset';
}
