/**
 * Black-box: two proxy instances with `cluster.redis` on one Redis. An ejection seen by one is
 * seen by the other within a second, though the other sent the target nothing; with Redis gone
 * both keep serving and each ejects on its own. Every run uses its own key prefix.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  cleanUp,
  connect,
  REDIS_URL,
  RedisServer,
  uniquePrefix,
} from '../../../redis/test/support/redis.ts';
import { waitUntil } from '../support/cluster-cli.ts';
import {
  closedPort,
  httpRequest,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

const yaml = (steady: string, dead: string, redis: string, prefix: string) => `
listen: 127.0.0.1:0
cluster: { redis: { url: "${redis}", prefix: "${prefix}" } }
upstreams:
  app:
    targets: [{ url: ${steady} }, { url: ${dead} }]
    outlierDetection:
      policy: { consecutiveFailures: 2 }
      failOn: [connect-error]
      ejection: { base: 30s }
routes:
  - upstream: app
log: { level: silent, access: false }
`;

const deadState = (proxy: TestProxy) => proxy.upstreams.get('app')?.targets[1]?.breaker?.state;

/** Requests through `proxy` until its dead target is ejected; all of them answered 200. */
async function ejectThrough(proxy: TestProxy): Promise<void> {
  await waitUntil('the dead target is ejected', async () => {
    assert.equal((await httpRequest(proxy.url)).status, 200);
    return deadState(proxy) === 'open';
  });
}

describe('proxies sharing one Redis', () => {
  let steady: TestServer;
  let dead: string;
  before(async () => {
    steady = await startServer((_req, res) => res.end('ok'));
    dead = `http://127.0.0.1:${await closedPort()}`;
  });
  after(() => steady?.close());

  test("each sees the other's ejection within a second", async () => {
    const prefix = uniquePrefix();
    const config = yaml(steady.url, dead, REDIS_URL, prefix);
    const first = await startTestProxy(config);
    const second = await startTestProxy(config);
    const client = await connect();
    try {
      // Both subscribed before anything happens: a transition is not missed.
      await waitUntil('both are connected', async () =>
        [first, second].every((proxy) => {
          const breaker = proxy.upstreams.get('app')?.targets[1]?.breaker as
            | { snapshot(): { sync?: { status: string } } }
            | undefined;
          return breaker?.snapshot().sync?.status === 'connected';
        }),
      );
      await ejectThrough(first);
      const ejectedAt = performance.now();
      await waitUntil('the second proxy ejects it too', async () => deadState(second) === 'open');
      const lag = performance.now() - ejectedAt;
      assert.ok(lag < 1_000, `seen after ${Math.round(lag)} ms`);
    } finally {
      await Promise.all([first.close(), second.close()]);
      await cleanUp(client, prefix);
      client.destroy();
    }
  });

  test('with Redis gone both keep serving and eject on their own', async () => {
    const redis = await RedisServer.start();
    const config = yaml(steady.url, dead, redis.url, uniquePrefix());
    const first = await startTestProxy(config);
    const second = await startTestProxy(config);
    try {
      await redis.stop();
      for (const proxy of [first, second]) {
        assert.equal((await httpRequest(proxy.url)).status, 200);
        await ejectThrough(proxy);
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
      await redis.stop();
    }
  });
});
