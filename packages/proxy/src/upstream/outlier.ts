/**
 * Outlier detection: passive health from real traffic. Each target gets one core
 * `CircuitBreaker`; an open breaker is an ejected target, its open duration the ejection time,
 * and its half-open trials the only requests a recovering target gets.
 */
import {
  CircuitBreaker,
  type Clock,
  consecutiveFailures,
  either,
  exponential,
  type FailurePolicy,
  failureRate,
  slowCallRate,
} from 'breakwater';
import type { FailOn } from '../config/choices.ts';
import type { OutlierDetectionConfig } from '../config/schema.ts';
import type { AttemptResult, AttemptVerdict } from './attempt-result.ts';

/** An upstream's `outlierDetection` block as the schema validated it (durations in ms). */
export type OutlierDetectionOptions = Exclude<OutlierDetectionConfig, false>;

/**
 * The trip rule, as configured: one or more of the three rules (durations in ms). With several,
 * the target is ejected when any of them trips (the core's `either`). The schema guarantees at
 * least one.
 */
export type OutlierPolicy = OutlierDetectionOptions['policy'];

// A rate window is cut into this many slices: fine enough that old outcomes leave smoothly.
const WINDOW_BUCKETS = 10;

/**
 * Builds the breaker for one target. The ejection time grows on each re-ejection: a target that
 * fails its half-open trial is ejected again for twice as long (capped at `ejection.max`); one
 * that passes closes and starts from `ejection.base` next time. One trial request at a time is
 * let through while half-open, and one success readmits the target.
 *
 * @example
 * ```ts
 * const breaker = createOutlierBreaker(
 *   { policy: { consecutiveFailures: 5 }, failOn: ['connect-error', 'timeout', '5xx'],
 *     ejection: { base: 30_000, max: 300_000 }, maxEjectedPercent: 50 },
 *   { clock, name: 'api http://10.0.0.5:8080' },
 * );
 * const permit = breaker.tryAcquire();
 * ```
 */
export function createOutlierBreaker(
  options: OutlierDetectionOptions,
  context: { readonly clock?: Clock | undefined; readonly name?: string | undefined } = {},
): CircuitBreaker {
  return new CircuitBreaker({
    policy: policyOf(options.policy),
    openDuration: exponential({ initial: options.ejection.base, max: options.ejection.max }),
    halfOpen: { maxCalls: 1, successesToClose: 1 },
    ...(context.clock ? { clock: context.clock } : {}),
    ...(context.name !== undefined ? { name: context.name } : {}),
  });
}

function policyOf(policy: OutlierPolicy): FailurePolicy {
  const rules: FailurePolicy[] = [];
  if (policy.consecutiveFailures !== undefined) {
    rules.push(consecutiveFailures(policy.consecutiveFailures));
  }
  if (policy.failureRate !== undefined) {
    const { threshold, minimumCalls, window } = policy.failureRate;
    rules.push(
      failureRate({
        threshold,
        minimumCalls,
        window: { duration: window, buckets: WINDOW_BUCKETS },
      }),
    );
  }
  if (policy.slowCallRate !== undefined) {
    const { threshold, slowerThan, minimumCalls, window } = policy.slowCallRate;
    rules.push(
      slowCallRate({
        threshold,
        slowerThan,
        minimumCalls,
        window: { duration: window, buckets: WINDOW_BUCKETS },
      }),
    );
  }
  return rules.length === 1 ? rules[0]! : either(...rules);
}

/**
 * Whether an attempt counts against its target: `'failure'` when `failOn` lists it, `'success'`
 * for any other response (a 4xx, or a 500 when only `gateway-errors` are listed: the target is
 * up and answering), `'ignored'` for an unlisted error and for a client abort or a request the
 * proxy refused, which say nothing about the target.
 *
 * @example
 * ```ts
 * classifyAttempt({ kind: 'response', status: 503 }, ['gateway-errors']); // 'failure'
 * classifyAttempt({ kind: 'aborted' }, ['connect-error']);                // 'ignored'
 * ```
 */
export function classifyAttempt(result: AttemptResult, failOn: readonly FailOn[]): AttemptVerdict {
  switch (result.kind) {
    case 'response': {
      const { status } = result;
      if (status >= 500 && status <= 599 && failOn.includes('5xx')) return 'failure';
      if (status >= 502 && status <= 504 && failOn.includes('gateway-errors')) return 'failure';
      return 'success';
    }
    case 'connect-error':
    case 'timeout':
    case 'reset':
      return failOn.includes(result.kind) ? 'failure' : 'ignored';
    default:
      return 'ignored';
  }
}
