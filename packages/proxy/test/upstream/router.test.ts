import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Router } from '../../src/upstream/router.ts';
import { UpstreamPool } from '../../src/upstream/upstream-pool.ts';

function pools(...names: string[]): Map<string, UpstreamPool> {
  const timeouts = { connect: 1000, response: 1000, idle: 1000 };
  return new Map(
    names.map((name) => [
      name,
      UpstreamPool.fromConfig(name, {
        balance: 'round-robin',
        targets: [{ url: 'http://127.0.0.1:1', weight: 1 }],
        timeouts,
      }),
    ]),
  );
}

test('the first matching route wins, matching host without port and case', async () => {
  const upstreams = pools('api', 'web');
  const router = new Router(
    [
      { match: { host: 'api.example.com', pathPrefix: '/v1' }, upstream: 'api' },
      { match: {}, upstream: 'web' },
    ],
    upstreams,
  );
  assert.equal(router.match('API.example.com:8080', '/v1/users')?.name, 'api');
  assert.equal(router.match('api.example.com', '/v1')?.name, 'api');
  assert.equal(router.match('api.example.com', '/v1?x=1')?.name, 'api');
  assert.equal(router.match('api.example.com', '/v10')?.name, 'web');
  assert.equal(router.match('other.example.com', '/v1')?.name, 'web');
  assert.equal(router.match(undefined, '/')?.name, 'web');
  for (const pool of upstreams.values()) await pool.close();
});

test('no route matches when every route has a condition the request misses', async () => {
  const upstreams = pools('api');
  const router = new Router([{ match: { pathPrefix: '/api/' }, upstream: 'api' }], upstreams);
  assert.equal(router.match('x', '/api/x')?.name, 'api');
  assert.equal(router.match('x', '/web'), undefined);
  for (const pool of upstreams.values()) await pool.close();
});
