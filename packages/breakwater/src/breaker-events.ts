/**
 * What a circuit breaker tells its listeners. Payloads are plain objects, built only when the
 * event has a listener.
 */
import type { BreakerState } from './breaker-states.ts';
import type { TripReason } from './trip-reason.ts';

/**
 * Why an outcome was recorded as neither success nor failure.
 *
 * @example
 * ```ts
 * breaker.on('ignored', ({ reason }) => reason === 'stale' && metrics.staleOutcomes.inc());
 * ```
 */
export type IgnoredReason = 'caller-abort' | 'marked' | 'permit' | 'stale';

/**
 * Events of a breaker, by name, with their payloads. Payloads are built only for names that have
 * listeners.
 *
 * @example
 * ```ts
 * breaker.on('open', ({ attempt, openDuration }) => log.warn({ attempt, openDuration }, 'open'));
 * ```
 */
export interface BreakerEvents {
  /**
   * Tripped, re-opened or forced open; `attempt` is the backoff step, `openDuration` the chosen
   * wait in ms (`Infinity` when forced open: until reset), `reason` why (see {@link TripReason}).
   */
  open: {
    readonly attempt: number;
    readonly openDuration: number;
    readonly reason: TripReason;
  };
  'half-open': undefined;
  /** `reason`: `'1 half-open trial succeeded'`, `'3 half-open trials succeeded'` or `'reset'`. */
  close: { readonly reason: string };
  /** A call was turned away without running; `retryAfter` is `Infinity` when forced open. */
  rejected: { readonly state: BreakerState; readonly retryAfter: number };
  /** Durations are NaN for calls admitted before the first success/failure listener subscribed. */
  success: { readonly durationMs: number };
  /** `error` is undefined when `isResultFailure` judged `result` a failure. */
  failure: { readonly durationMs: number; readonly error: unknown; readonly result: unknown };
  /** The outcome did not count: a caller abort, an `ignore()`d error, or a stale generation. */
  ignored: { readonly reason: IgnoredReason; readonly error: unknown };
  /** A call exceeded `callTimeout` (a `failure` event follows). */
  timeout: { readonly timeout: number };
  /** Every transition, including forceOpen/disable/reset. */
  state: { readonly from: BreakerState; readonly to: BreakerState };
}
