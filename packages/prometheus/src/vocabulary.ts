/**
 * The one vocabulary of Breakwater's metrics: names, label values and duration buckets shared by
 * the Prometheus exporter, the OpenTelemetry exporter and the proxy's own `breakwater_*` metrics,
 * so one dashboard reads an application's breakers and the proxy's targets alike.
 */
import type { BreakerState } from 'breakwater';

/**
 * How a call through a breaker ended, as the `outcome` label says it. The values partition the
 * calls: a `timeout` (a `TimeoutError`, from `callTimeout`, a trial's `maxDuration` or a timeout
 * policy inside) is not counted again as a `failure`.
 *
 * @example
 * ```ts
 * const bad: CallOutcome[] = ['failure', 'timeout'];
 * ```
 */
export type CallOutcome = 'success' | 'failure' | 'ignored' | 'rejected' | 'timeout';

/** Every call outcome, in the order the tallies keep them. */
export const callOutcomes: readonly CallOutcome[] = [
  'success',
  'failure',
  'ignored',
  'rejected',
  'timeout',
];

/** Every breaker state, in the order the tallies keep them. */
export const breakerStates: readonly BreakerState[] = [
  'closed',
  'open',
  'half-open',
  'forced-open',
  'disabled',
];

/**
 * What the policies around a breaker report. Each kind is a counter of its own, labelled by
 * policy name, named like the proxy's `breakwater_retries_total`.
 */
export type PolicyEvent = 'retry' | 'give-up' | 'timeout' | 'bulkhead-rejection' | 'fallback';

/** Every policy event, in the order the tallies keep them. */
export const policyEvents: readonly PolicyEvent[] = [
  'retry',
  'give-up',
  'timeout',
  'bulkhead-rejection',
  'fallback',
];

/**
 * One metric in both exporters' spelling. The OpenTelemetry name is the one whose Prometheus
 * translation (dots to underscores, `_total` for counters, `_seconds` for unit `s`) gives back
 * the Prometheus name, so both exporters land on the same series.
 */
export interface MetricName {
  /** Without the prefix, e.g. `breaker_calls_total`. */
  readonly prometheus: string;
  /** e.g. `breakwater.breaker.calls`. */
  readonly otel: string;
  readonly help: string;
}

/**
 * The metric names, keyed by what they count.
 *
 * @example
 * ```ts
 * console.log(`breakwater_${metricNames.calls.prometheus}`); // breakwater_breaker_calls_total
 * ```
 */
export const metricNames = {
  state: {
    prometheus: 'breaker_state',
    otel: 'breakwater.breaker.state',
    help: 'Whether each breaker is in each state (1) or not (0), by breaker and state.',
  },
  calls: {
    prometheus: 'breaker_calls_total',
    otel: 'breakwater.breaker.calls',
    help: 'Calls through each breaker, by breaker and outcome (success, failure, ignored, rejected, timeout).',
  },
  transitions: {
    prometheus: 'breaker_transitions_total',
    otel: 'breakwater.breaker.transitions',
    help: 'State changes of each breaker, by breaker and the state it changed to.',
  },
  duration: {
    prometheus: 'breaker_call_duration_seconds',
    otel: 'breakwater.breaker.call_duration',
    help: 'Time from a call admitted to its outcome recorded, by breaker (rejected calls are not timed).',
  },
  retries: {
    prometheus: 'retries_total',
    otel: 'breakwater.retries',
    help: 'Attempts sent again after a failed attempt, by policy.',
  },
  retryGiveUps: {
    prometheus: 'retry_give_ups_total',
    otel: 'breakwater.retry_give_ups',
    help: 'Calls whose retries stopped on a retryable failure (attempts or budget spent), by policy.',
  },
  timeouts: {
    prometheus: 'timeouts_total',
    otel: 'breakwater.timeouts',
    help: 'Calls a timeout policy cut short, by policy.',
  },
  bulkheadRejections: {
    prometheus: 'bulkhead_rejections_total',
    otel: 'breakwater.bulkhead_rejections',
    help: 'Calls a bulkhead turned away (every slot busy, queue full), by policy.',
  },
  fallbacks: {
    prometheus: 'fallbacks_total',
    otel: 'breakwater.fallbacks',
    help: 'Calls a fallback answered in place of the work, by policy.',
  },
} as const satisfies Record<string, MetricName>;

/** The policy events' metric names, in {@link policyEvents} order. */
export const policyEventNames: readonly MetricName[] = [
  metricNames.retries,
  metricNames.retryGiveUps,
  metricNames.timeouts,
  metricNames.bulkheadRejections,
  metricNames.fallbacks,
];

/**
 * Upper bounds of the call-duration histogram, in seconds: the proxy's request-duration buckets.
 *
 * @example
 * ```ts
 * durationBuckets.at(-1); // 30
 * ```
 */
export const durationBuckets: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The default prefix of every Prometheus name. */
export const defaultPrefix = 'breakwater_';
