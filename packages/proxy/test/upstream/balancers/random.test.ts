import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RandomBalancer } from '../../../src/upstream/balancers/random.ts';
import { request, seededRandom, tally, target } from '../../support/balancing.ts';

test('maps the random draw onto cumulative weights', () => {
  const targets = [target('a', 1), target('b', 3)];
  assert.equal(new RandomBalancer({ random: () => 0.2 }).pick(targets, request())?.id, 'a');
  assert.equal(new RandomBalancer({ random: () => 0.3 }).pick(targets, request())?.id, 'b');
  assert.equal(new RandomBalancer({ random: () => 0.999 }).pick(targets, request())?.id, 'b');
});

test('chooses in proportion to weight', () => {
  const balancer = new RandomBalancer({ random: seededRandom(3) });
  const targets = [target('a', 1), target('b', 2), target('c', 7)];
  const counts = tally(() => balancer.pick(targets, request()), 20_000);
  for (const [id, expected] of [
    ['a', 0.1],
    ['b', 0.2],
    ['c', 0.7],
  ] as const) {
    const share = (counts.get(id) ?? 0) / 20_000;
    assert.ok(Math.abs(share - expected) < 0.02, `${id}: ${share} vs ${expected}`);
  }
});

test('only returns candidates, even from a broken random source', () => {
  const targets = [target('a'), target('b')];
  for (const value of [1, -0.5, Number.NaN]) {
    const chosen = new RandomBalancer({ random: () => value }).pick(targets, request());
    assert.ok(chosen && targets.includes(chosen), `random ${value}`);
  }
});

test('returns undefined for no candidates', () => {
  assert.equal(new RandomBalancer().pick([], request()), undefined);
});
