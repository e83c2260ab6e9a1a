/**
 * A target's traffic counts for the dashboard: attempts, failed attempts and a latency histogram,
 * added to on the hot path (three additions and a short bucket search, no allocation) and read
 * once a second by the dashboard's sampler, which turns differences into rates and percentiles.
 */

/**
 * Upper bounds of the latency buckets, in ms, roughly ×1.5 apart: a percentile read from them is
 * within one bucket of the truth, close enough to tell 5 ms from 50 ms from 500 ms.
 */
export const latencyBoundsMs: readonly number[] = [
  0.5, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 1_500,
  2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 30_000, 60_000,
];

/**
 * Lifetime counts of the attempts sent to one target.
 *
 * @example
 * ```ts
 * target.traffic.record(12.5, false); // a 12.5 ms attempt that succeeded
 * ```
 */
export class TargetTraffic {
  /** Attempts that ended (any outcome). */
  attempts = 0;
  /** Attempts that counted as failures for outlier detection. */
  failures = 0;
  /** Attempts per latency bucket, not cumulative; the last slot is above every bound. */
  readonly latency = new Float64Array(latencyBoundsMs.length + 1);

  record(durationMs: number, failed: boolean): void {
    this.attempts++;
    if (failed) this.failures++;
    let bucket = 0;
    while (bucket < latencyBoundsMs.length && durationMs > latencyBoundsMs[bucket]!) bucket++;
    this.latency[bucket]!++;
  }

  /**
   * Adds counts recorded elsewhere (a cluster worker's increase since its last report); `latency`
   * has one entry per bucket.
   */
  add(attempts: number, failures: number, latency: ArrayLike<number>): void {
    this.attempts += attempts;
    this.failures += failures;
    const length = Math.min(latency.length, this.latency.length);
    for (let i = 0; i < length; i++) this.latency[i]! += latency[i]!;
  }
}

/**
 * The `q` quantile (0–1) of the attempts counted in `buckets`, interpolated inside its bucket;
 * `null` when there are none.
 *
 * @example
 * ```ts
 * latencyQuantile(window, 0.99); // e.g. 180 (ms)
 * ```
 */
export function latencyQuantile(buckets: Float64Array, q: number): number | null {
  let total = 0;
  for (const count of buckets) total += count;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!;
    if (count > 0 && seen + count >= rank) {
      const lower = i === 0 ? 0 : latencyBoundsMs[i - 1]!;
      // Above the last bound there is no upper edge to interpolate to: report the bound.
      const upper = latencyBoundsMs[i] ?? lower;
      return lower + ((upper - lower) * (rank - seen)) / count;
    }
    seen += count;
  }
  return latencyBoundsMs.at(-1)!;
}
