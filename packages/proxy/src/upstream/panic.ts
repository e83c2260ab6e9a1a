/**
 * Panic mode (Envoy's panic threshold): when too few targets are healthy, health information is
 * more likely wrong than the targets are all down, and concentrating all traffic on the few left
 * would overload them. Below the threshold the balancer spreads over every target instead.
 */

/**
 * True when `healthy` of `total` targets is below `panicThresholdPercent` (0–100). A threshold
 * of 0 never panics: with nothing healthy the proxy answers 503 instead.
 *
 * @example
 * ```ts
 * inPanic(1, 4, 50); // true: 25 % healthy is below 50 %
 * inPanic(0, 4, 0);  // false: panic mode is off
 * ```
 */
export function inPanic(healthy: number, total: number, panicThresholdPercent: number): boolean {
  if (total <= 0 || panicThresholdPercent <= 0) return false;
  return healthy * 100 < panicThresholdPercent * total;
}

/**
 * The candidates to balance over: the eligible ones, or all of them in panic.
 *
 * @example
 * ```ts
 * const candidates = panicCandidates(targets, eligible, upstream.panicThreshold);
 * ```
 */
export function panicCandidates<T>(
  all: readonly T[],
  eligible: readonly T[],
  panicThresholdPercent: number,
): readonly T[] {
  return inPanic(eligible.length, all.length, panicThresholdPercent) ? all : eligible;
}
