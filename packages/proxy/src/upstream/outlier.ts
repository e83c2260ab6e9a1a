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
  InvalidOptionError,
  slowCallRate,
} from 'breakwater';
import type { FailOn } from '../config/choices.ts';
import type { AttemptResult, AttemptVerdict } from './attempt-result.ts';

/**
 * The trip rule, as configured: one or more of the three rules (durations in ms). With several,
 * the target is ejected when any of them trips (the core's `either`).
 *
 * @example
 * ```ts
 * const policy: OutlierPolicy = {
 *   consecutiveFailures: 5,
 *   slowCallRate: { threshold: 0.5, slowerThan: 1_000, minimumCalls: 20, window: 10_000 },
 * };
 * ```
 */
export interface OutlierPolicy {
  readonly consecutiveFailures?: number | undefined;
  readonly failureRate?:
    | {
        readonly threshold: number;
        readonly minimumCalls: number;
        readonly window: number;
      }
    | undefined;
  readonly slowCallRate?:
    | {
        readonly threshold: number;
        readonly slowerThan: number;
        readonly minimumCalls: number;
        readonly window: number;
      }
    | undefined;
}

const POLICY_KEYS = ['consecutiveFailures', 'failureRate', 'slowCallRate'];

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
  const unknown = Object.keys(policy).filter((key) => !POLICY_KEYS.includes(key));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      'outlierDetection.policy',
      'only consecutiveFailures, failureRate, slowCallRate',
      unknown.join(', '),
    );
  }
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
  if (rules.length === 0) {
    throw new InvalidOptionError(
      'outlierDetection.policy',
      'at least one of consecutiveFailures, failureRate, slowCallRate',
      'none',
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
