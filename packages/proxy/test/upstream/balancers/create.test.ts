import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from 'breakwater';
import { balanceKinds } from '../../../src/config/choices.ts';
import { ConsistentHashBalancer } from '../../../src/upstream/balancers/consistent-hash.ts';
import { createBalancer } from '../../../src/upstream/balancers/create.ts';
import { LeastConnectionsBalancer } from '../../../src/upstream/balancers/least-connections.ts';
import { LeastRequestBalancer } from '../../../src/upstream/balancers/least-request.ts';
import { PeakEwmaBalancer } from '../../../src/upstream/balancers/peak-ewma.ts';
import { RandomBalancer } from '../../../src/upstream/balancers/random.ts';
import { RoundRobinBalancer } from '../../../src/upstream/balancers/round-robin.ts';
import { WeightedRoundRobinBalancer } from '../../../src/upstream/balancers/weighted-round-robin.ts';
import { request, target } from '../../support/balancing.ts';

test('builds the balancer each kind names', () => {
  const expected = {
    'round-robin': RoundRobinBalancer,
    'weighted-round-robin': WeightedRoundRobinBalancer,
    'least-connections': LeastConnectionsBalancer,
    'least-request': LeastRequestBalancer,
    random: RandomBalancer,
    'consistent-hash': ConsistentHashBalancer,
    'peak-ewma': PeakEwmaBalancer,
  };
  for (const balance of balanceKinds) {
    const balancer = createBalancer({ balance });
    assert.ok(balancer instanceof expected[balance], balance);
    const targets = [target('a', 2), target('b', 1)];
    const chosen = balancer.pick(targets, request());
    assert.ok(chosen && targets.includes(chosen), balance);
    assert.equal(balancer.pick([], request()), undefined, balance);
  }
});

test('passes the random source to the random kinds', () => {
  const balancer = createBalancer({ balance: 'random', random: () => 0.9 });
  assert.equal(balancer.pick([target('a'), target('b')], request())?.id, 'b');
});

test('hashes on hashOn, defaulting to the client address', () => {
  const targets = Array.from({ length: 8 }, (_, i) => target(`t${i}`));
  const byCookie = createBalancer({ balance: 'consistent-hash', hashOn: 'cookie:sid' });
  const seen = new Set<string | undefined>();
  for (let i = 0; i < 20; i++) {
    seen.add(byCookie.pick(targets, request({ headers: { cookie: `sid=${i}` } }))?.id);
  }
  assert.ok(seen.size > 1, 'different cookies reach different targets');
  const byDefault = createBalancer({ balance: 'consistent-hash' });
  const client = request({ remoteAddress: '203.0.113.9' });
  const first = byDefault.pick(targets, client);
  for (let i = 0; i < 10; i++) assert.equal(byDefault.pick(targets, client), first);
});

test('rejects a bad hashOn with a clear error', () => {
  assert.throws(() => createBalancer({ balance: 'consistent-hash', hashOn: 'query:id' }), {
    code: 'ERR_INVALID_OPTION',
    message: /hashOn.*"query:id"/,
  });
});

test('rejects hashOn given with a balancer that would ignore it', () => {
  assert.throws(() => createBalancer({ balance: 'round-robin', hashOn: 'ip' }), {
    code: 'ERR_INVALID_OPTION',
    message: /consistent-hash/,
  });
});

test('rejects an unknown balance kind', () => {
  assert.throws(() => createBalancer({ balance: 'fastest' as unknown as 'random' }), {
    code: 'ERR_INVALID_OPTION',
    message: /"fastest"/,
  });
});

test('passes decay to peak-ewma and rejects it with any other balancer', () => {
  const balancer = createBalancer({ balance: 'peak-ewma', decay: 2_000 });
  assert.ok(balancer instanceof PeakEwmaBalancer);
  assert.equal(balancer.decay, 2_000);
  assert.throws(
    () => createBalancer({ balance: 'least-request', decay: 2_000 }),
    (error: unknown) => error instanceof InvalidOptionError && error.option === 'decay',
  );
});
