/**
 * The one definition of "eligible": which of an upstream's targets the balancer may pick right
 * now. The balancer, the admin API's `eligible` field and the `breakwater_target_healthy` metric
 * all read it from here, so what is reported is what is done.
 *
 * A target is eligible when active checks say it is up, it is not drained, its breaker is not
 * forced open by an operator, and its ejection (an `open` breaker) is honoured: ejections beyond
 * `maxEjectedPercent` are not (see `ejection-cap.ts`), so such a target is eligible and takes
 * traffic without a permit. When fewer than `panicThreshold` percent of the targets are
 * eligible, health information is more likely wrong than the targets are all down (Envoy's panic
 * mode): every undrained target not forced open becomes a candidate.
 */
import { type Ejectable, ejectionAllowed } from './ejection-cap.ts';

/** What the selection rules read of a target. */
export interface Selectable extends Ejectable {
  /** The active health checks' view. */
  readonly healthy: boolean;
  /** An operator's or a reload's decision: finish in-flight requests, take no new ones. */
  readonly drained: boolean;
}

/** The upstream-wide settings the rules read. */
export interface SelectionRules {
  /** Percent (0–100) of targets outlier detection may eject at once. */
  readonly maxEjectedPercent: number;
  /** Percent (0–100) of eligible targets below which every target is a candidate. */
  readonly panicThreshold: number;
}

/** Which targets may take a request now, worked out once and read by everyone. */
export interface Selection<T> {
  /** The targets that pass every rule. */
  readonly eligible: readonly T[];
  /** Whether so few are eligible that panic mode balances over (almost) all of them. */
  readonly panic: boolean;
  /** What the balancer picks from: `eligible`, or the panic candidates in panic mode. */
  readonly candidates: readonly T[];
}

const none: ReadonlySet<never> = new Set();

/**
 * True when `eligible` of `total` targets is below `panicThresholdPercent` (0–100). A threshold
 * of 0 never panics: with nothing eligible the proxy answers 503 instead.
 *
 * @example
 * ```ts
 * inPanic(1, 4, 50); // true: 25 % eligible is below 50 %
 * inPanic(0, 4, 0);  // false: panic mode is off
 * ```
 */
export function inPanic(eligible: number, total: number, panicThresholdPercent: number): boolean {
  if (total <= 0 || panicThresholdPercent <= 0) return false;
  return eligible * 100 < panicThresholdPercent * total;
}

/**
 * Works out the {@link Selection} of `targets` under `rules`, reusing `previous` (same arrays)
 * when no target changed eligibility, so a steady upstream allocates nothing per request.
 *
 * @example
 * ```ts
 * const { candidates } = selectTargets(pool.targets, { maxEjectedPercent: 50, panicThreshold: 0 });
 * balancer.pick(candidates, request);
 * ```
 */
export function selectTargets<T extends Selectable>(
  targets: readonly T[],
  rules: SelectionRules,
  previous?: CachedSelection<T>,
): CachedSelection<T> {
  const ejected =
    rules.maxEjectedPercent > 0 ? ejectionAllowed(targets, rules.maxEjectedPercent) : none;
  // A bitmask of eligibility identifies the set; up to 31 targets get the cached arrays.
  let key = -1;
  if (targets.length <= 31) {
    key = 0;
    for (let i = 0; i < targets.length; i++) {
      if (isEligible(targets[i]!, ejected)) key |= 1 << i;
    }
    if (previous !== undefined && key === previous.key && !previous.panic) return previous;
  }
  const eligible = targets.filter((target) => isEligible(target, ejected));
  const panic = inPanic(eligible.length, targets.length, rules.panicThreshold);
  // Panic candidates depend on drain and forced-open states the key does not cover: never cached.
  const candidates = panic ? targets.filter(isPanicCandidate) : eligible;
  return { key, eligible, panic, candidates };
}

/** A {@link Selection} with the key that says when it may be reused. */
export interface CachedSelection<T> extends Selection<T> {
  /** The eligibility bitmask, or -1 when the upstream is too large to key. */
  readonly key: number;
}

function isEligible(target: Selectable, ejected: ReadonlySet<Selectable>): boolean {
  if (!target.healthy || target.drained) return false;
  const breaker = target.breaker;
  if (breaker === undefined) return true;
  return breaker.state !== 'forced-open' && !ejected.has(target);
}

function isPanicCandidate(target: Selectable): boolean {
  return !target.drained && target.breaker?.state !== 'forced-open';
}
