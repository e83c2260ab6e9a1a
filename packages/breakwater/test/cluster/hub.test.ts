import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type SyncTransition } from 'breakwater';
import { SyncHub } from '../../src/cluster/hub.ts';

function open(epoch: number, origin: string, remainingOpenMs = 1_000): SyncTransition {
  return {
    kind: 'transition',
    name: 'payments',
    epoch,
    origin,
    state: 'open',
    openAttempt: 0,
    lastOpenDuration: 1_000,
    remainingOpenMs,
  };
}

describe('SyncHub', () => {
  it('forwards a newer transition and answers an older one with the stored winner', () => {
    const clock = new ManualClock();
    const hub = new SyncHub(clock);
    assert.equal(hub.publish(open(2, 'a'))?.forward?.epoch, 2);
    clock.advance(300);
    const stale = hub.publish(open(1, 'b'));
    assert.equal(stale?.forward, undefined);
    assert.deepEqual(stale?.reply, open(2, 'a', 700));
    assert.equal(hub.publish(open(2, 'c'))?.forward?.epoch, 2, 'same epoch, higher origin wins');
  });

  it('refuses what is not a sync message', () => {
    const hub = new SyncHub(new ManualClock());
    assert.equal(hub.publish({ kind: 'transition', name: 'x' }), undefined);
    assert.equal(hub.publish('open'), undefined);
  });

  it('lends the trial lease of an epoch to one holder until it runs out', () => {
    const clock = new ManualClock();
    const hub = new SyncHub(clock);
    hub.publish(open(3, 'a'));
    assert.deepEqual(hub.lease('payments', 3, 500, 'a'), { granted: true, retryInMs: 0 });
    assert.deepEqual(hub.lease('payments', 3, 500, 'b'), { granted: false, retryInMs: 500 });
    assert.deepEqual(hub.lease('payments', 2, 500, 'c'), { granted: false, retryInMs: 0 });
    clock.advance(500);
    assert.equal(hub.lease('payments', 3, 500, 'b').granted, true);
  });

  it('takes back a lease its holder gives up, and only from its holder, for its epoch', () => {
    const clock = new ManualClock();
    const hub = new SyncHub(clock);
    hub.publish(open(3, 'a'));
    assert.equal(hub.lease('payments', 3, 60_000, 'a').granted, true);
    hub.release('payments', 3, 'b');
    hub.release('payments', 2, 'a');
    hub.release('other', 3, 'a');
    assert.deepEqual(hub.lease('payments', 3, 60_000, 'b'), { granted: false, retryInMs: 60_000 });
    hub.release('payments', 3, 'a');
    assert.deepEqual(hub.lease('payments', 3, 60_000, 'b'), { granted: true, retryInMs: 0 });
    assert.equal(hub.lease('payments', 3, 60_000, 'a').granted, false, 'now b holds it');
  });

  it('merges counts of the current epoch only, keeping the highest per instance', () => {
    const hub = new SyncHub(new ManualClock());
    hub.publish(open(1, 'a'));
    const counts = (epoch: number, n: number) => ({
      kind: 'counts',
      name: 'payments',
      epoch,
      origin: 'a',
      counts: { 'a|s': n },
    });
    hub.publish(counts(1, 5));
    hub.publish(counts(1, 3));
    assert.equal(hub.publish(counts(0, 9))?.forward, undefined);
    const [, merged] = hub.read('payments');
    assert.deepEqual(merged?.kind === 'counts' && merged.counts, { 'a|s': 5 });
  });
});
