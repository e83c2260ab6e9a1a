import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BalancedTarget } from '../../../src/upstream/balancers/balancer.ts';
import { ConsistentHashBalancer } from '../../../src/upstream/balancers/consistent-hash.ts';
import { request, target } from '../../support/balancing.ts';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

function assign(
  balancer: ConsistentHashBalancer,
  targets: readonly BalancedTarget[],
): Map<string, string> {
  const owners = new Map<string, string>();
  for (const key of KEYS) {
    const chosen = balancer.pick(targets, request({ headers: { 'x-user': key } }));
    assert.ok(chosen && targets.includes(chosen));
    owners.set(key, chosen.id);
  }
  return owners;
}

function pool(n: number): BalancedTarget[] {
  return Array.from({ length: n }, (_, i) => target(`http://10.0.0.${i + 1}:8080`));
}

test('sends the same key to the same target every time', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const targets = pool(5);
  const first = assign(balancer, targets);
  const again = assign(balancer, [...targets]);
  assert.deepEqual(again, first);
});

test('removing one of five targets moves about a fifth of keys, only those it owned', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const targets = pool(5);
  const removed = targets[2]!.id;
  const before = assign(balancer, targets);
  const after = assign(
    balancer,
    targets.filter((t) => t.id !== removed),
  );
  let moved = 0;
  for (const key of KEYS) {
    if (before.get(key) === after.get(key)) continue;
    moved++;
    assert.equal(before.get(key), removed, `${key} moved between unaffected targets`);
  }
  const share = moved / KEYS.length;
  assert.ok(share > 0.5 / 5 && share < 1.6 / 5, `moved ${share}`);
});

test('adding a sixth target moves about a sixth of keys, all onto it', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const targets = pool(6);
  const before = assign(balancer, targets.slice(0, 5));
  const after = assign(balancer, targets);
  let moved = 0;
  for (const key of KEYS) {
    if (before.get(key) === after.get(key)) continue;
    moved++;
    assert.equal(after.get(key), targets[5]!.id, `${key} moved between unaffected targets`);
  }
  const share = moved / KEYS.length;
  assert.ok(share > 0.5 / 6 && share < 1.6 / 6, `moved ${share}`);
});

test('shares keys in proportion to weight', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const targets = [target('a', 1), target('b', 1), target('c', 2)];
  const owners = assign(balancer, targets);
  const counts = new Map<string, number>();
  for (const id of owners.values()) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, expected] of [
    ['a', 0.25],
    ['b', 0.25],
    ['c', 0.5],
  ] as const) {
    const share = (counts.get(id) ?? 0) / KEYS.length;
    assert.ok(Math.abs(share - expected) < 0.06, `${id}: ${share} vs ${expected}`);
  }
});

test('places keys independently of the candidates order', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const targets = pool(4);
  assert.deepEqual(assign(balancer, [...targets].reverse()), assign(balancer, targets));
});

test('hashes on the client address', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'ip' });
  const targets = pool(5);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const remoteAddress = `192.168.1.${i}`;
    const first = balancer.pick(targets, request({ remoteAddress }));
    const second = balancer.pick(targets, request({ remoteAddress, path: '/other' }));
    assert.equal(first, second);
    seen.add(first!.id);
  }
  assert.equal(seen.size, 5);
});

test('falls back to the client address when the header is missing', () => {
  const byHeader = new ConsistentHashBalancer({ hashOn: 'header:x-user' });
  const byIp = new ConsistentHashBalancer({ hashOn: 'ip' });
  const targets = pool(5);
  for (let i = 0; i < 50; i++) {
    const req = request({ remoteAddress: `10.1.1.${i}` });
    assert.equal(byHeader.pick(targets, req), byIp.pick(targets, req));
  }
});

test('falls back to round robin when there is no key and no client address', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'cookie:session' });
  const targets = pool(3);
  const picks = Array.from(
    { length: 6 },
    () => balancer.pick(targets, request({ remoteAddress: undefined }))?.id,
  );
  assert.deepEqual(
    picks,
    [...targets, ...targets].map((t) => t.id),
  );
});

test('returns undefined for no candidates', () => {
  const balancer = new ConsistentHashBalancer({ hashOn: 'path' });
  assert.equal(balancer.pick([], request()), undefined);
});

test('rejects a malformed hashOn', () => {
  assert.throws(() => new ConsistentHashBalancer({ hashOn: 'header:' }), {
    code: 'ERR_INVALID_OPTION',
  });
});
