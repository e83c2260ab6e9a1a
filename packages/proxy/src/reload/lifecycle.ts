/**
 * How a reload builds upstreams and updates the targets it keeps: the same `UpstreamPool.fromConfig` and
 * `attachTargetHealth` the proxy uses at startup, so a target added by a reload gets exactly the
 * breaker and health checker it would have had from the start.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Clock } from 'breakwater';
import type { UpstreamConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { Target } from '../upstream/target.ts';
import { attachTargetHealth } from '../upstream/target-health.ts';
import { UpstreamPool } from '../upstream/upstream-pool.ts';
import type { UpstreamLifecycle } from './reload.ts';

/**
 * The proxy's {@link UpstreamLifecycle}. A kept target whose upstream changed its
 * `outlierDetection.policy` or `.ejection` gets a new breaker (its ejection state starts over;
 * its ejection count stays); `failOn` and `maxEjectedPercent` are upstream rules and keep the
 * breaker. A changed `healthCheck` replaces the checker, and the target counts as healthy until
 * the new checks say otherwise, as at startup.
 *
 * @example
 * const reloader = new ConfigReloader({ ..., lifecycle: upstreamLifecycle({ clock, logger }) });
 */
export function upstreamLifecycle(context: {
  readonly clock?: Clock | undefined;
  readonly logger: Logger;
}): UpstreamLifecycle {
  return {
    build: (name, config, reuse) =>
      UpstreamPool.fromConfig(name, config, { ...context, reuse: (url) => reuse.get(url) }),
    start: (targets) => {
      for (const target of targets) target.checker?.start();
    },
    update: (target, pool, previous, next) => {
      if (breakerChanged(previous, next)) target.breaker = undefined;
      if (!isDeepStrictEqual(previous.healthCheck, next.healthCheck)) {
        const checker = target.checker;
        target.checker = undefined;
        target.healthy = true;
        if (checker !== undefined) stopChecker(checker, target, context.logger);
      }
      attachTargetHealth(target, pool.name, next, context);
      target.checker?.start();
    },
  };
}

function breakerChanged(previous: UpstreamConfig, next: UpstreamConfig): boolean {
  const before = previous.outlierDetection;
  const after = next.outlierDetection;
  if (before === false || after === false) return before !== after;
  return (
    !isDeepStrictEqual(before.policy, after.policy) ||
    !isDeepStrictEqual(before.ejection, after.ejection)
  );
}

function stopChecker(
  checker: NonNullable<Target['checker']>,
  target: Target,
  logger: Logger,
): void {
  checker.stop().catch((error: unknown) => {
    logger.error({ err: error, target: target.id }, 'stopping a replaced health checker failed');
  });
}
