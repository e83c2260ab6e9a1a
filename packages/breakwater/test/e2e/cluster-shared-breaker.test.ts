import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Fleet, type InstanceHandle, startClusterWorkers } from '../support/fleet-control.ts';
import type { InstanceSetup } from '../support/sync-instance.ts';

/** Starting Node processes on a loaded 2-core machine can take a while; still bounded. */
const STARTUP_MS = 30_000;

const setup = (openDuration: number): InstanceSetup => ({
  policy: { kind: 'consecutive', failures: 5 },
  openDuration,
  shared: true,
});

async function readyAll(instances: InstanceHandle[], s: InstanceSetup): Promise<void> {
  await Promise.all(instances.map((i) => i.ask({ cmd: 'setup', setup: s }, 'ready', STARTUP_MS)));
}

async function allInState(
  instances: InstanceHandle[],
  to: string,
  since: number[],
): Promise<number[]> {
  const reports = await Promise.all(
    instances.map((i, k) => i.next('state', (r) => r.to === to, 3_000, since[k])),
  );
  return reports.map((r) => r.at);
}

describe('breakers shared by 4 node:cluster workers (clusterSync)', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startClusterWorkers(4);
  });
  after(async () => {
    await fleet.stop();
  });

  it('opens every worker once one trips, and no worker starts a call after the message arrived', async (t) => {
    const { instances } = fleet;
    await readyAll(instances, setup(60_000));
    const marks = instances.map((i) => i.reports.length);
    const loads = instances.map((i) =>
      i.ask({ cmd: 'load', intervalMs: 1, count: 200 }, 'load-done', 10_000),
    );
    await delay(50);
    // The dependency fails for worker 0 only: it trips on its own five failures.
    instances[0]!.send({ cmd: 'dependency', up: false });
    const opened = await allInState(instances, 'open', marks);
    const results = await Promise.all(loads);
    const delays = opened.slice(1).map((at) => at - opened[0]!);
    t.diagnostic(`propagation: ${delays.map((d) => d.toFixed(2)).join(', ')} ms`);
    assert.ok(Math.max(...delays) < 1_000, `every worker open within 1 s: ${delays}`);
    for (const result of results) assert.equal(result.ranAfterOpen, 0);
    const snapshot = await instances[2]!.ask({ cmd: 'snapshot' }, 'snapshot');
    assert.equal((snapshot.snapshot as { sync: { source: string } }).sync.source !== 'local', true);
  });

  it('a restarted worker picks up the open state on start', async () => {
    fleet.kill(3);
    const restarted = await fleet.add();
    const ready = await restarted.ask({ cmd: 'setup', setup: setup(60_000) }, 'ready', STARTUP_MS);
    assert.equal(ready.state, 'open');
    assert.notEqual(ready.source, 'local');
  });
});

describe('recovery of a breaker shared by 4 node:cluster workers', () => {
  let fleet: Fleet;
  before(async () => {
    fleet = await startClusterWorkers(4);
  });
  after(async () => {
    await fleet.stop();
  });

  async function tripAndWait(instances: InstanceHandle[]): Promise<void> {
    const marks = instances.map((i) => i.reports.length);
    await instances[0]!.ask({ cmd: 'fail', count: 5 }, 'failed');
    await allInState(instances, 'open', marks);
  }

  async function loadAll(instances: InstanceHandle[]) {
    return Promise.all(
      instances.map((i) => i.ask({ cmd: 'load', intervalMs: 2, count: 60 }, 'load-done', 10_000)),
    );
  }

  it('sends exactly one trial to the dependency; its success closes all four', async () => {
    const { instances } = fleet;
    await readyAll(instances, setup(300));
    await tripAndWait(instances);
    await delay(320);
    const marks = instances.map((i) => i.reports.length);
    const results = await loadAll(instances);
    assert.equal(
      results.reduce((sum, r) => sum + r.trials, 0),
      1,
    );
    await allInState(instances, 'closed', marks);
  });

  it('a failed trial reopens all four with the next backoff step', async () => {
    const { instances } = fleet;
    await tripAndWait(instances);
    for (const i of instances) i.send({ cmd: 'dependency', up: false });
    await delay(320);
    const results = await loadAll(instances);
    assert.equal(
      results.reduce((sum, r) => sum + r.trials, 0),
      1,
    );
    for (const i of instances) {
      const { snapshot } = await i.ask({ cmd: 'snapshot' }, 'snapshot');
      const s = snapshot as { state: string; openAttempt: number };
      assert.equal(s.state, 'open');
      assert.equal(s.openAttempt, 1);
    }
  });
});
