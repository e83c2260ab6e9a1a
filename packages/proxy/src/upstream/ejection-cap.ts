/**
 * `maxEjectedPercent`: outlier detection may not take out more than a share of an upstream, so
 * a fault that makes every target look bad (the proxy's own network, a shared dependency) does
 * not turn into an outage the proxy made itself.
 */

/** What the cap needs to know of a target: its breaker, if it has one. */
export interface Ejectable {
  readonly breaker?: { readonly state: string; readonly retryAfter: number } | undefined;
}

const none: ReadonlySet<never> = new Set();

/**
 * How many of `total` targets may be ejected at once: `floor(total × percent / 100)`, but at
 * least one when `percent` is above 0 (as Envoy does), so a small pool can still eject its one
 * bad target. 0 % disables ejection.
 *
 * @example
 * ```ts
 * maxEjections(10, 50); // 5
 * maxEjections(3, 10);  // 1
 * ```
 */
export function maxEjections(total: number, maxEjectedPercent: number): number {
  if (maxEjectedPercent <= 0 || total <= 0) return 0;
  return Math.min(total, Math.max(1, Math.floor((total * maxEjectedPercent) / 100)));
}

/**
 * The targets whose ejection is honoured. A target is ejected when its breaker is `open`; if
 * more are open than {@link maxEjections} allows, the ones with the longest `retryAfter` stay
 * ejected and the rest, those closest to their trial anyway, are treated as eligible again.
 * (Ties go to the target earlier in the list.) The rule depends only on the breakers, so it
 * gives the same answer on every request until a breaker changes.
 *
 * A `forced-open` breaker is an operator's decision, not an ejection: it is neither counted nor
 * overridden. A `half-open` breaker is not ejected (it admits its trial).
 *
 * The proxy sends requests to a readmitted target without a breaker permit (its breaker would
 * reject them), so their outcomes are not recorded until its breaker goes half-open.
 *
 * Allocation-free when no breaker is open.
 *
 * @example
 * ```ts
 * const ejected = ejectionAllowed(targets, 50);
 * const eligible = targets.filter((t) => t.healthy && !t.drained && !ejected.has(t));
 * ```
 */
export function ejectionAllowed<T extends Ejectable>(
  targets: readonly T[],
  maxEjectedPercent: number,
): ReadonlySet<T> {
  let open: T[] | undefined;
  for (const target of targets) {
    if (target.breaker?.state !== 'open') continue;
    if (open === undefined) open = [];
    open.push(target);
  }
  if (open === undefined) return none;
  const allowed = maxEjections(targets.length, maxEjectedPercent);
  if (open.length <= allowed) return new Set(open);
  const ranked = open
    .map((target, index) => ({ target, index, retryAfter: target.breaker?.retryAfter ?? 0 }))
    .sort((a, b) => b.retryAfter - a.retryAfter || a.index - b.index);
  return new Set(ranked.slice(0, allowed).map((entry) => entry.target));
}
