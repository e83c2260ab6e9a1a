import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type InstanceHandle,
  startProcesses,
} from '../../../breakwater/test/support/fleet-control.ts';
import type { InstanceSetup } from '../../../breakwater/test/support/sync-instance.ts';
import { RedisServer } from '../support/redis.ts';

/** Starting Node processes on a loaded 2-core machine can take a while; still bounded. */
const STARTUP_MS = 30_000;

const INSTANCE = fileURLToPath(new URL('../fixtures/redis-instance.ts', import.meta.url));

const consecutive = (shared: boolean, extra: Partial<InstanceSetup> = {}): InstanceSetup => ({
  policy: { kind: 'consecutive', failures: 5 },
  openDuration: 60_000,
  shared,
  ...extra,
});

async function readyAll(instances: InstanceHandle[], s: InstanceSetup): Promise<void> {
  await Promise.all(instances.map((i) => i.ask({ cmd: 'setup', setup: s }, 'ready', STARTUP_MS)));
}

async function allOpen(
  instances: InstanceHandle[],
  since: number[],
  ms = 3_000,
): Promise<number[]> {
  const reports = await Promise.all(
    instances.map((i, k) => i.next('state', (r) => r.to === 'open', ms, since[k])),
  );
  return reports.map((r) => r.at);
}

describe('breakers shared through a Redis that stops mid-traffic', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.stop();
  });

  it('no call fails or waits while Redis is down; the instances converge within 2 s of its return', async () => {
    const fleet = await startProcesses(INSTANCE, 3, {
      REDIS_URL: server.url,
      SYNC_PREFIX: 'down:',
    });
    try {
      const { instances } = fleet;
      await readyAll(instances, consecutive(true));
      const loads = instances.map((i) =>
        i.ask({ cmd: 'load', intervalMs: 2, count: 600 }, 'load-done', 15_000),
      );
      await delay(200);
      await server.stop();
      await delay(200);
      // Alone, instance 0 still trips on its own failures; the others cannot hear of it.
      const marks = instances.map((i) => i.reports.length);
      instances[0]!.send({ cmd: 'dependency', up: false });
      await instances[0]!.next('state', (r) => r.to === 'open', 2_000, marks[0]);
      await delay(100);
      assert.equal(
        instances[1]!.reports.slice(marks[1]).some((r) => r.ev === 'state'),
        false,
        'no news while Redis is down',
      );
      const restarted = performance.now();
      await server.start();
      await allOpen(instances.slice(1), marks.slice(1), 2_000);
      assert.ok(performance.now() - restarted < 2_000);
      const results = await Promise.all(loads);
      for (const result of results) {
        assert.equal(result.failedOtherwise, 0, 'no call failed because of Redis');
        // A call that waited for Redis would take at least the instances' 500 ms command timeout
        // (the instant calls here take under a millisecond, plus whatever a loaded machine adds).
        assert.ok(result.slowestCall < 500, `no call waited for Redis: ${result.slowestCall} ms`);
      }
    } finally {
      await fleet.stop();
    }
  });
});
