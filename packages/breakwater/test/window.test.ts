import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountWindow, InvalidOptionError, TimeWindow } from 'breakwater';
import { createWindow } from '../src/window.ts';

describe('CountWindow', () => {
  it('keeps totals of the last N outcomes, forgetting the oldest', () => {
    const window = new CountWindow(3);
    window.record(0, true, false);
    window.record(0, true, true);
    window.record(0, false, true);
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [3, 2, 2]);
    window.record(0, false, false); // pushes out the first failure
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [3, 1, 2]);
    window.record(0, false, false);
    window.record(0, false, false);
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [3, 0, 0]);
  });

  it('stays consistent over many wraps', () => {
    const window = new CountWindow(7);
    const history: boolean[] = [];
    for (let i = 0; i < 1_000; i++) {
      const failed = (i * 7919) % 5 < 2;
      window.record(i, failed, false);
      history.push(failed);
    }
    const expected = history.slice(-7).filter(Boolean).length;
    assert.equal(window.failures, expected);
    assert.equal(window.calls, 7);
  });

  it('empties on reset', () => {
    const window = new CountWindow(2);
    window.record(0, true, true);
    window.reset();
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [0, 0, 0]);
    window.record(0, true, false);
    window.record(0, false, false);
    window.record(0, false, false);
    assert.equal(window.failures, 0);
  });
});

describe('TimeWindow', () => {
  it('forgets outcomes older than the window', () => {
    const window = new TimeWindow(1_000, 10);
    window.record(0, true, false);
    window.record(50, true, false);
    window.record(500, false, false);
    assert.deepEqual([window.calls, window.failures], [3, 2]);
    window.record(1_050, false, false); // the 0–99 slice has slid out
    assert.deepEqual([window.calls, window.failures], [2, 0]);
    window.record(1_550, false, true);
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [2, 0, 1]);
  });

  it('forgets everything after a long quiet spell', () => {
    const window = new TimeWindow(1_000, 4);
    for (let t = 0; t < 1_000; t += 10) window.record(t, true, true);
    window.record(10_000, false, false);
    assert.deepEqual([window.calls, window.failures, window.slowCalls], [1, 0, 0]);
  });

  it('tolerates a clock that steps back by counting into the current slice', () => {
    const window = new TimeWindow(1_000, 10);
    window.record(500, true, false);
    window.record(400, true, false);
    assert.deepEqual([window.calls, window.failures], [2, 2]);
  });

  it('empties on reset', () => {
    const window = new TimeWindow(100, 2);
    window.record(0, true, false);
    window.reset(10);
    window.record(20, false, false);
    assert.deepEqual([window.calls, window.failures], [1, 0]);
  });
});

describe('createWindow', () => {
  it('builds the window its options describe', () => {
    assert.ok(createWindow('w', { calls: 5 }) instanceof CountWindow);
    assert.ok(createWindow('w', { duration: 100 }) instanceof TimeWindow);
    assert.equal(createWindow('w', { calls: 5 }).capacity, 5);
  });

  it('rejects bad windows, naming the field', () => {
    const bad: Array<[string, unknown]> = [
      ['w', undefined],
      ['w', { calls: 5, duration: 10 }],
      ['w.calls', { calls: 0 }],
      ['w.duration', { duration: -1 }],
      ['w.buckets', { duration: 100, buckets: 0.5 }],
      ['w', 12],
    ];
    for (const [option, value] of bad) {
      assert.throws(
        () => createWindow('w', value),
        (error) => error instanceof InvalidOptionError && error.option === option,
        option,
      );
    }
  });
});
