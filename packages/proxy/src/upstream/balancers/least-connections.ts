import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/**
 * Weighted least connections: the candidate with the fewest in-flight requests per unit of
 * weight wins. Ties are broken round robin (the scan starts one position later on each pick), so
 * an idle pool still spreads requests instead of sending all of them to the first target.
 *
 * @example
 * ```ts
 * const balancer = new LeastConnectionsBalancer();
 * balancer.pick(targets, request);
 * ```
 */
export class LeastConnectionsBalancer<T extends BalancedTarget = BalancedTarget>
  implements Balancer<T>
{
  #start = 0;

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (this.#start >= n) this.#start %= n;
    const start = this.#start;
    this.#start = start + 1 === n ? 0 : start + 1;
    let best = candidates[start] as T;
    for (let k = 1; k < n; k++) {
      const i = start + k < n ? start + k : start + k - n;
      const target = candidates[i] as T;
      // a/wa < b/wb without dividing: a*wb < b*wa (weights are positive).
      if (target.activeRequests * best.weight < best.activeRequests * target.weight) best = target;
    }
    return best;
  }
}
