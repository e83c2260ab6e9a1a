import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { coalesce } from '../../src/workers/coalesce.ts';

/** A collection the test settles by hand; `runs` lists every one started. */
function manual() {
  const runs: { resolve(value: number): void; reject(error: Error): void }[] = [];
  const collect = () =>
    new Promise<number>((resolve, reject) => {
      runs.push({ resolve, reject });
    });
  return { runs, collect };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('coalesce', () => {
  test('callers that come while a run is out share the next run, not the one already asked', async () => {
    const { runs, collect } = manual();
    const shared = coalesce(collect);
    const first = shared();
    const later = [shared(), shared(), shared()];
    assert.equal(runs.length, 1);
    runs[0]?.resolve(1);
    assert.equal(await first, 1);
    await tick();
    assert.equal(runs.length, 2, 'the waiting callers started one more run');
    runs[1]?.resolve(2);
    assert.deepEqual(await Promise.all(later), [2, 2, 2]);
  });

  test('a failed run fails only its own callers; the next call starts afresh', async () => {
    const { runs, collect } = manual();
    const shared = coalesce(collect);
    const failing = shared();
    runs[0]?.reject(new Error('no answer'));
    await assert.rejects(failing, /no answer/);
    const next = shared();
    assert.equal(runs.length, 2);
    runs[1]?.resolve(3);
    assert.equal(await next, 3);
  });

  test('the callers waiting behind a failed run still get a run of their own', async () => {
    const { runs, collect } = manual();
    const shared = coalesce(collect);
    const failing = shared();
    const waiting = shared();
    runs[0]?.reject(new Error('no answer'));
    await assert.rejects(failing);
    await tick();
    runs[1]?.resolve(4);
    assert.equal(await waiting, 4);
  });
});
