import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeastRequestBalancer } from '../../../src/upstream/balancers/least-request.ts';
import { request, seededRandom, type TestTarget, tally, target } from '../../support/balancing.ts';

test('of the two drawn candidates, takes the one with fewer active requests', () => {
  // Draws index 0 (0.1 × 3), then offset 1 of the remaining two (0.6 × 2) → index 2.
  const draws = [0.1, 0.6];
  const balancer = new LeastRequestBalancer({ random: () => draws.shift() ?? 0 });
  const targets = [target('a', 1, 5), target('b', 1, 0), target('c', 1, 2)];
  assert.equal(balancer.pick(targets, request())?.id, 'c');
});

test('never draws the same candidate twice', () => {
  // Both draws return 0: the second choice is the next position, not the same one.
  const balancer = new LeastRequestBalancer({ random: () => 0 });
  const targets = [target('a', 1, 3), target('b', 1, 1)];
  assert.equal(balancer.pick(targets, request())?.id, 'b');
});

test('avoids a loaded target nearly always, with two choices among many', () => {
  const balancer = new LeastRequestBalancer({ random: seededRandom(7) });
  const targets = [target('busy', 1, 100), ...['a', 'b', 'c', 'd'].map((id) => target(id))];
  const counts = tally(() => balancer.pick(targets, request()), 2000);
  assert.equal(counts.get('busy') ?? 0, 0);
  for (const id of ['a', 'b', 'c', 'd']) {
    const share = (counts.get(id) ?? 0) / 2000;
    assert.ok(share > 0.2 && share < 0.3, `${id} got ${share}`);
  }
});

test('keeps in-flight counts balanced as picks add load', () => {
  const balancer = new LeastRequestBalancer<TestTarget>({ random: seededRandom(11) });
  const targets = ['a', 'b', 'c', 'd', 'e'].map((id) => target(id));
  for (let i = 0; i < 1000; i++) {
    const chosen = balancer.pick(targets, request());
    assert.ok(chosen && targets.includes(chosen));
    chosen.activeRequests++;
  }
  const loads = targets.map((t) => t.activeRequests);
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 10, `loads ${loads.join(',')}`);
});

test('returns the only candidate, and undefined for none', () => {
  const balancer = new LeastRequestBalancer();
  const only = target('only', 1, 50);
  assert.equal(balancer.pick([only], request()), only);
  assert.equal(balancer.pick([], request()), undefined);
});
