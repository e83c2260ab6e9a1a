import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WeightedRoundRobinBalancer } from '../../../src/upstream/balancers/weighted-round-robin.ts';
import { request, tally, target } from '../../support/balancing.ts';

test('weights 5, 1, 1 give the smooth sequence a a b a c a a', () => {
  const balancer = new WeightedRoundRobinBalancer();
  const targets = [target('a', 5), target('b', 1), target('c', 1)];
  const picks = Array.from({ length: 14 }, () => balancer.pick(targets, request())?.id).join(' ');
  assert.equal(picks, 'a a b a c a a a a b a c a a');
});

test('equal weights degrade to plain round robin', () => {
  const balancer = new WeightedRoundRobinBalancer();
  const targets = [target('a'), target('b'), target('c')];
  const picks = Array.from({ length: 6 }, () => balancer.pick(targets, request())?.id).join('');
  assert.equal(picks, 'abcabc');
});

test('shares follow weights exactly over a full cycle', () => {
  const balancer = new WeightedRoundRobinBalancer();
  const targets = [target('a', 3), target('b', 2), target('c', 5)];
  const counts = tally(() => balancer.pick(targets, request()), 1000);
  assert.deepEqual(Object.fromEntries(counts), { a: 300, b: 200, c: 500 });
});

test('state follows target ids when the candidate array changes', () => {
  const balancer = new WeightedRoundRobinBalancer();
  const a = target('a', 5);
  const b = target('b', 1);
  const c = target('c', 1);
  // A fresh array per request, as a proxy filtering eligible targets would pass.
  const picks = Array.from({ length: 7 }, () => balancer.pick([a, b, c], request())?.id);
  assert.equal(picks.join(''), 'aabacaa');
  // With c ejected, only a and b are returned, still in weight proportion 5:1.
  const counts = tally(() => balancer.pick([a, b], request()), 600);
  assert.deepEqual(Object.fromEntries(counts), { a: 500, b: 100 });
});

test('forgets departed targets so churn does not grow its state without bound', () => {
  const balancer = new WeightedRoundRobinBalancer();
  for (let i = 0; i < 1000; i++) {
    const chosen = balancer.pick([target(`t${i}`), target(`u${i}`)], request());
    assert.ok(chosen?.id === `t${i}` || chosen?.id === `u${i}`);
  }
  const stable = [target('x', 2), target('y', 1)];
  assert.equal(
    Array.from({ length: 3 }, () => balancer.pick(stable, request())?.id).join(''),
    'xyx',
  );
});

test('returns undefined for no candidates', () => {
  assert.equal(new WeightedRoundRobinBalancer().pick([], request()), undefined);
});
