import { checkInteger } from '../check-option.ts';
import type { FailurePolicy, PolicyStats, TripDescription } from '../failure-policy.ts';

class ConsecutiveFailures implements FailurePolicy {
  readonly uses = 'nothing';
  readonly #threshold: number;
  #failures = 0;

  constructor(threshold: number) {
    this.#threshold = threshold;
  }

  recordSuccess(): boolean {
    this.#failures = 0;
    return false;
  }

  recordFailure(): boolean {
    return ++this.#failures >= this.#threshold;
  }

  reset(): void {
    this.#failures = 0;
  }

  stats(): PolicyStats {
    return { kind: 'consecutiveFailures', threshold: this.#threshold, failures: this.#failures };
  }

  describeTrip(): TripDescription {
    const n = this.#failures;
    return { rule: 'consecutiveFailures', text: `${n} consecutive failure${n === 1 ? '' : 's'}` };
  }

  clone(): ConsecutiveFailures {
    return new ConsecutiveFailures(this.#threshold);
  }
}

/**
 * Trips after `threshold` failures in a row; any success starts the count again.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ policy: consecutiveFailures(3) });
 * ```
 */
export function consecutiveFailures(threshold: number): FailurePolicy {
  return new ConsecutiveFailures(checkInteger('consecutiveFailures.threshold', threshold, 1));
}
