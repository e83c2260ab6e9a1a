import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamPool } from '../src/upstream-pool.ts';

const request = { method: 'GET', path: '/', headers: {}, remoteAddress: '127.0.0.1' };

function pool(): UpstreamPool {
  return UpstreamPool.fromConfig('api', {
    balance: 'round-robin',
    targets: [
      { url: 'http://127.0.0.1:8001', weight: 1 },
      { url: 'http://127.0.0.1:8002', weight: 2 },
    ],
    timeouts: { connect: 1000, response: 1000, idle: 1000 },
  });
}

test('offers only healthy, undrained targets whose breaker is not open', async () => {
  const upstream = pool();
  const [a, b] = upstream.targets;
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [a!.id, b!.id],
  );
  a!.healthy = false;
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [b!.id],
  );
  b!.drained = true;
  assert.equal(upstream.pick(request), undefined);
  a!.healthy = true;
  b!.drained = false;
  b!.breaker = { state: 'open' };
  assert.deepEqual(
    upstream.eligible().map((t) => t.id),
    [a!.id],
  );
  b!.breaker = { state: 'half-open' };
  assert.equal(upstream.eligible().length, 2);
  await upstream.close();
});

test('picks among eligible targets with the configured balancer', async () => {
  const upstream = pool();
  const picks = [1, 2, 3, 4].map(() => upstream.pick(request)?.id);
  assert.deepEqual(picks, [
    'http://127.0.0.1:8001',
    'http://127.0.0.1:8002',
    'http://127.0.0.1:8001',
    'http://127.0.0.1:8002',
  ]);
  assert.equal(upstream.balance, 'round-robin');
  await upstream.close();
});
