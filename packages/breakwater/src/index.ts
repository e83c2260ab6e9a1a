/**
 * Breakwater: keep a failing dependency from taking its callers down.
 *
 * @module breakwater
 */

export {
  type AdaptiveConcurrencyEvents,
  type AdaptiveConcurrencyOptions,
  AdaptiveConcurrencyPolicy,
  type AimdOptions,
  adaptiveConcurrency,
  type ConcurrencyPermit,
  type GradientOptions,
} from './adaptive-concurrency.ts';
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
export type { BreakerSnapshot, BreakerTotals } from './breaker-snapshot.ts';
export type { BreakerState } from './breaker-states.ts';
// Composable policies: retry, retry budget, timeout, bulkhead, fallback, pipeline, registry.
export {
  type BulkheadEvents,
  type BulkheadOptions,
  BulkheadPolicy,
  bulkhead,
} from './bulkhead.ts';
export {
  type BreakerEvents,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type HalfOpenOptions,
  type IgnoredReason,
  type Permit,
} from './circuit-breaker.ts';
export { type Clock, ManualClock, sleep, systemClock, type TimerHandle } from './clock.ts';
export {
  BreakwaterError,
  BulkheadFullError,
  CircuitOpenError,
  ConcurrencyLimitError,
  InvalidOptionError,
  TimeoutError,
} from './errors.ts';
export { Emitter, type Unsubscribe } from './events.ts';
export {
  type FailurePolicy,
  isFailurePolicy,
  type PolicyInputs,
  type PolicyStats,
  type TripDescription,
} from './failure-policy.ts';
export {
  type FallbackEvents,
  type FallbackOptions,
  FallbackPolicy,
  type FallbackValue,
  fallback,
} from './fallback.ts';
export { ignore, MarkedOutcome, markAsSuccess, type Outcome, unwrapOutcome } from './outcome.ts';
export { type Composable, Pipeline, pipeline, type Substitute } from './pipeline.ts';
export { consecutiveFailures } from './policies/consecutive.ts';
export { either } from './policies/either.ts';
export { type FailureRateOptions, failureRate } from './policies/failure-rate.ts';
export { type SlowCallRateOptions, slowCallRate } from './policies/slow-call-rate.ts';
export { type SuccessRateEmaOptions, successRateEma } from './policies/success-rate-ema.ts';
export {
  type CallContext,
  type ExecuteOptions,
  neverAborted,
  type Policy,
  type Work,
} from './policy.ts';
export {
  type BreakerListing,
  BreakerRegistry,
  type BreakerRegistryEvents,
  type BreakerRegistryOptions,
} from './registry.ts';
export { type RetryEvents, type RetryOptions, RetryPolicy, retry } from './retry.ts';
export { RetryBudget, type RetryBudgetOptions } from './retry-budget.ts';
export {
  isInstanceId,
  isNewer,
  type LeaseAnswer,
  parseSyncMessage,
  type SyncCounts,
  type SyncLink,
  type SyncMessage,
  type SyncMode,
  type SyncPeer,
  type SyncSnapshot,
  type SyncStatus,
  type SyncTransition,
  type SyncTransport,
} from './sync.ts';
export { type SyncEvents, SyncPeers } from './sync-peers.ts';
export { type TimeoutEvents, type TimeoutOptions, TimeoutPolicy, timeout } from './timeout.ts';
export type { RecentFailure, TripReason } from './trip-reason.ts';
export {
  CountWindow,
  type OutcomeWindow,
  TimeWindow,
  type WindowOptions,
} from './window.ts';
