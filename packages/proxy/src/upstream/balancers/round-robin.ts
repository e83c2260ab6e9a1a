import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/**
 * Plain round robin: each pick takes the next candidate in order, ignoring weights.
 *
 * The position is a counter over picks, not over targets, so when the candidate set shrinks or
 * grows the rotation simply continues over the new list; no per-target state to go stale.
 *
 * @example
 * ```ts
 * const balancer = new RoundRobinBalancer();
 * balancer.pick(targets, request); // targets[0], then targets[1], …
 * ```
 */
export class RoundRobinBalancer<T extends BalancedTarget = BalancedTarget> implements Balancer<T> {
  #next = 0;

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (this.#next >= n) this.#next %= n;
    const chosen = candidates[this.#next];
    this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
    return chosen;
  }
}
