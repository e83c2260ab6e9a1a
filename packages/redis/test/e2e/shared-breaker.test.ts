import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  type Fleet,
  type InstanceHandle,
  startProcesses,
} from '../../../breakwater/test/support/fleet-control.ts';
import type { InstanceSetup } from '../../../breakwater/test/support/sync-instance.ts';
import { cleanUp, connect, REDIS_URL, uniquePrefix } from '../support/redis.ts';

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

/** The instances under steady load; the dependency goes down for all; how many calls were doomed? */
async function doomedCalls(
  instances: InstanceHandle[],
  setup: InstanceSetup,
): Promise<{ doomed: number; propagationMs: number }> {
  await readyAll(instances, setup);
  const marks = instances.map((i) => i.reports.length);
  // One call per 10 ms per instance: longer than a propagation delay, so the bound below holds.
  const loads = instances.map((i) =>
    i.ask({ cmd: 'load', intervalMs: 10, count: 40 }, 'load-done', 10_000),
  );
  await delay(100);
  for (const i of instances) i.send({ cmd: 'dependency', up: false });
  const opened = await allOpen(instances, marks);
  const results = await Promise.all(loads);
  return {
    doomed: results.reduce((sum, r) => sum + r.doomed, 0),
    // From the first instance open to the last: how long the trip took to reach everyone.
    propagationMs: Math.max(...opened) - Math.min(...opened),
  };
}

describe('breakers shared by 4 processes through Redis', () => {
  const prefix = uniquePrefix();
  let fleet: Fleet;
  before(async () => {
    fleet = await startProcesses(INSTANCE, 4, { REDIS_URL, SYNC_PREFIX: prefix });
  });
  after(async () => {
    await fleet.stop();
    const client = await connect();
    await cleanUp(client, prefix);
    client.destroy();
  });

  it('outcomes mode: far fewer doomed calls reach a dependency that goes down than without sync', async (t) => {
    const { instances } = fleet;
    const shared = await doomedCalls(
      instances,
      consecutive(true, { syncMode: 'outcomes', name: 'doomed-shared' }),
    );
    const alone = await doomedCalls(instances, consecutive(false, { name: 'doomed-alone' }));
    t.diagnostic(
      `doomed calls: ${shared.doomed} with sync (trip reached all in ${shared.propagationMs.toFixed(1)} ms), ${alone.doomed} without`,
    );
    assert.ok(alone.doomed >= 20, `each of the 4 trips on its own 5: ${alone.doomed}`);
    // 5 for the fleet-wide run, plus one call in flight per instance, plus those each instance
    // started (one per 10 ms) while the trip was on its way to it.
    const bound = 5 + 4 + 4 * Math.ceil(shared.propagationMs / 10);
    assert.ok(shared.doomed <= bound, `with sync: ${shared.doomed} > ${bound}`);
    assert.ok(shared.doomed < alone.doomed);
  });

  it('transitions mode: every instance opens within the propagation delay and starts no call after', async (t) => {
    const { instances } = fleet;
    await readyAll(instances, consecutive(true, { name: 'propagation' }));
    const marks = instances.map((i) => i.reports.length);
    const loads = instances.map((i) =>
      i.ask({ cmd: 'load', intervalMs: 1, count: 200 }, 'load-done', 10_000),
    );
    await delay(50);
    instances[0]!.send({ cmd: 'dependency', up: false });
    const opened = await allOpen(instances, marks);
    const results = await Promise.all(loads);
    const delays = opened.slice(1).map((at) => at - opened[0]!);
    t.diagnostic(`propagation: ${delays.map((d) => d.toFixed(2)).join(', ')} ms`);
    assert.ok(Math.max(...delays) < 1_000, `${delays}`);
    for (const result of results) assert.equal(result.ranAfterOpen, 0);
  });

  it('a restarted instance picks up the shared state on start', async () => {
    fleet.kill(3);
    const restarted = await fleet.add();
    const ready = await restarted.ask(
      { cmd: 'setup', setup: consecutive(true, { name: 'propagation' }) },
      'ready',
      STARTUP_MS,
    );
    assert.equal(ready.state, 'open');
    assert.notEqual(ready.source, 'local');
  });

  it('outcomes mode trips a 30 % failure rate that no instance would trip alone', async () => {
    const instances = fleet.instances.filter((_, i) => i !== 3);
    const rate: InstanceSetup = {
      policy: { kind: 'rate', threshold: 0.3, minimumCalls: 24, calls: 30 },
      openDuration: 60_000,
      shared: true,
      syncMode: 'outcomes',
      name: 'rate',
    };
    await readyAll(instances, rate);
    const marks = instances.map((i) => i.reports.length);
    // Each instance: 7 successes then 3 failures: 10 calls, under its own minimum of 24.
    await Promise.all(
      instances.map((i) => i.ask({ cmd: 'load', intervalMs: 1, count: 7 }, 'load-done')),
    );
    await delay(400); // more than one flush interval: every success is counted fleet-wide
    await Promise.all(instances.map((i) => i.ask({ cmd: 'fail', count: 3 }, 'failed')));
    await allOpen(instances, marks);
  });
});
