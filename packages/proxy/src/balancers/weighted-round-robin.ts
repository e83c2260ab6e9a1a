import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/**
 * nginx's smooth weighted round robin. On every pick each candidate's running score grows by its
 * weight, the highest score wins, and the winner pays back the total weight. Weights 5, 1, 1 give
 * `a a b a c a a`: the heavy target's turns are spread out rather than bunched, which keeps a
 * burst from landing on one target.
 *
 * Scores are kept per target id, so the sequence survives targets being ejected and readmitted
 * (the candidate array may be a new filtered list on every request). Scores of targets that have
 * left are pruned once they outnumber the live ones.
 *
 * @example
 * ```ts
 * const balancer = new WeightedRoundRobinBalancer();
 * balancer.pick([{ id: 'a', weight: 5, activeRequests: 0 }, b, c], request);
 * ```
 */
export class WeightedRoundRobinBalancer<T extends BalancedTarget = BalancedTarget>
  implements Balancer<T>
{
  readonly #scores = new Map<string, { value: number }>();

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    let total = 0;
    let best: T | undefined;
    let bestScore: { value: number } | undefined;
    for (let i = 0; i < n; i++) {
      const target = candidates[i] as T;
      let score = this.#scores.get(target.id);
      if (score === undefined) {
        score = { value: 0 };
        this.#scores.set(target.id, score);
      }
      score.value += target.weight;
      total += target.weight;
      if (bestScore === undefined || score.value > bestScore.value) {
        best = target;
        bestScore = score;
      }
    }
    (bestScore as { value: number }).value -= total;
    if (this.#scores.size > 2 * n + 16) this.#prune(candidates);
    return best;
  }

  #prune(candidates: readonly T[]): void {
    const live = new Set<string>();
    for (const target of candidates) live.add(target.id);
    for (const id of this.#scores.keys()) if (!live.has(id)) this.#scores.delete(id);
  }
}
