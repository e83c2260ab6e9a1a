/**
 * The gradient rule of Netflix's concurrency-limits (`Gradient2Limit`), the one Envoy's adaptive
 * concurrency filter also follows: compare the short-term RTT (this window's mean) with a
 * long-term RTT (an exponential average over many windows). While they agree there is no queue
 * and the limit may grow by a small headroom; when the short-term RTT rises above the long-term
 * one times a tolerance, requests are queueing somewhere and the limit shrinks in proportion.
 */
import type { LimitAlgorithm, WindowSample } from './limit-algorithm.ts';

/** Settings of the gradient rule, resolved. */
export interface GradientSettings {
  /** How far the short-term RTT may exceed the long-term one before the limit shrinks. */
  readonly tolerance: number;
  /** Windows averaged into the long-term RTT. */
  readonly longWindow: number;
  /** Headroom added on every update, as a function of the current limit. */
  readonly queueSize: (limit: number) => number;
  /** The limiter's floor: at it, every window measures the service's own latency. */
  readonly minLimit: number;
}

// The first windows are averaged plainly: an EMA seeded with one sample would weigh it for ever.
const WARMUP_WINDOWS = 10;
// Gradient2: never cut the limit by more than half in one window, so one outlier can't shed most
// of the traffic at once.
const MIN_GRADIENT = 0.5;

/** The gradient rule; one per limiter, since it keeps the long-term RTT. */
export class GradientLimit implements LimitAlgorithm {
  readonly #settings: GradientSettings;
  #longRtt = 0;
  #windows = 0;

  constructor(settings: GradientSettings) {
    this.#settings = settings;
  }

  next(limit: number, sample: WindowSample): number {
    const { tolerance, longWindow, queueSize } = this.#settings;
    const shortRtt = sample.rtt;
    if (this.#windows < WARMUP_WINDOWS) {
      this.#windows++;
      this.#longRtt += (shortRtt - this.#longRtt) / this.#windows;
    } else if (sample.maxInFlight < Math.floor(limit) || limit <= this.#settings.minLimit) {
      this.#longRtt += ((shortRtt - this.#longRtt) * 2) / (longWindow + 1);
    }
    // After a long overload the long-term RTT has absorbed the queueing delay; once latency is
    // back to normal it decays faster, or the limit would stay too permissive for a long time.
    if (shortRtt > 0 && this.#longRtt / shortRtt > 2) this.#longRtt *= 0.95;
    // Too few calls to tell: the limit was not what held them back, so it says nothing about it.
    if (sample.maxInFlight < limit / 2) return limit;
    const gradient =
      shortRtt > 0
        ? Math.max(MIN_GRADIENT, Math.min(1, (tolerance * this.#longRtt) / shortRtt))
        : 1;
    return limit * gradient + queueSize(limit);
  }
}
