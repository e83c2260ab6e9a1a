/** An upstream with outlier detection on a ManualClock, and a way to eject one of its targets. */
import assert from 'node:assert/strict';
import { ManualClock } from 'breakwater';
import { UpstreamPool } from '../../src/upstream/upstream-pool.ts';

/** `count` targets, ejected after one connect error, `maxEjectedPercent` as given. */
export function guardedPool(
  count: number,
  overrides: { maxEjectedPercent?: number; panicThreshold?: number } = {},
): { upstream: UpstreamPool; clock: ManualClock } {
  const clock = new ManualClock();
  const upstream = UpstreamPool.fromConfig(
    'api',
    {
      balance: 'round-robin',
      targets: Array.from({ length: count }, (_, i) => ({
        url: `http://127.0.0.1:${8001 + i}`,
        weight: 1,
      })),
      timeouts: { connect: 1000, response: 1000, idle: 1000 },
      outlierDetection: {
        policy: { consecutiveFailures: 1 },
        failOn: ['connect-error'],
        ejection: { base: 10_000, max: 60_000 },
        maxEjectedPercent: overrides.maxEjectedPercent ?? 100,
      },
      panicThreshold: overrides.panicThreshold ?? 0,
    },
    { clock },
  );
  return { upstream, clock };
}

/** Opens the breaker of target `index` with one failure. */
export function eject(upstream: UpstreamPool, index: number): void {
  const permit = upstream.targets[index]!.breaker!.tryAcquire();
  assert.ok(permit);
  permit.failure();
  assert.equal(upstream.targets[index]!.breaker!.state, 'open');
}
