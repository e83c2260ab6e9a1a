/**
 * Outlier detection: passive health from real traffic. Each target gets one core
 * `CircuitBreaker`; an open breaker is an ejected target, its open duration the ejection time,
 * and its half-open trials the only requests a recovering target gets.
 */
import {
  CircuitBreaker,
  type Clock,
  consecutiveFailures,
  exponential,
  type FailurePolicy,
  failureRate,
  InvalidOptionError,
  slowCallRate,
} from 'breakwater';
import type { AttemptResult } from './attempt-result.ts';

/** Which attempt results count against a target. */
export type FailOn = 'connect-error' | 'timeout' | 'reset' | '5xx' | 'gateway-errors';

/** Every {@link FailOn} value, for config schemas. */
export const failOnValues: readonly FailOn[] = [
  'connect-error',
  'timeout',
  'reset',
  '5xx',
  'gateway-errors',
];

/** The trip rule, as configured. Durations are in ms. */
export type OutlierPolicy =
  | { readonly consecutiveFailures: number }
  | {
      readonly failureRate: {
        readonly threshold: number;
        readonly minimumCalls: number;
        readonly window: number;
      };
    }
  | {
      readonly slowCallRate: {
        readonly threshold: number;
        readonly slowerThan: number;
        readonly minimumCalls: number;
        readonly window: number;
      };
    };

/** An upstream's `outlierDetection` block, durations already parsed to ms. */
export interface OutlierDetectionOptions {
  readonly policy: OutlierPolicy;
  readonly failOn: readonly FailOn[];
  /** First ejection lasts `base` ms; each failed trial doubles it, up to `max`. */
  readonly ejection: { readonly base: number; readonly max: number };
  /** Percent (0–100) of an upstream's targets that may be ejected at once. */
  readonly maxEjectedPercent: number;
}

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
  const keys = Object.keys(policy);
  if (keys.length !== 1) {
    throw new InvalidOptionError(
      'outlierDetection.policy',
      'exactly one of consecutiveFailures, failureRate, slowCallRate',
      keys.join(', ') || 'none',
    );
  }
  if ('consecutiveFailures' in policy) return consecutiveFailures(policy.consecutiveFailures);
  if ('failureRate' in policy) {
    const { threshold, minimumCalls, window } = policy.failureRate;
    return failureRate({
      threshold,
      minimumCalls,
      window: { duration: window, buckets: WINDOW_BUCKETS },
    });
  }
  if ('slowCallRate' in policy) {
    const { threshold, slowerThan, minimumCalls, window } = policy.slowCallRate;
    return slowCallRate({
      threshold,
      slowerThan,
      minimumCalls,
      window: { duration: window, buckets: WINDOW_BUCKETS },
    });
  }
  throw new InvalidOptionError(
    'outlierDetection.policy',
    'one of consecutiveFailures, failureRate, slowCallRate',
    keys[0],
  );
}

/**
 * Whether an attempt counts against its target: `'failure'` when `failOn` lists it, `'success'`
 * for any other response (a 4xx, or a 500 when only `gateway-errors` are listed: the target is
 * up and answering), `'ignore'` for an unlisted error and for a client abort or a request the
 * proxy refused, which say nothing about the target.
 *
 * @example
 * ```ts
 * classifyAttempt({ kind: 'response', status: 503 }, ['gateway-errors']); // 'failure'
 * classifyAttempt({ kind: 'aborted' }, ['connect-error']);                // 'ignore'
 * ```
 */
export function classifyAttempt(
  result: AttemptResult,
  failOn: readonly FailOn[],
): 'success' | 'failure' | 'ignore' {
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
      return failOn.includes(result.kind) ? 'failure' : 'ignore';
    default:
      return 'ignore';
  }
}
