import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from 'breakwater';
import type { UpstreamsView } from '../../src/admin/server.ts';
import {
  countAttempts,
  getJson,
  keepAliveClient,
  restartableServer,
  startClockedProxy,
} from '../support/health-harness.ts';
import { httpRequest } from '../support/proxy-harness.ts';
import { tcpServer, until } from '../support/servers.ts';

function yaml(targets: readonly string[], upstreamExtra: string): string {
  return `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    # These stories count each target's share of sequential requests: round robin's is exact,
    # the default least-request breaks ties at random.
    balance: round-robin
    targets:
${targets.map((url) => `      - url: ${url}`).join('\n')}
${upstreamExtra}
routes: [ { upstream: app } ]
`;
}

async function targetView(adminUrl: string | undefined, url: string) {
  const view = await getJson<UpstreamsView>(`${adminUrl}/api/upstreams`);
  const target = view.upstreams[0]?.targets.find((t) => t.url === url);
  assert.ok(target, `target ${url} in /api/upstreams`);
  return target;
}

async function sendMany(url: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await httpRequest(url)).status);
  return statuses;
}

describe('outlier detection', () => {
  test('ejects a refusing target, tries it once after the ejection, keeps it out longer when the trial fails, readmits it on success', async () => {
    const clock = new ManualClock();
    const good = await restartableServer((_req, res) => res.end('good'));
    const flaky = await restartableServer((_req, res) => res.end('flaky'));
    await flaky.stop();
    const proxy = await startClockedProxy(
      yaml(
        [good.url, flaky.url],
        `    outlierDetection:
      policy: { consecutiveFailures: 3 }
      failOn: [connect-error]
      ejection: { base: 10s, max: 1m }`,
      ),
      clock,
    );
    const attempts = countAttempts(proxy);
    const flakyAttempts = () => attempts.get(flaky.url) ?? 0;
    try {
      // Retries (on by default for connect errors) hide the failures from clients.
      assert.deepEqual(new Set(await sendMany(proxy.url, 8)), new Set([200]));
      assert.equal(flakyAttempts(), 3, 'three failures, then ejected');
      let view = await targetView(proxy.adminUrl, flaky.url);
      assert.equal(view.breaker.state, 'open');
      assert.equal(view.ejections, 1);
      assert.equal(view.breaker.retryAfter, 10_000);

      await sendMany(proxy.url, 6);
      assert.equal(flakyAttempts(), 3, 'no traffic while ejected');

      clock.advance(10_000);
      await sendMany(proxy.url, 6);
      assert.equal(flakyAttempts(), 4, 'exactly one trial after the ejection time');
      view = await targetView(proxy.adminUrl, flaky.url);
      assert.equal(view.breaker.state, 'open');
      assert.equal(view.ejections, 2);
      assert.equal(view.breaker.retryAfter, 20_000, 'the re-ejection lasts twice as long');

      clock.advance(10_000);
      await sendMany(proxy.url, 6);
      assert.equal(flakyAttempts(), 4, 'still out after the base time');

      await flaky.restart();
      clock.advance(10_000);
      const bodies: string[] = [];
      for (let i = 0; i < 10; i++) bodies.push((await httpRequest(proxy.url)).body);
      assert.ok(bodies.filter((body) => body === 'flaky').length >= 4, bodies.join(' '));
      assert.equal((await targetView(proxy.adminUrl, flaky.url)).breaker.state, 'closed');
      assert.ok(
        proxy.logs.lines.some((line) => line.msg === 'target ejected by outlier detection'),
      );
    } finally {
      await proxy.close();
      await good.stop();
      await flaky.stop();
    }
  });

  test('ejects a slow target by slowCallRate', async () => {
    const fast = await restartableServer((_req, res) => res.end('fast'));
    const slow = await restartableServer((_req, res) => {
      setTimeout(() => res.end('slow'), 1_500);
    });
    const proxy = await startClockedProxy(
      yaml(
        [fast.url, slow.url],
        `    outlierDetection:
      policy: { slowCallRate: { threshold: 50%, slowerThan: 1s, minimumCalls: 2, window: 30s } }
      ejection: { base: 1m, max: 5m }`,
      ),
    );
    const client = keepAliveClient(4);
    try {
      const first = await Promise.all([1, 2, 3, 4].map(() => client.get(proxy.url)));
      assert.deepEqual(
        first.map((r) => r.status),
        [200, 200, 200, 200],
      );
      assert.equal(slow.hits(), 2);
      assert.equal((await targetView(proxy.adminUrl, slow.url)).breaker.state, 'open');
      const next = await Promise.all([1, 2, 3, 4].map(() => client.get(proxy.url)));
      assert.deepEqual(
        next.map((r) => r.body),
        ['fast', 'fast', 'fast', 'fast'],
      );
      assert.equal(slow.hits(), 2, 'no traffic to the ejected slow target');
    } finally {
      client.close();
      await proxy.close();
      await fast.stop();
      await slow.stop();
    }
  });

  test('answers 503 NO_HEALTHY_TARGET with Retry-After when all targets are ejected, and recovers without a restart', async () => {
    const clock = new ManualClock();
    const a = await restartableServer((_req, res) => res.end('a'));
    const b = await restartableServer((_req, res) => res.end('b'));
    await a.stop();
    await b.stop();
    const proxy = await startClockedProxy(
      yaml(
        [a.url, b.url],
        `    outlierDetection:
      policy: { consecutiveFailures: 1 }
      ejection: { base: 7s, max: 1m }
      maxEjectedPercent: 100`,
      ),
      clock,
    );
    try {
      const failed = await httpRequest(proxy.url);
      assert.equal(failed.status, 502, 'both tried (one retry), both refused');
      const rejected = await httpRequest(proxy.url);
      assert.equal(rejected.status, 503);
      assert.equal(JSON.parse(rejected.body).error.code, 'NO_HEALTHY_TARGET');
      assert.equal(rejected.headers['retry-after'], '7');
      clock.advance(3_000);
      assert.equal((await httpRequest(proxy.url)).headers['retry-after'], '4');

      await a.restart();
      await b.restart();
      clock.advance(4_000);
      const recovered = await sendMany(proxy.url, 4);
      assert.deepEqual(recovered, [200, 200, 200, 200]);
    } finally {
      await proxy.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('active health checks', () => {
  test('take a failing target out after unhealthyThreshold and bring it back after healthyThreshold', async () => {
    let bHealthy = true;
    const handler =
      (name: string, healthy: () => boolean) =>
      (req: { url?: string }, res: { statusCode: number; end(body: string): void }) => {
        if (req.url === '/healthz') {
          res.statusCode = healthy() ? 200 : 503;
          res.end('');
        } else res.end(name);
      };
    const a = await restartableServer(handler('a', () => true));
    const b = await restartableServer(handler('b', () => bHealthy));
    const proxy = await startClockedProxy(
      yaml(
        [a.url, b.url],
        `    healthCheck: { path: /healthz, interval: 30ms, jitter: 0%, timeout: 500ms, healthyThreshold: 2, unhealthyThreshold: 2 }`,
      ),
    );
    const target = proxy.upstreams.get('app')!.targets[1]!;
    try {
      assert.equal(target.healthy, true);
      bHealthy = false;
      await until(() => !target.healthy, 'b marked unhealthy');
      const bodies = await Promise.all([1, 2, 3, 4, 5, 6].map(() => httpRequest(proxy.url)));
      assert.deepEqual(new Set(bodies.map((r) => r.body)), new Set(['a']));
      const view = await targetView(proxy.adminUrl, b.url);
      assert.equal(view.healthy, false);
      assert.equal(view.lastCheck?.ok, false);
      assert.equal(view.lastCheck?.status, 503);

      bHealthy = true;
      await until(() => target.healthy, 'b healthy again');
      const after = await Promise.all([1, 2, 3, 4].map(() => httpRequest(proxy.url)));
      assert.ok(after.some((r) => r.body === 'b'));
      assert.ok(
        proxy.logs.lines.some((line) => line.msg === 'target marked unhealthy by health checks'),
      );
      assert.ok(proxy.logs.lines.some((line) => line.msg === 'target is healthy again'));
    } finally {
      await proxy.close();
      await a.stop();
      await b.stop();
    }
  });

  test('a TCP check passes against a bare TCP listener and fails once it closes', async () => {
    const listener = await tcpServer();
    const proxy = await startClockedProxy(
      yaml(
        [listener.url],
        `    healthCheck: { type: tcp, interval: 30ms, jitter: 0, timeout: 500ms, healthyThreshold: 1, unhealthyThreshold: 1 }`,
      ),
    );
    const target = proxy.upstreams.get('app')!.targets[0]!;
    try {
      await until(() => listener.hits() >= 2, 'two probes');
      assert.equal(target.healthy, true);
      assert.equal(target.checker?.lastCheck?.ok, true);
      await listener.close();
      await until(() => !target.healthy, 'target down after the listener closed');
      const response = await httpRequest(proxy.url);
      assert.equal(response.status, 503);
      assert.equal(response.headers['retry-after'], '1', 'the check interval, rounded up');
    } finally {
      await proxy.close();
    }
  });

  test('stop probing when the proxy closes', async () => {
    const listener = await tcpServer();
    const proxy = await startClockedProxy(
      yaml([listener.url], '    healthCheck: { type: tcp, interval: 20ms, jitter: 0 }'),
    );
    try {
      await until(() => listener.hits() >= 1, 'a probe');
    } finally {
      await proxy.close();
    }
    const seen = listener.hits();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(listener.hits(), seen);
    await listener.close();
  });
});
