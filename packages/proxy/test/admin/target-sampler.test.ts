import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HISTORY_SAMPLES, RECENT_SECONDS, TargetSampler } from '../../src/admin/target-sampler.ts';
import { TargetTraffic } from '../../src/admin/target-traffic.ts';

test('reads attempts per second between samples and errors over the recent window', () => {
  const traffic = new TargetTraffic();
  const sampler = new TargetSampler();
  assert.deepEqual(sampler.sample(traffic, 0), {
    rps: 0,
    errorPercent: 0,
    p50Ms: null,
    p99Ms: null,
  });
  for (let i = 0; i < 20; i++) traffic.record(10, i < 5);
  const reading = sampler.sample(traffic, 2_000); // two seconds later
  assert.equal(reading.rps, 10);
  assert.equal(reading.errorPercent, 25);
  assert.ok(reading.p50Ms !== null && reading.p50Ms > 7.5 && reading.p50Ms <= 10);
  assert.deepEqual(sampler.history, [10]);
});

test(`forgets errors older than ${RECENT_SECONDS} s and keeps ${HISTORY_SAMPLES} samples`, () => {
  const traffic = new TargetTraffic();
  const sampler = new TargetSampler();
  sampler.sample(traffic, 0);
  traffic.record(10, true);
  sampler.sample(traffic, 1_000);
  for (let second = 2; second <= RECENT_SECONDS + 2; second++) {
    traffic.record(10, false);
    sampler.sample(traffic, second * 1_000);
  }
  assert.equal(sampler.last.errorPercent, 0, 'the failure left the window');
  for (let second = 0; second < HISTORY_SAMPLES + 10; second++) {
    sampler.sample(traffic, 100_000 + second * 1_000);
  }
  assert.equal(sampler.history.length, HISTORY_SAMPLES);
});
