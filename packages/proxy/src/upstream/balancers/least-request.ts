import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/** Options for {@link LeastRequestBalancer}. */
export interface LeastRequestOptions {
  /** Source of randomness in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
}

/**
 * Power of two choices over in-flight requests, Envoy's default: draw two distinct candidates at
 * random and send the request to the one with fewer active requests per unit of weight. Nearly
 * as good as scanning for the global minimum, but O(1), and it avoids the herd that a strict
 * least-connections scan sends to a target that has just come back empty.
 *
 * @example
 * ```ts
 * const balancer = new LeastRequestBalancer({ random: seededRandom });
 * balancer.pick(targets, request);
 * ```
 */
export class LeastRequestBalancer<T extends BalancedTarget = BalancedTarget>
  implements Balancer<T>
{
  readonly #random: () => number;

  constructor(options: LeastRequestOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    const i = randomIndex(this.#random, n);
    // A second index from the other n-1 positions, so the two choices are always distinct.
    const j = (i + 1 + randomIndex(this.#random, n - 1)) % n;
    const first = candidates[i] as T;
    const second = candidates[j] as T;
    return second.activeRequests * first.weight < first.activeRequests * second.weight
      ? second
      : first;
  }
}

function randomIndex(random: () => number, n: number): number {
  const index = Math.floor(random() * n);
  // Guards against a random source that returns 1 or garbage.
  return index >= 0 && index < n ? index : 0;
}
