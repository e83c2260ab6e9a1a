import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adaptiveConcurrency } from '../src/adaptive-concurrency.ts';
import { ManualClock } from '../src/clock.ts';
import { TimeoutError } from '../src/errors.ts';
import { offerLoad, quantile, SimulatedService } from './support/overload-simulation.ts';

// A service that runs 50 requests at once, 20 ms each: 2.5 requests per ms at most.
const CAPACITY = 50;
const SERVICE_TIME = 20;
const OVERLOAD = 3 * (CAPACITY / SERVICE_TIME);

function setup() {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    aimd: { latencyThreshold: 2 * SERVICE_TIME },
  });
  const service = new SimulatedService(clock, CAPACITY, SERVICE_TIME);
  return { clock, limiter, service };
}

test('under 3× overload the limit oscillates just under the latency threshold', () => {
  const { clock, limiter, service } = setup();
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  const limits: number[] = [];
  limiter.on('limit', ({ to }) => limits.push(to));
  const steady = offerLoad(clock, limiter, service, OVERLOAD, 20_000);
  assert.ok(limits.length > 0, 'still probing');
  for (const limit of limits) assert.ok(limit >= CAPACITY && limit <= 2.2 * CAPACITY, `${limit}`);
  const goodput = steady.latencies.length / 20_000;
  assert.ok(goodput >= 0.9 * service.throughput, `goodput ${goodput}/ms`);
  assert.ok(quantile(steady.latencies, 0.99) <= 2.5 * SERVICE_TIME);
});

test('the limit falls when the service slows down and recovers when it is well again', () => {
  const { clock, limiter, service } = setup();
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  const healthy = limiter.limit;
  service.capacity = CAPACITY / 2;
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  assert.ok(limiter.limit < 0.6 * healthy, `${healthy} → ${limiter.limit}`);
  service.capacity = CAPACITY;
  offerLoad(clock, limiter, service, OVERLOAD, 10_000);
  assert.ok(limiter.limit >= 0.8 * healthy, `back to ${limiter.limit} of ${healthy}`);
});

test('a timed-out call cuts the limit by the backoff ratio at the end of its window', async () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    initialLimit: 10,
    minSamples: 1,
    window: 0,
    aimd: { backoffRatio: 0.5 },
  });
  await assert.rejects(
    limiter.execute(() => Promise.reject(new TimeoutError(1_000))),
    TimeoutError,
  );
  assert.equal(limiter.limit, 5);
});

test('a window that used under half the limit does not grow it', () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    initialLimit: 10,
    minSamples: 1,
    window: 0,
  });
  for (let i = 0; i < 5; i++) limiter.tryAcquire()?.complete(1);
  assert.equal(limiter.limit, 10);
  const permits = Array.from({ length: 5 }, () => limiter.tryAcquire()!);
  for (const permit of permits) permit.complete(1);
  assert.ok(limiter.limit > 10);
});
