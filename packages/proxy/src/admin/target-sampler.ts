/**
 * Turns a target's lifetime traffic counts into what the dashboard shows: attempts per second
 * (one sample a second, five minutes kept for the sparkline) and, over the last ten seconds, the
 * error percentage and p50/p99 latency. Runs once a second, off the request path.
 */
import { latencyQuantile, type TargetTraffic } from './target-traffic.ts';

/** Samples kept for the sparkline: one a second for five minutes. */
export const HISTORY_SAMPLES = 300;
/** Seconds the error percentage and latency percentiles look back over. */
export const RECENT_SECONDS = 10;

/** One second's reading of a target. */
export interface TrafficReading {
  /** Attempts per second over the last sample. */
  readonly rps: number;
  /** Failed attempts as a percentage of attempts over the last {@link RECENT_SECONDS}. */
  readonly errorPercent: number;
  /** Latency percentiles over the last {@link RECENT_SECONDS}, in ms; null without attempts. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

interface Cumulative {
  readonly at: number;
  readonly attempts: number;
  readonly failures: number;
  readonly latency: Float64Array;
}

/**
 * One target's rolling window, fed by {@link TargetSampler.sample} once a second.
 *
 * @example
 * ```ts
 * const sampler = new TargetSampler();
 * const reading = sampler.sample(target.traffic, performance.now());
 * ```
 */
export class TargetSampler {
  /** Newest last; at most RECENT_SECONDS + 1 readings of the lifetime counts. */
  readonly #recent: Cumulative[] = [];
  /** Attempts per second, oldest first, at most HISTORY_SAMPLES. */
  readonly history: number[] = [];
  #last: TrafficReading = { rps: 0, errorPercent: 0, p50Ms: null, p99Ms: null };

  /** The latest reading (zeros before the first two samples). */
  get last(): TrafficReading {
    return this.#last;
  }

  /** Reads `traffic` at `nowMs` (a monotonic clock) and returns the new reading. */
  sample(traffic: TargetTraffic, nowMs: number): TrafficReading {
    const current: Cumulative = {
      at: nowMs,
      attempts: traffic.attempts,
      failures: traffic.failures,
      latency: traffic.latency.slice(),
    };
    const recent = this.#recent;
    const previous = recent.at(-1);
    recent.push(current);
    if (recent.length > RECENT_SECONDS + 1) recent.shift();
    const oldest = recent[0]!;
    const seconds = previous === undefined ? 0 : (nowMs - previous.at) / 1000;
    const rps = seconds > 0 ? (current.attempts - previous!.attempts) / seconds : 0;
    const attempts = current.attempts - oldest.attempts;
    const window = current.latency.slice();
    for (let i = 0; i < window.length; i++) window[i]! -= oldest.latency[i]!;
    this.#last = {
      rps,
      errorPercent: attempts > 0 ? ((current.failures - oldest.failures) / attempts) * 100 : 0,
      p50Ms: latencyQuantile(window, 0.5),
      p99Ms: latencyQuantile(window, 0.99),
    };
    if (previous !== undefined) {
      this.history.push(rps);
      if (this.history.length > HISTORY_SAMPLES) this.history.shift();
    }
    return this.#last;
  }
}
