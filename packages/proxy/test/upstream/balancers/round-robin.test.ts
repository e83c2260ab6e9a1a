import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RoundRobinBalancer } from '../../../src/upstream/balancers/round-robin.ts';
import { request, target } from '../../support/balancing.ts';

test('cycles through candidates in order, ignoring weights', () => {
  const balancer = new RoundRobinBalancer();
  const targets = [target('a', 5), target('b'), target('c')];
  const picks = Array.from({ length: 7 }, () => balancer.pick(targets, request())?.id);
  assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

test('returns undefined for no candidates', () => {
  assert.equal(new RoundRobinBalancer().pick([], request()), undefined);
});

test('keeps rotating over a shrunken candidate list and only returns candidates', () => {
  const balancer = new RoundRobinBalancer();
  const all = [target('a'), target('b'), target('c'), target('d')];
  balancer.pick(all, request());
  balancer.pick(all, request());
  balancer.pick(all, request());
  const fewer = [all[0]!, all[1]!];
  const picks = Array.from({ length: 4 }, () => balancer.pick(fewer, request()));
  for (const chosen of picks) assert.ok(chosen && fewer.includes(chosen));
  assert.equal(new Set(picks).size, 2);
});
