import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LeastConnectionsBalancer } from '../../../src/upstream/balancers/least-connections.ts';
import { request, type TestTarget, target } from '../../support/balancing.ts';

test('picks the target with the fewest active requests', () => {
  const balancer = new LeastConnectionsBalancer();
  const targets = [target('a', 1, 4), target('b', 1, 1), target('c', 1, 3)];
  for (let i = 0; i < 5; i++) assert.equal(balancer.pick(targets, request())?.id, 'b');
});

test('divides active requests by weight', () => {
  const balancer = new LeastConnectionsBalancer();
  // a: 6/3 = 2 per unit of weight, b: 3/1 = 3.
  const targets = [target('a', 3, 6), target('b', 1, 3)];
  assert.equal(balancer.pick(targets, request())?.id, 'a');
});

test('breaks ties round robin', () => {
  const balancer = new LeastConnectionsBalancer();
  const targets = [target('a'), target('b'), target('c')];
  const picks = Array.from({ length: 6 }, () => balancer.pick(targets, request())?.id).join('');
  assert.equal(picks, 'abcabc');
});

test('spreads load evenly as picks add in-flight requests', () => {
  const balancer = new LeastConnectionsBalancer<TestTarget>();
  const targets = [target('a', 2), target('b', 1), target('c', 1)];
  for (let i = 0; i < 400; i++) {
    const chosen = balancer.pick(targets, request());
    assert.ok(chosen);
    chosen.activeRequests++;
  }
  assert.deepEqual(
    targets.map((t) => t.activeRequests),
    [200, 100, 100],
  );
});

test('returns undefined for no candidates', () => {
  assert.equal(new LeastConnectionsBalancer().pick([], request()), undefined);
});
