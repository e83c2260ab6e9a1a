import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamPool } from '../../src/upstream/upstream-pool.ts';
import { applyTargetStates, targetStates } from '../../src/workers/target-states.ts';

const timeouts = { connect: 1_000, response: 1_000, idle: 1_000 };
const pool = () =>
  UpstreamPool.fromConfig('api', {
    balance: 'round-robin',
    targets: [
      { url: 'http://127.0.0.1:8001', weight: 1 },
      { url: 'http://127.0.0.1:8002', weight: 1 },
    ],
    timeouts,
  });

test("applies the primary's health and drains to the same targets by URL", async () => {
  const primary = pool();
  const worker = pool();
  try {
    primary.targets[0]!.healthy = false;
    primary.targets[1]!.drained = true;
    applyTargetStates(new Map([['api', worker]]), targetStates([primary]));
    assert.deepEqual(
      worker.targets.map((target) => [target.healthy, target.drained]),
      [
        [false, false],
        [true, true],
      ],
    );
  } finally {
    await Promise.all([primary.destroy(), worker.destroy()]);
  }
});

test('skips states of upstreams and targets this process does not have', async () => {
  const worker = pool();
  try {
    applyTargetStates(new Map([['api', worker]]), [
      { upstream: 'other', url: 'http://127.0.0.1:8001', healthy: false, drained: true },
      { upstream: 'api', url: 'http://127.0.0.1:9999', healthy: false, drained: true },
    ]);
    assert.ok(worker.targets.every((target) => target.healthy && !target.drained));
  } finally {
    await worker.destroy();
  }
});
