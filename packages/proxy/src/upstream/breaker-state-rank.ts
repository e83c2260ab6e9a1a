/**
 * How far along a target's breaker is, for views that merge several copies of it (cluster
 * workers, or one worker's reports over time): while transitions travel, the state furthest
 * along wins — a trial running anywhere is the fleet's trial, and an ejection seen anywhere is
 * (or is about to be) an ejection everywhere.
 */

const RANK: Readonly<Record<string, number>> = {
  'half-open': 4,
  open: 3,
  'forced-open': 2,
  closed: 1,
  disabled: 0,
};

/**
 * The rank of a breaker state: higher is further along; an unknown state ranks with `disabled`.
 *
 * @example
 * ```ts
 * breakerStateRank('open') > breakerStateRank('closed'); // true
 * ```
 */
export function breakerStateRank(state: string): number {
  return RANK[state] ?? 0;
}
