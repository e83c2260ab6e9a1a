import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, sleep, systemClock } from 'breakwater';

describe('ManualClock', () => {
  it('fires timers in due order, ties in the order they were set', () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@20'), 20);
    clock.advance(15);
    assert.deepEqual(fired, ['a@10']);
    clock.advance(5);
    assert.deepEqual(fired, ['a@10', 'b@20', 'c@20']);
    assert.equal(clock.pendingTimers, 0);
  });

  it('runs each timer at its own due time, including timers set while advancing', () => {
    const clock = new ManualClock(100);
    const seen: number[] = [];
    clock.setTimeout(() => {
      seen.push(clock.now());
      clock.setTimeout(() => seen.push(clock.now()), 5);
    }, 10);
    clock.advance(50);
    assert.deepEqual(seen, [110, 115]);
    assert.equal(clock.now(), 150);
  });

  it('does not fire a cleared timer', () => {
    const clock = new ManualClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 1);
    clock.clearTimeout(handle);
    clock.advance(10);
    assert.equal(fired, false);
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses to go back in time', () => {
    const clock = new ManualClock(50);
    assert.throws(() => clock.advanceTo(49), RangeError);
  });
});

describe('sleep', () => {
  it('resolves after the given time on the clock', async () => {
    const clock = new ManualClock();
    let done = false;
    const sleeping = sleep(clock, 100).then(() => {
      done = true;
    });
    await clock.tick(99);
    assert.equal(done, false);
    await clock.tick(1);
    await sleeping;
    assert.equal(done, true);
  });

  it('rejects with the abort reason and leaves no timer behind', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const sleeping = sleep(clock, 1_000, controller.signal);
    assert.equal(clock.pendingTimers, 1);
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(sleeping, (error) => error === reason);
    assert.equal(clock.pendingTimers, 0);
  });

  it('rejects at once on an already aborted signal, setting no timer', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(sleep(clock, 10, controller.signal), { name: 'AbortError' });
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('systemClock', () => {
  it('reads monotonic time and cancels its timers', () => {
    const before = systemClock.now();
    assert.ok(systemClock.now() >= before);
    const handle = systemClock.setTimeout(() => assert.fail('cleared timer fired'), 1);
    systemClock.clearTimeout(handle);
  });

  it('does not fire a timer longer than a 32-bit delay at once', async () => {
    let fired = false;
    const handle = systemClock.setTimeout(() => {
      fired = true;
    }, 2 ** 32);
    await new Promise((resolve) => setTimeout(resolve, 20));
    systemClock.clearTimeout(handle);
    assert.equal(fired, false, 'Node turns an overlong delay into 1 ms unless it is capped');
  });
});
