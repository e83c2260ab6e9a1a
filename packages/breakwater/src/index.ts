/**
 * Breakwater: keep a failing dependency from taking its callers down.
 *
 * @packageDocumentation
 */
export {
  type Backoff,
  constant,
  decorrelatedJitter,
  type ExponentialOptions,
  equalJitter,
  exponential,
  fullJitter,
  toBackoff,
} from './backoff.ts';
export { type Clock, ManualClock, sleep, systemClock, type TimerHandle } from './clock.ts';
export {
  BreakwaterError,
  BulkheadFullError,
  CircuitOpenError,
  InvalidOptionError,
  TimeoutError,
} from './errors.ts';
export { Emitter, type Unsubscribe } from './events.ts';
export {
  type CallContext,
  type ExecuteOptions,
  neverAborted,
  type Policy,
  type Work,
} from './policy.ts';
