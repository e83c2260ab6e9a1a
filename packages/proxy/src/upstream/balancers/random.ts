import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/** Options for {@link RandomBalancer}. */
export interface RandomOptions {
  /** Source of randomness in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
}

/**
 * Weighted random: each candidate is chosen with probability weight / total weight. Stateless,
 * so many proxy processes using it need no coordination.
 *
 * @example
 * ```ts
 * const balancer = new RandomBalancer();
 * balancer.pick(targets, request);
 * ```
 */
export class RandomBalancer<T extends BalancedTarget = BalancedTarget> implements Balancer<T> {
  readonly #random: () => number;

  constructor(options: RandomOptions = {}) {
    this.#random = options.random ?? Math.random;
  }

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    let total = 0;
    for (let i = 0; i < n; i++) total += (candidates[i] as T).weight;
    let point = this.#random() * total;
    if (!(point >= 0 && point < total)) point = 0;
    for (let i = 0; i < n; i++) {
      const target = candidates[i] as T;
      point -= target.weight;
      if (point < 0) return target;
    }
    // Only reachable through floating-point rounding on the last subtraction.
    return candidates[n - 1];
  }
}
