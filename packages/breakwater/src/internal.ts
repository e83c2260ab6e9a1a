/**
 * Constants and helpers several policies share, defined once so they cannot drift apart. Internal:
 * the package index does not export this module.
 */
import { type CallContext, neverAborted } from './policy.ts';

/**
 * The longest delay a timer can hold (a signed 32-bit millisecond count, about 24.8 days); Node
 * fires a longer one after 1 ms instead. Also the cap on durations that end up in a timer.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The context of every first attempt that has no caller signal and no timeout: nothing to
 * allocate.
 */
export const UNABORTABLE: CallContext = Object.freeze({ signal: neverAborted, attempt: 1 });

/**
 * The work's context for a call with `signal` (or none) on `attempt` (or the first): the shared
 * {@link UNABORTABLE} when there is nothing to carry.
 */
export function callContext(
  signal: AbortSignal | undefined,
  attempt: number | undefined,
): CallContext {
  if (signal === undefined && (attempt === undefined || attempt === 1)) return UNABORTABLE;
  return { signal: signal ?? neverAborted, attempt: attempt ?? 1 };
}

/** True for anything `await` would treat as a promise (objects and functions with a `then`). */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as PromiseLike<T>).then === 'function'
  );
}
