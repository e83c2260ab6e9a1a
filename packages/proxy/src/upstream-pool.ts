/** A named group of interchangeable targets with the balancer that chooses among them. */
import type { BalancedRequest, Balancer } from './balancers/balancer.ts';
import { type BalanceKind, createBalancer } from './balancers/create.ts';
import type { UpstreamConfig } from './config/schema.ts';
import { Target } from './target.ts';

/**
 * An upstream: its targets, their connection pools and the balancer.
 *
 * @example
 * const pool = UpstreamPool.fromConfig('api', config.upstreams.api);
 * const target = pool.pick(request); // undefined when no target is eligible
 */
export class UpstreamPool {
  readonly name: string;
  readonly balance: BalanceKind;
  readonly balancer: Balancer<Target>;
  readonly targets: Target[];
  // Reused while no target changes eligibility, so a pick allocates nothing.
  #eligible: Target[] = [];
  #eligibleKey = -1;

  constructor(name: string, balance: BalanceKind, balancer: Balancer<Target>, targets: Target[]) {
    this.name = name;
    this.balance = balance;
    this.balancer = balancer;
    this.targets = targets;
  }

  /** Builds a pool, its targets and their undici pools from validated config. */
  static fromConfig(name: string, config: UpstreamConfig): UpstreamPool {
    const targets = config.targets.map(
      (target) => new Target(target.url, target.weight, config.timeouts),
    );
    const balancer = createBalancer<Target>({ balance: config.balance, hashOn: config.hashOn });
    return new UpstreamPool(name, config.balance, balancer, targets);
  }

  /** The targets a balancer may choose from now: healthy, not drained, breaker not open. */
  eligible(): readonly Target[] {
    const targets = this.targets;
    // A bitmask of eligibility identifies the set; up to 31 targets get the cached array.
    let key = 0;
    if (targets.length <= 31) {
      for (let i = 0; i < targets.length; i++) if (targets[i]!.eligible) key |= 1 << i;
      if (key === this.#eligibleKey) return this.#eligible;
    }
    const eligible = targets.filter((target) => target.eligible);
    if (targets.length <= 31) {
      this.#eligible = eligible;
      this.#eligibleKey = key;
    }
    return eligible;
  }

  /** Picks a target for `request`, or `undefined` when none is eligible. */
  pick(request: BalancedRequest): Target | undefined {
    const candidates = this.eligible();
    if (candidates.length === 0) return undefined;
    return this.balancer.pick(candidates, request);
  }

  /** Closes every target's connections, waiting for in-flight requests. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.close()));
  }

  /** Drops every target's connections now. */
  async destroy(): Promise<void> {
    await Promise.all(this.targets.map((target) => target.destroy()));
  }
}
