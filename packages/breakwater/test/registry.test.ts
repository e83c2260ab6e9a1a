import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { ManualClock } from '../src/clock.ts';
import { CircuitOpenError, InvalidOptionError } from '../src/errors.ts';
import type { FailurePolicy } from '../src/failure-policy.ts';
import { consecutiveFailures } from '../src/policies/consecutive.ts';
import { BreakerRegistry } from '../src/registry.ts';

const fail = () => Promise.reject(new Error('down'));

test('makes a named breaker on first use and returns the same one after', () => {
  const registry = new BreakerRegistry({ defaults: { policy: consecutiveFailures(2) } });
  assert.equal(registry.has('orders'), false);
  const breaker = registry.get('orders');
  assert.ok(breaker instanceof CircuitBreaker);
  assert.equal(breaker.name, 'orders');
  assert.equal(registry.get('orders'), breaker);
  assert.equal(registry.has('orders'), true);
  assert.equal(registry.size, 1);
});

test('gives each breaker its own failure window', async () => {
  const clock = new ManualClock();
  const registry = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(2), openDuration: 1_000 },
    clock,
  });
  const orders = registry.get('orders');
  const users = registry.get('users');
  await assert.rejects(orders.execute(fail));
  await assert.rejects(users.execute(fail));
  assert.equal(orders.state, 'closed', 'one failure each: neither trips');
  await assert.rejects(orders.execute(fail));
  assert.equal(orders.state, 'open');
  assert.equal(users.state, 'closed');
});

test('applies per-name overrides over the defaults, merging halfOpen', async () => {
  const clock = new ManualClock();
  const registry = new BreakerRegistry({
    defaults: {
      policy: consecutiveFailures(1),
      openDuration: 1_000,
      halfOpen: { maxCalls: 1, successesToClose: 2 },
    },
    overrides: { payments: { openDuration: 60_000, halfOpen: { maxCalls: 3 } } },
    clock,
  });
  const payments = registry.get('payments');
  const search = registry.get('search');
  await assert.rejects(payments.execute(fail));
  await assert.rejects(search.execute(fail));
  clock.advance(1_000);
  assert.equal(search.state, 'half-open');
  assert.equal(payments.state, 'open');
  await assert.rejects(
    payments.execute(() => 'x'),
    (e: unknown) => {
      return e instanceof CircuitOpenError && e.retryAfter === 59_000 && e.breaker === 'payments';
    },
  );
  clock.advance(59_000);
  // Three trial slots from the override; two successes to close from the defaults.
  const gates = [0, 1, 2].map(() => Promise.withResolvers<string>());
  const trials = gates.map((gate) => payments.execute(() => gate.promise));
  await assert.rejects(
    payments.execute(() => 'fourth'),
    CircuitOpenError,
  );
  gates[0]?.resolve('a');
  await trials[0];
  assert.equal(payments.state, 'half-open');
  gates[1]?.resolve('b');
  await trials[1];
  assert.equal(payments.state, 'closed');
  gates[2]?.resolve('c');
  await trials[2];
});

test('lists every breaker with its snapshot, in creation order', async () => {
  const registry = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(1) },
    clock: new ManualClock(),
  });
  registry.get('b');
  await assert.rejects(registry.get('a').execute(fail));
  const rows = registry.list();
  assert.deepEqual(
    rows.map((r) => [r.name, r.snapshot.name, r.snapshot.state]),
    [
      ['b', 'b', 'closed'],
      ['a', 'a', 'open'],
    ],
  );
  assert.deepEqual(
    [...registry.entries()].map(([name, breaker]) => [name, breaker.name]),
    [
      ['b', 'b'],
      ['a', 'a'],
    ],
  );
});

test('delete forgets a breaker and the next get makes a fresh one', async () => {
  const registry = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(1) },
    clock: new ManualClock(),
  });
  const old = registry.get('upstream-1');
  await assert.rejects(old.execute(fail));
  assert.equal(registry.delete('upstream-1'), true);
  assert.equal(registry.delete('upstream-1'), false);
  assert.equal(registry.has('upstream-1'), false);
  const fresh = registry.get('upstream-1');
  assert.notEqual(fresh, old);
  assert.equal(fresh.state, 'closed');
});

test('announces each breaker it makes, once', () => {
  const registry = new BreakerRegistry({ defaults: {} });
  const made: string[] = [];
  registry.on('created', ({ name, breaker }) => made.push(`${name}:${breaker.name}`));
  registry.get('a');
  registry.get('a');
  registry.get('b');
  assert.deepEqual(made, ['a:a', 'b:b']);
});

test('checks defaults and overrides when built, naming the full path', () => {
  const bad = (options: ConstructorParameters<typeof BreakerRegistry>[0], option: string) =>
    assert.throws(
      () => new BreakerRegistry(options),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      option,
    );
  bad({ defaults: { openDuration: -1 } }, 'defaults.openDuration');
  bad(
    { defaults: {}, overrides: { api: { halfOpen: { maxCalls: 0 } } } },
    'overrides.api.halfOpen.maxCalls',
  );
  bad({ defaults: {}, overrides: { api: { name: 'other' } } }, 'overrides.api.name');
  bad({ defaults: { name: 'shared' } }, 'defaults.name');
  const unclonable: FailurePolicy = {
    recordSuccess: () => false,
    recordFailure: () => true,
    reset: () => {},
  };
  bad({ defaults: { policy: unclonable } }, 'defaults.policy');
  assert.throws(() => new BreakerRegistry({ defaults: {} }).get(''), InvalidOptionError);
});

test('the registry error keeps the breaker wording with the full path', () => {
  assert.throws(
    () => new BreakerRegistry({ defaults: {}, overrides: { api: { openDuration: -1 } } }),
    { message: /^Invalid option "overrides\.api\.openDuration": expected .*received -1$/ },
  );
});

test('maxSize evicts the least recently used breaker and announces it', () => {
  const registry = new BreakerRegistry({ defaults: {}, maxSize: 2, clock: new ManualClock() });
  const evicted: string[] = [];
  registry.on('evicted', ({ name, reason }) => evicted.push(`${name}:${reason}`));
  const a = registry.get('a');
  registry.get('b');
  assert.equal(registry.get('a'), a, 'using a makes b the least recently used');
  registry.get('c');
  assert.deepEqual(evicted, ['b:size']);
  assert.equal(registry.size, 2);
  assert.equal(registry.has('b'), false);
  assert.equal(registry.get('a'), a);
  assert.deepEqual(
    registry.list().map((row) => row.name),
    ['c', 'a'],
  );
});

test('idleTimeout forgets breakers unused for that long, measured on the clock', async () => {
  const clock = new ManualClock();
  const registry = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(1), openDuration: 1_000 },
    idleTimeout: 60_000,
    clock,
  });
  const evicted: string[] = [];
  registry.on('evicted', ({ name, reason }) => evicted.push(`${name}:${reason}`));
  const idle = registry.get('idle');
  await assert.rejects(idle.execute(fail));
  clock.advance(30_000);
  registry.get('busy');
  clock.advance(30_000);
  assert.equal(registry.has('idle'), false, 'idle for 60 s');
  assert.equal(registry.has('busy'), true, 'used 30 s ago');
  assert.deepEqual(evicted, ['idle:idle']);
  const fresh = registry.get('idle');
  assert.notEqual(fresh, idle);
  assert.equal(fresh.state, 'closed');
  assert.equal(clock.pendingTimers, 0, 'no timer keeps watch over idle breakers');
});

test('refuses unknown option names and bad bounds, naming the option', () => {
  assert.throws(() => new BreakerRegistry({ defaults: {}, maxsize: 5 } as never), {
    code: 'ERR_INVALID_OPTION',
    option: 'maxsize',
  });
  assert.throws(() => new BreakerRegistry({ defaults: {}, maxSize: 0 }), { option: 'maxSize' });
  assert.throws(() => new BreakerRegistry({ defaults: {}, maxSize: 1.5 }), { option: 'maxSize' });
  assert.throws(() => new BreakerRegistry({ defaults: {}, idleTimeout: -1 }), {
    option: 'idleTimeout',
  });
  assert.doesNotThrow(() => new BreakerRegistry({ defaults: {}, maxSize: Infinity }));
});

test('a bounded registry refuses a bad name before evicting anything for it', () => {
  const registry = new BreakerRegistry({ defaults: {}, maxSize: 1 });
  const kept = registry.get('kept');
  assert.throws(() => registry.get(''), { code: 'ERR_INVALID_OPTION', option: 'name' });
  assert.equal(registry.get('kept'), kept);
});

test('entries of a bounded registry visit each breaker once, even when the loop uses them', () => {
  // A bounded registry reorders on every get; iterating its live map while calling get (a
  // dashboard touching each breaker) would visit the moved entries again, without end.
  const registry = new BreakerRegistry({ defaults: {}, maxSize: 10, clock: new ManualClock() });
  registry.get('a');
  registry.get('b');
  const visited: string[] = [];
  for (const [name] of registry.entries()) {
    registry.get(name);
    visited.push(name);
    if (visited.length > 4) break;
  }
  assert.deepEqual(visited, ['a', 'b']);
});
