/**
 * Peak-EWMA, Finagle's and Linkerd's latency-aware balancer: power of two choices where a
 * target's cost is a moving average of its response latency times its requests in flight plus
 * one. The average is "peak" sensitive: a response slower than the average replaces it at once,
 * so a target that turns slow is avoided from its first slow answer; faster answers pull it down
 * over the `decay` time constant, and with no answers at all it decays toward zero, so an avoided
 * target is tried again now and then. State is kept per target id, fed by
 * {@link PeakEwmaBalancer.observe}.
 */
import { type Clock, InvalidOptionError, systemClock } from 'breakwater';
import type { BalancedRequest, BalancedTarget, Balancer } from './balancer.ts';

/** Options for {@link PeakEwmaBalancer}. */
export interface PeakEwmaOptions {
  /** Time constant of the moving average, in ms. Default: 10 000. */
  readonly decay?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Source of randomness in [0, 1). Default: `Math.random`. */
  readonly random?: () => number;
}

/** One microsecond: below any latency a network round trip can have. */
const LATENCY_FLOOR = 0.001;

/** A target's latency average as of `stamp`. */
interface LatencyEstimate {
  latency: number;
  stamp: number;
}

/**
 * Power of two choices over peak-EWMA latency × (in flight + 1) / weight.
 *
 * @example
 * ```ts
 * const balancer = new PeakEwmaBalancer<Target>({ decay: 10_000 });
 * const target = balancer.pick(eligible, request);
 * const started = performance.now();
 * await forward(request, target);
 * balancer.observe(target, performance.now() - started);
 * ```
 */
export class PeakEwmaBalancer<T extends BalancedTarget = BalancedTarget> implements Balancer<T> {
  /** The time constant of the average, in ms. */
  readonly decay: number;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #estimates = new Map<string, LatencyEstimate>();

  constructor(options: PeakEwmaOptions = {}) {
    const decay = options.decay ?? 10_000;
    if (typeof decay !== 'number' || !(decay > 0) || decay === Infinity) {
      throw new InvalidOptionError('decay', 'a finite number of ms > 0', decay);
    }
    this.decay = decay;
    this.#clock = options.clock ?? systemClock;
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
    const now = this.#clock.now();
    return this.#cost(second, candidates, now) < this.#cost(first, candidates, now)
      ? second
      : first;
  }

  /**
   * Feeds one response's latency (ms) for `target`: above the current average it becomes the
   * average at once; below, it pulls the average down by how long ago the last one came.
   */
  observe(target: T, latency: number): void {
    const now = this.#clock.now();
    const estimate = this.#estimates.get(target.id);
    if (estimate === undefined) {
      this.#estimates.set(target.id, { latency, stamp: now });
      return;
    }
    const weight = Math.exp(-Math.max(0, now - estimate.stamp) / this.decay);
    const current = estimate.latency * weight;
    estimate.latency = latency > current ? latency : current + latency * (1 - weight);
    estimate.stamp = now;
  }

  /**
   * Drops what is known of `target` (it is back in rotation after an ejection): it starts at a
   * neutral latency, like a new target.
   */
  forget(target: T): void {
    this.#estimates.delete(target.id);
  }

  /** The target's latency average now, in ms; `undefined` before its first pick or response. */
  latency(target: T): number | undefined {
    const estimate = this.#estimates.get(target.id);
    return estimate === undefined ? undefined : this.#decayed(estimate, this.#clock.now());
  }

  #cost(target: T, candidates: readonly T[], now: number): number {
    let estimate = this.#estimates.get(target.id);
    if (estimate === undefined) {
      estimate = { latency: this.#neutralLatency(candidates, now), stamp: now };
      this.#estimates.set(target.id, estimate);
    }
    // The floor keeps requests in flight counting while latencies are still unknown (zero).
    const latency = Math.max(this.#decayed(estimate, now), LATENCY_FLOOR);
    return (latency * (target.activeRequests + 1)) / target.weight;
  }

  /**
   * A newcomer starts at the median latency of the candidates already measured: at zero it would
   * be flooded until its first answers came back, at the mean it would inherit the penalty of a
   * slow neighbour and be starved. Scans the candidates, but only once per newcomer.
   */
  #neutralLatency(candidates: readonly T[], now: number): number {
    const known: number[] = [];
    for (const candidate of candidates) {
      const estimate = this.#estimates.get(candidate.id);
      if (estimate !== undefined) known.push(this.#decayed(estimate, now));
    }
    if (known.length === 0) return 0;
    known.sort((a, b) => a - b);
    const middle = known.length >> 1;
    return known.length % 2 === 1 ? known[middle]! : (known[middle - 1]! + known[middle]!) / 2;
  }

  #decayed(estimate: LatencyEstimate, now: number): number {
    return estimate.latency * Math.exp(-Math.max(0, now - estimate.stamp) / this.decay);
  }
}

function randomIndex(random: () => number, n: number): number {
  const index = Math.floor(random() * n);
  // Guards against a random source that returns 1 or garbage.
  return index >= 0 && index < n ? index : 0;
}
