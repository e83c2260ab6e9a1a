import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latencyBoundsMs, latencyQuantile, TargetTraffic } from '../../src/admin/target-traffic.ts';

test('counts attempts and failures and puts each latency in its bucket', () => {
  const traffic = new TargetTraffic();
  traffic.record(0.2, false);
  traffic.record(12, true);
  traffic.record(90_000, false);
  assert.equal(traffic.attempts, 3);
  assert.equal(traffic.failures, 1);
  assert.equal(traffic.latency[0], 1, '0.2 ms ≤ 0.5 ms');
  assert.equal(traffic.latency[latencyBoundsMs.indexOf(15)], 1, '12 ms in (10, 15]');
  assert.equal(traffic.latency[latencyBoundsMs.length], 1, 'above every bound');
});

test('reads percentiles within their bucket, null without attempts', () => {
  const traffic = new TargetTraffic();
  assert.equal(latencyQuantile(traffic.latency, 0.5), null);
  for (let i = 0; i < 99; i++) traffic.record(4, false); // bucket (3, 5]
  traffic.record(400, false); // bucket (300, 500]
  const p50 = latencyQuantile(traffic.latency, 0.5)!;
  assert.ok(p50 > 3 && p50 <= 5, `p50 ${p50}`);
  const p99 = latencyQuantile(traffic.latency, 0.99)!;
  assert.ok(p99 > 3 && p99 <= 5, `p99 ${p99}: 99 of 100 attempts took ≤ 5 ms`);
  const max = latencyQuantile(traffic.latency, 1)!;
  assert.ok(max > 300 && max <= 500, `p100 ${max}`);
});
