import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from 'breakwater';
import { RestartBackoff } from '../../src/workers/restart-backoff.ts';

test('replaces a first crash at once and doubles the wait for crashes close together', () => {
  const clock = new ManualClock();
  const backoff = new RestartBackoff(clock);
  assert.deepEqual(
    [backoff.crashed(), backoff.crashed(), backoff.crashed(), backoff.crashed()],
    [0, 100, 200, 400],
  );
});

test('caps the wait at 10 s', () => {
  const backoff = new RestartBackoff(new ManualClock());
  let delay = 0;
  for (let i = 0; i < 20; i++) delay = backoff.crashed();
  assert.equal(delay, 10_000);
});

test('reports a crash loop at five crashes within a minute, and forgets it a minute later', () => {
  const clock = new ManualClock();
  const backoff = new RestartBackoff(clock);
  for (let i = 0; i < 4; i++) backoff.crashed();
  assert.equal(backoff.crashLoop, false);
  backoff.crashed();
  assert.equal(backoff.crashLoop, true);
  clock.advance(60_000);
  assert.equal(backoff.crashLoop, false);
  assert.equal(backoff.crashed(), 0, 'an old crash no longer lengthens the wait');
});
