/**
 * Additive increase, multiplicative decrease (TCP's congestion rule, Netflix's `AIMDLimit`): a
 * window with a dropped call, or slower on average than a latency threshold, cuts the limit by a
 * ratio; a window that used at least half the limit adds a fixed step.
 */
import type { LimitAlgorithm, WindowSample } from './limit-algorithm.ts';

/** Settings of the AIMD rule, resolved. */
export interface AimdSettings {
  /** Factor applied to the limit on an overloaded window, in (0, 1). */
  readonly backoffRatio: number;
  /** A window whose mean latency exceeds this many ms counts as overloaded. */
  readonly latencyThreshold: number;
  /** Added to the limit after a healthy window that used at least half of it. */
  readonly increase: number;
}

/** The AIMD rule; it keeps no state besides its settings. */
export class AimdLimit implements LimitAlgorithm {
  readonly #settings: AimdSettings;

  constructor(settings: AimdSettings) {
    this.#settings = settings;
  }

  next(limit: number, sample: WindowSample): number {
    const { backoffRatio, latencyThreshold, increase } = this.#settings;
    if (sample.dropped || sample.rtt > latencyThreshold) return limit * backoffRatio;
    // Growing a limit that the traffic never reaches would only let a later burst through unchecked.
    if (sample.maxInFlight * 2 >= limit) return limit + increase;
    return limit;
  }
}
