import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { CircuitBreaker, consecutiveFailures, ManualClock, type SyncTransport } from 'breakwater';
import { clusterSync } from 'breakwater/cluster';

// This process is a node:cluster primary with no workers: its transports share the hub in-process.
describe('clusterSync in the primary: the trial lease of a breaker replaced in its process', () => {
  it('a breaker disposed after another of its name replaced it gives back only its own lease', async () => {
    const clock = new ManualClock();
    const here = clusterSync({ instanceId: 'here', clock, log: () => {} });
    const there = clusterSync({ instanceId: 'there', clock, log: () => {} });
    const make = (sync: SyncTransport) =>
      new CircuitBreaker({
        name: 'replaced',
        clock,
        sync,
        policy: consecutiveFailures(1),
        openDuration: 1_000,
        halfOpen: { maxDuration: 30_000 },
      });
    const old = make(here);
    const other = make(there);
    await tick();
    assert.throws(() =>
      old.executeSync(() => {
        throw new Error('down');
      }),
    );
    await tick();
    clock.advance(1_000);
    assert.ok(old.tryAcquire(), 'the old breaker holds the lease');
    // The process replaces it (a config reload): the new one first, then the old one disposed.
    const successor = make(here);
    await tick();
    assert.equal(successor.tryAcquire(), undefined, 'the old one’s trial is still running');
    old.dispose();
    clock.advance(1_000);
    const trial = successor.tryAcquire();
    assert.ok(trial, 'given back, the lease goes to the next asker');
    assert.equal(other.tryAcquire(), undefined, 'one trial in the fleet');
    old.dispose();
    clock.advance(1_000);
    assert.equal(other.tryAcquire(), undefined, 'still one: the successor’s lease is its own');
    trial.success();
    await tick();
    assert.equal(other.state, 'closed');
    successor.dispose();
    other.dispose();
  });
});
