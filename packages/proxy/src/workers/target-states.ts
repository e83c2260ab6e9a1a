/**
 * Target state that the primary owns and workers follow: health (from the primary's active
 * checks) and drains (from the admin API). Collected from the primary's pools after every change
 * and applied to a worker's pools by upstream name and target URL.
 */
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import type { TargetState } from './messages.ts';

/**
 * Every target's health and drain in `pools`.
 *
 * @example
 * ```ts
 * worker.send({ bw: 'proxy', type: 'targets', targets: targetStates(pools.values()) });
 * ```
 */
export function targetStates(pools: Iterable<UpstreamPool>): TargetState[] {
  const states: TargetState[] = [];
  for (const pool of pools) {
    for (const target of pool.targets) {
      states.push({
        upstream: pool.name,
        url: target.id,
        healthy: target.healthy,
        drained: target.drained,
      });
    }
  }
  return states;
}

/**
 * Applies `states` to the matching targets of `pools`. A state for a target this process does not
 * have (a reload not yet applied here) is skipped: the primary sends them all again after every
 * reload.
 *
 * @example
 * ```ts
 * applyTargetStates(upstreams, message.targets);
 * ```
 */
export function applyTargetStates(
  pools: ReadonlyMap<string, UpstreamPool>,
  states: readonly TargetState[],
): void {
  for (const state of states) {
    const target = pools.get(state.upstream)?.targets.find((each) => each.id === state.url);
    if (target === undefined) continue;
    target.healthy = state.healthy;
    target.drained = state.drained;
  }
}
