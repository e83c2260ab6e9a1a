import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adaptiveConcurrency } from '../src/adaptive-concurrency.ts';
import { ManualClock } from '../src/clock.ts';
import { noLimit, offerLoad, quantile, SimulatedService } from './support/overload-simulation.ts';

// A service that runs 50 requests at once, 20 ms each: 2.5 requests per ms at most.
const CAPACITY = 50;
const SERVICE_TIME = 20;
const OVERLOAD = 3 * (CAPACITY / SERVICE_TIME);

function setup() {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({ clock });
  const service = new SimulatedService(clock, CAPACITY, SERVICE_TIME);
  return { clock, limiter, service };
}

test('under 3× overload the limit settles near capacity, keeping goodput and latency', () => {
  const { clock, limiter, service } = setup();
  offerLoad(clock, limiter, service, OVERLOAD, 10_000); // ramp up from the initial 20
  const settled = limiter.limit;
  assert.ok(settled >= CAPACITY && settled <= 2 * CAPACITY, `limit ${settled}`);
  const steady = offerLoad(clock, limiter, service, OVERLOAD, 20_000);
  const goodput = steady.latencies.length / 20_000;
  assert.ok(goodput >= 0.9 * service.throughput, `goodput ${goodput}/ms`);
  const p99 = quantile(steady.latencies, 0.99);
  assert.ok(p99 <= 2 * SERVICE_TIME, `p99 ${p99} ms`);
  // No drift: a long overload doesn't teach the limiter that queueing is normal.
  assert.ok(Math.abs(limiter.limit - settled) <= 0.1 * settled, `${settled} → ${limiter.limit}`);
});

test('without a limit the same overload queues and latency grows without bound', () => {
  const clock = new ManualClock();
  const service = new SimulatedService(clock, CAPACITY, SERVICE_TIME);
  const first = offerLoad(clock, noLimit, service, OVERLOAD, 2_000);
  const second = offerLoad(clock, noLimit, service, OVERLOAD, 2_000);
  const p99 = quantile(first.latencies, 0.99);
  assert.ok(p99 > 25 * SERVICE_TIME, `p99 ${p99} ms`);
  // Requests offered in the next two seconds all wait longer than those two seconds.
  assert.equal(second.latencies.length, 0);
});

test('the limit falls when the service slows down and recovers when it is well again', () => {
  const { clock, limiter, service } = setup();
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  const healthy = limiter.limit;
  service.capacity = CAPACITY / 2;
  offerLoad(clock, limiter, service, OVERLOAD, 2_000);
  const degraded = offerLoad(clock, limiter, service, OVERLOAD, 5_000);
  assert.ok(limiter.limit < 0.6 * healthy, `${healthy} → ${limiter.limit}`);
  const p99 = quantile(degraded.latencies, 0.99);
  assert.ok(p99 <= 2 * SERVICE_TIME, `p99 ${p99} ms once adapted`);
  service.capacity = CAPACITY;
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  assert.ok(limiter.limit >= 0.9 * healthy, `back to ${limiter.limit} of ${healthy}`);
});

test('when load drops below capacity nothing is rejected and latency is back to unloaded', () => {
  const { clock, limiter, service } = setup();
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  const light = offerLoad(clock, limiter, service, 0.5 * service.throughput, 5_000);
  assert.equal(light.rejected, 0);
  assert.equal(quantile(light.latencies, 0.99), SERVICE_TIME);
});
