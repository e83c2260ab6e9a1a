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
  readonly #scores = new Map<string, Score>();
  // The scores of the last candidate list, by position: the common case (the same targets as
  // last time) then needs no map lookups.
  #aligned: Score[] = [];

  pick(candidates: readonly T[], _request?: BalancedRequest): T | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    if (n === 1) return candidates[0];
    const scores = this.#align(candidates);
    let total = 0;
    let best = 0;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      const weight = (candidates[i] as T).weight;
      const score = scores[i] as Score;
      score.value += weight;
      total += weight;
      if (score.value > bestScore) {
        best = i;
        bestScore = score.value;
      }
    }
    (scores[best] as Score).value -= total;
    return candidates[best];
  }

  #align(candidates: readonly T[]): Score[] {
    const aligned = this.#aligned;
    let same = aligned.length === candidates.length;
    for (let i = 0; same && i < candidates.length; i++) {
      same = (aligned[i] as Score).id === (candidates[i] as T).id;
    }
    if (same) return aligned;
    const next: Score[] = [];
    for (const target of candidates) {
      let score = this.#scores.get(target.id);
      if (score === undefined) {
        score = { id: target.id, value: 0 };
        this.#scores.set(target.id, score);
      }
      next.push(score);
    }
    if (this.#scores.size > 2 * candidates.length + 16) this.#prune(candidates);
    this.#aligned = next;
    return next;
  }

  #prune(candidates: readonly T[]): void {
    const live = new Set<string>();
    for (const target of candidates) live.add(target.id);
    for (const id of this.#scores.keys()) if (!live.has(id)) this.#scores.delete(id);
  }
}

interface Score {
  readonly id: string;
  value: number;
}
