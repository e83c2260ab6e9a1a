import { InvalidOptionError } from '../errors.ts';
import {
  type FailurePolicy,
  isFailurePolicy,
  type PolicyInputs,
  type PolicyStats,
  type TripDescription,
} from '../failure-policy.ts';
import { describePolicyTrip } from '../trip-reason.ts';

const INPUTS: readonly PolicyInputs[] = ['nothing', 'time', 'duration'];

class Either implements FailurePolicy {
  readonly uses: PolicyInputs;
  readonly #policies: readonly FailurePolicy[];
  /** The policy that asked to trip first at the last trip, for the trip reason. */
  #fired: FailurePolicy | undefined;

  constructor(policies: readonly FailurePolicy[]) {
    this.#policies = policies;
    // Needs whatever its most demanding policy needs.
    let rank = 0;
    for (const policy of policies) {
      const inputs = INPUTS.indexOf(policy.uses ?? 'duration');
      rank = Math.max(rank, inputs < 0 ? INPUTS.length - 1 : inputs);
    }
    this.uses = INPUTS[rank] ?? 'duration';
  }

  // Every policy sees every outcome, even after one has asked to trip, so their windows agree.
  recordSuccess(now: number, durationMs: number): boolean {
    let trip = false;
    for (const policy of this.#policies) {
      if (policy.recordSuccess(now, durationMs) && !trip) {
        trip = true;
        this.#fired = policy;
      }
    }
    return trip;
  }

  recordFailure(now: number, durationMs: number): boolean {
    let trip = false;
    for (const policy of this.#policies) {
      if (policy.recordFailure(now, durationMs) && !trip) {
        trip = true;
        this.#fired = policy;
      }
    }
    return trip;
  }

  reset(now: number): void {
    this.#fired = undefined;
    for (const policy of this.#policies) policy.reset(now);
  }

  /** The reason of the policy that fired, under its own rule name, with its own window. */
  describeTrip(): TripDescription {
    const fired = this.#fired;
    if (fired === undefined) return { rule: 'either', text: 'no policy of either(…) has tripped' };
    const described = describePolicyTrip(fired);
    const window = described.window ?? fired.stats?.();
    return window === undefined ? described : { ...described, window };
  }

  stats(): PolicyStats {
    const policies: PolicyStats[] = [];
    for (const policy of this.#policies) policies.push(policy.stats?.() ?? { kind: 'custom' });
    return { kind: 'either', policies };
  }

  /** Set only when every policy can be cloned: a copy with a shared custom policy is no copy. */
  clone?: () => FailurePolicy;
}

/**
 * Trips when any of its policies would.
 *
 * @example
 * ```ts
 * either(consecutiveFailures(5), failureRate({ threshold: 0.5, window: { calls: 100 } }));
 * ```
 */
export function either(...policies: FailurePolicy[]): FailurePolicy {
  if (policies.length === 0) throw new InvalidOptionError('either', 'at least one policy', 0);
  policies.forEach((policy, index) => {
    if (!isFailurePolicy(policy)) {
      throw new InvalidOptionError(`either[${index}]`, 'a FailurePolicy', policy);
    }
  });
  const policy = new Either(policies);
  if (policies.every((p) => p.clone)) {
    policy.clone = () => either(...policies.map((p) => p.clone!()));
  }
  return policy;
}
