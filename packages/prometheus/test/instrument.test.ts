import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BreakerRegistry,
  BulkheadPolicy,
  CircuitBreaker,
  consecutiveFailures,
  FallbackPolicy,
  InvalidOptionError,
  ignore,
  ManualClock,
  pipeline,
  RetryPolicy,
  TimeoutPolicy,
} from 'breakwater';
import { Counter, Registry } from 'prom-client';
import { instrument } from '../src/index.ts';
import { series } from './support.ts';

const fail = () => Promise.reject(new Error('down'));

/** Runs `ms` of manual time while a call is pending, then settles it with `value`. */
async function slowCall(breaker: CircuitBreaker, clock: ManualClock, ms: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<string>();
  const call = breaker.execute(() => promise);
  clock.advance(ms);
  resolve('ok');
  await call;
}

test('counts each call outcome, transitions and state of a breaker after scripted traffic', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({
    name: 'payments',
    policy: consecutiveFailures(3),
    openDuration: 1_000,
    callTimeout: 500,
    clock,
  });
  const register = new Registry();
  instrument(breaker, { register });

  await slowCall(breaker, clock, 30);
  await slowCall(breaker, clock, 200);
  await assert.rejects(breaker.execute(() => Promise.reject(ignore(new Error('not found')))));
  await assert.rejects(breaker.execute(fail));
  await assert.rejects(breaker.execute(fail));
  const hanging = breaker.execute(() => new Promise(() => {}));
  clock.advance(500); // the third failure in a row is a callTimeout: trips
  await assert.rejects(hanging, { code: 'ERR_TIMEOUT' });
  assert.equal(breaker.state, 'open');
  await assert.rejects(breaker.execute(fail), { code: 'ERR_CIRCUIT_OPEN' });
  await assert.rejects(breaker.execute(fail), { code: 'ERR_CIRCUIT_OPEN' });

  const calls = await series(register, 'breakwater_breaker_calls_total');
  assert.deepEqual(Object.fromEntries(calls), {
    'breaker=payments,outcome=success': 2,
    'breaker=payments,outcome=failure': 2,
    'breaker=payments,outcome=ignored': 1,
    'breaker=payments,outcome=rejected': 2,
    'breaker=payments,outcome=timeout': 1,
  });
  const state = await series(register, 'breakwater_breaker_state');
  assert.equal(state.get('breaker=payments,state=open'), 1);
  assert.equal(state.get('breaker=payments,state=closed'), 0);
  assert.equal(state.get('breaker=payments,state=half-open'), 0);
  assert.equal(state.size, 5, 'one series per state');
  const transitions = await series(register, 'breakwater_breaker_transitions_total');
  assert.equal(transitions.get('breaker=payments,to=open'), 1);
  assert.equal(transitions.get('breaker=payments,to=closed'), 0);

  clock.advance(1_000);
  await breaker.execute(() => Promise.resolve('trial'));
  const after = await series(register, 'breakwater_breaker_transitions_total');
  assert.equal(after.get('breaker=payments,to=half-open'), 1);
  assert.equal(after.get('breaker=payments,to=closed'), 1);
  const stateAfter = await series(register, 'breakwater_breaker_state');
  assert.equal(stateAfter.get('breaker=payments,state=closed'), 1);
  assert.equal(stateAfter.get('breaker=payments,state=open'), 0);
});

test('puts each timed call in its duration bucket, in seconds', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ name: 'search', clock });
  const register = new Registry();
  instrument(breaker, { register });
  await slowCall(breaker, clock, 30); // 0.03 s: in le=0.05 and above, not in le=0.025
  await slowCall(breaker, clock, 200); // 0.2 s: in le=0.25 and above

  const buckets = await series(register, 'breakwater_breaker_call_duration_seconds_bucket');
  assert.equal(buckets.get('breaker=search,le=0.025'), 0);
  assert.equal(buckets.get('breaker=search,le=0.05'), 1);
  assert.equal(buckets.get('breaker=search,le=0.1'), 1);
  assert.equal(buckets.get('breaker=search,le=0.25'), 2);
  assert.equal(buckets.get('breaker=search,le=+Inf'), 2);
  const sum = await series(register, 'breakwater_breaker_call_duration_seconds_sum');
  assert.ok(Math.abs(sum.get('breaker=search')! - 0.23) < 1e-9);
  const count = await series(register, 'breakwater_breaker_call_duration_seconds_count');
  assert.equal(count.get('breaker=search'), 2);
  const text = await register.metrics();
  assert.match(text, /# TYPE breakwater_breaker_call_duration_seconds histogram/);
  assert.match(
    text,
    /breakwater_breaker_call_duration_seconds_bucket\{le="0.05",breaker="search"\} 1/,
  );
});

test('instruments the breakers a registry makes later, and drops the state of deleted ones', async () => {
  const breakers = new BreakerRegistry({ defaults: { policy: consecutiveFailures(1) } });
  await breakers.get('orders').execute(() => Promise.resolve(1));
  const register = new Registry();
  instrument(breakers, { register });

  await breakers.get('orders').execute(() => Promise.resolve(1));
  await assert.rejects(breakers.get('stock').execute(fail)); // made after instrument(): trips
  const calls = await series(register, 'breakwater_breaker_calls_total');
  assert.equal(calls.get('breaker=orders,outcome=success'), 1, 'counts from instrument() on');
  assert.equal(calls.get('breaker=stock,outcome=failure'), 1);
  const state = await series(register, 'breakwater_breaker_state');
  assert.equal(state.get('breaker=stock,state=open'), 1);

  breakers.delete('stock');
  const afterDelete = await series(register, 'breakwater_breaker_state');
  assert.equal(afterDelete.get('breaker=stock,state=open'), undefined);
  assert.equal(afterDelete.get('breaker=orders,state=closed'), 1);
  const kept = await series(register, 'breakwater_breaker_calls_total');
  assert.equal(kept.get('breaker=stock,outcome=failure'), 1, 'counters keep their totals');
});

test('counts retries, give-ups, timeouts, bulkhead rejections and fallbacks by policy name', async () => {
  const clock = new ManualClock();
  const register = new Registry();
  const retries = new RetryPolicy({ maxAttempts: 3, backoff: 0, clock });
  const orEmpty = new FallbackPolicy<string[]>([]);
  const inventory = new CircuitBreaker({ name: 'inventory', policy: consecutiveFailures(10) });
  instrument(pipeline(orEmpty, retries, inventory), { register, name: 'inventory-read' });
  assert.deepEqual(await pipeline(orEmpty, retries, inventory).execute(fail), []);

  const limit = new BulkheadPolicy({ maxConcurrent: 1 });
  instrument(limit, { register, name: 'render' });
  const { promise, resolve } = Promise.withResolvers<void>();
  const running = limit.execute(() => promise);
  await assert.rejects(
    limit.execute(() => Promise.resolve()),
    { code: 'ERR_BULKHEAD_FULL' },
  );
  resolve();
  await running;

  const perAttempt = new TimeoutPolicy(100, { clock });
  instrument(perAttempt, { register, name: 'render' });
  const late = perAttempt.execute(() => new Promise(() => {}));
  clock.advance(100);
  await assert.rejects(late, { code: 'ERR_TIMEOUT' });

  assert.deepEqual(Object.fromEntries(await series(register, 'breakwater_retries_total')), {
    'policy=inventory-read': 2,
  });
  assert.deepEqual(Object.fromEntries(await series(register, 'breakwater_retry_give_ups_total')), {
    'policy=inventory-read': 1,
  });
  assert.deepEqual(Object.fromEntries(await series(register, 'breakwater_fallbacks_total')), {
    'policy=inventory-read': 1,
  });
  assert.deepEqual(
    Object.fromEntries(await series(register, 'breakwater_bulkhead_rejections_total')),
    { 'policy=render': 1 },
  );
  assert.deepEqual(Object.fromEntries(await series(register, 'breakwater_timeouts_total')), {
    'policy=render': 1,
  });
  const calls = await series(register, 'breakwater_breaker_calls_total');
  assert.equal(calls.get('breaker=inventory,outcome=failure'), 3, 'the breaker keeps its own name');
});

test('stops counting on dispose and removes the metrics with the last instrumentation', async () => {
  const register = new Registry();
  const a = new CircuitBreaker({ name: 'a' });
  const b = new CircuitBreaker({ name: 'b' });
  const metricsA = instrument(a, { register });
  const metricsB = instrument(b, { register });
  await a.execute(() => Promise.resolve());
  metricsA.dispose();
  await a.execute(() => Promise.resolve());
  await b.execute(() => Promise.resolve());

  const calls = await series(register, 'breakwater_breaker_calls_total');
  assert.equal(calls.get('breaker=a,outcome=success'), 1, 'no count after dispose');
  assert.equal(calls.get('breaker=b,outcome=success'), 1);
  const state = await series(register, 'breakwater_breaker_state');
  assert.equal(state.get('breaker=a,state=closed'), undefined, 'a disposed breaker has no state');
  assert.equal(state.get('breaker=b,state=closed'), 1);

  metricsB[Symbol.dispose]();
  assert.equal(register.getSingleMetric('breakwater_breaker_calls_total'), undefined);
  assert.deepEqual(await register.getMetricsAsJSON(), []);
  instrument(a, { register }); // and can start again
  assert.notEqual(register.getSingleMetric('breakwater_breaker_calls_total'), undefined);
});

test('names every metric with the prefix given, registering only the families in use', async () => {
  const register = new Registry();
  instrument(new CircuitBreaker({ name: 'a' }), { register, prefix: 'shop_' });
  const names = async () => (await register.getMetricsAsJSON()).map((m) => m.name).sort();
  assert.deepEqual(await names(), [
    'shop_breaker_call_duration_seconds',
    'shop_breaker_calls_total',
    'shop_breaker_state',
    'shop_breaker_transitions_total',
  ]);
  instrument(new RetryPolicy(), { register, prefix: 'shop_', name: 'r' });
  assert.deepEqual(
    (await names()).filter((name) => !name.startsWith('shop_breaker')),
    ['shop_retries_total', 'shop_retry_give_ups_total'],
  );
});

test('refuses a subject it cannot name, a bad prefix, or a registry that has the names', async () => {
  const register = new Registry();
  assert.throws(() => instrument(new CircuitBreaker(), { register }), {
    name: 'InvalidOptionError',
    message: /"name"/,
  });
  assert.throws(() => instrument(new RetryPolicy(), { register }), /"name".*RetryPolicy/);
  assert.throws(
    () => instrument(new CircuitBreaker({ name: 'a' }), { register, prefix: '1bad-' }),
    /"prefix"/,
  );
  assert.throws(
    () => instrument({} as unknown as CircuitBreaker, { register }),
    (error) => error instanceof InvalidOptionError && error.option === 'subject',
  );
  assert.equal(register.getSingleMetric('breakwater_breaker_calls_total'), undefined, 'undone');
  // The proxy's own breakwater_retries_total{upstream} sits beside instrumented breakers…
  new Counter({ name: 'breakwater_retries_total', help: 'mine', registers: [register] });
  instrument(new CircuitBreaker({ name: 'a' }), { register }).dispose();
  // …but a retry policy's counter would take its name.
  assert.throws(
    () => instrument(new RetryPolicy(), { register, name: 'r' }),
    (error) =>
      error instanceof InvalidOptionError && /breakwater_retries_total/.test(error.message),
  );
  const mine = await register.getSingleMetric('breakwater_retries_total')?.get();
  assert.equal(mine?.help, 'mine', 'left alone');
});

test('scraping a bounded registry does not keep its idle breakers alive', async () => {
  const clock = new ManualClock();
  const breakers = new BreakerRegistry({ defaults: {}, clock, idleTimeout: 1_000 });
  breakers.get('idle');
  const register = new Registry();
  instrument(breakers, { register });
  const before = await series(register, 'breakwater_breaker_state');
  assert.equal(before.get('breaker=idle,state=closed'), 1);
  // Scrapes every 600 ms: each reads the state gauge, which must not count as using the breaker.
  for (let i = 0; i < 4; i++) {
    clock.advance(600);
    await series(register, 'breakwater_breaker_state');
  }
  assert.equal(breakers.has('idle'), false, 'unused for 2.4 s with a 1 s idleTimeout');
  const after = await series(register, 'breakwater_breaker_state');
  assert.equal(after.get('breaker=idle,state=closed'), undefined);
});
