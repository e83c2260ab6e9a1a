/**
 * Wiring one target to its health machinery: the outlier-detection breaker (passive) and the
 * active health checker, both living on the `Target` so they outlast a config reload that keeps
 * the target.
 */
import type { Clock } from 'breakwater';
import type { HealthCheckConfig, OutlierDetectionConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { ActiveHealthChecker } from './health/active-checker.ts';
import { createOutlierBreaker } from './outlier.ts';
import type { Target } from './target.ts';

/** An upstream's health settings, as validated config. */
export interface TargetHealthSettings {
  /** `false` (or absent) turns outlier detection off. */
  readonly outlierDetection?: OutlierDetectionConfig | undefined;
  /** Absent: no active checks; the target counts as up. */
  readonly healthCheck?: HealthCheckConfig | undefined;
}

/** Where time and logs come from. */
export interface TargetHealthContext {
  /** Drives breakers (ejection time) and probe schedules; tests pass a `ManualClock`. */
  readonly clock?: Clock | undefined;
  readonly logger: Logger;
}

/**
 * Gives `target` a breaker and/or a health checker per `settings`, unless it already has them
 * (a target kept by a reload keeps its state). The checker is created stopped; the upstream
 * starts it. Transitions are logged: ejection and readmission at warn/info, health flips by the
 * checker itself.
 *
 * @example
 * ```ts
 * const target = new Target('http://127.0.0.1:8001', 1, timeouts);
 * attachTargetHealth(target, 'api', config.upstreams.api, { clock, logger });
 * target.checker?.start();
 * ```
 */
export function attachTargetHealth(
  target: Target,
  upstream: string,
  settings: TargetHealthSettings,
  context: TargetHealthContext,
): void {
  const { logger, clock } = context;
  const outlier = settings.outlierDetection;
  if (outlier && target.breaker === undefined) {
    const breaker = createOutlierBreaker(outlier, { clock, name: `${upstream} ${target.id}` });
    breaker.on('open', ({ attempt, openDuration }) => {
      target.ejections++;
      logger.warn(
        { upstream, target: target.id, ejectedForMs: openDuration, reEjection: attempt > 0 },
        'target ejected by outlier detection',
      );
    });
    breaker.on('close', () => {
      logger.info({ upstream, target: target.id }, 'target readmitted after a successful trial');
    });
    target.breaker = breaker;
  }
  const check = settings.healthCheck;
  if (check !== undefined && target.checker === undefined) {
    const checker = new ActiveHealthChecker(target.id, {
      type: check.type,
      path: check.path,
      expectStatus: check.expectStatus,
      intervalMs: check.interval,
      jitter: check.jitter,
      timeoutMs: check.timeout,
      healthyThreshold: check.healthyThreshold,
      unhealthyThreshold: check.unhealthyThreshold,
      logger: logger.child({ upstream }),
      ...(clock ? { clock } : {}),
    });
    checker.on('change', ({ healthy }) => {
      target.healthy = healthy;
    });
    target.healthy = checker.healthy;
    target.checker = checker;
  }
}
