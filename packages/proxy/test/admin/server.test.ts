import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { upstreamsView } from '../../src/admin/server.ts';
import { eject, guardedPool } from '../support/ejections.ts';
import { httpRequest, startServer, startTestProxy } from '../support/proxy-harness.ts';

function yaml(upstreamUrl: string, admin: string): string {
  return `
listen: 127.0.0.1:0
admin: ${admin}
upstreams:
  api:
    balance: least-request
    targets:
      - { url: ${upstreamUrl}, weight: 3 }
routes: [ { upstream: api } ]`;
}

describe('admin listener', () => {
  test('lists upstreams with targets, health and breaker state', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(yaml(upstream.url, '{ listen: 127.0.0.1:0 }'));
    try {
      const response = await httpRequest(`${proxy.adminUrl}/api/upstreams`);
      assert.equal(response.status, 200);
      assert.deepEqual(JSON.parse(response.body), {
        upstreams: [
          {
            name: 'api',
            balance: 'least-request',
            limits: { maxConnections: 256, maxPending: 1024, maxRequests: 1024, maxRetries: 64 },
            inFlight: 0,
            pending: 0,
            retriesInFlight: 0,
            overloads: { maxRequests: 0, maxPending: 0, maxRetries: 0, adaptiveConcurrency: 0 },
            targets: [
              {
                url: upstream.url,
                weight: 3,
                healthy: true,
                eligible: true,
                drained: false,
                activeRequests: 0,
                breaker: { state: 'closed', retryAfter: 0 },
                ejections: 0,
                lastCheck: null,
              },
            ],
          },
        ],
      });
      assert.equal((await httpRequest(`${proxy.adminUrl}/healthz`)).status, 200);
      const missing = await httpRequest(`${proxy.adminUrl}/nope`);
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.body).error.code, 'NOT_FOUND');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('serves Prometheus metrics counting forwarded requests by status class', async () => {
    const upstream = await startServer((req, res) => {
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end();
    });
    const proxy = await startTestProxy(yaml(upstream.url, '{ listen: 127.0.0.1:0 }'));
    try {
      await httpRequest(`${proxy.url}/ok`);
      await httpRequest(`${proxy.url}/ok`);
      await httpRequest(`${proxy.url}/fail`);
      for (const target of proxy.upstreams.get('api')?.targets ?? []) target.drained = true;
      await httpRequest(`${proxy.url}/drained`);
      const metrics = await httpRequest(`${proxy.adminUrl}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(
        metrics.body,
        /breakwater_requests_total\{upstream="api",status_class="2xx"\} 2/,
      );
      assert.match(
        metrics.body,
        /breakwater_requests_total\{upstream="api",status_class="5xx"\} 2/,
      );
      assert.match(metrics.body, /breakwater_request_duration_seconds_count\{upstream="api"\} 4/);
      assert.match(
        metrics.body,
        /breakwater_proxy_errors_total\{upstream="api",code="NO_HEALTHY_TARGET"\} 1/,
      );
      assert.match(
        metrics.body,
        /breakwater_target_active_requests\{upstream="api",target="http:\/\/127\.0\.0\.1:\d+"\} 0/,
      );
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('requires the bearer token on everything but /healthz when a token is set', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's ${VAR} syntax, not a template
      yaml(upstream.url, '{ listen: 127.0.0.1:0, token: "${ADMIN_TOKEN}" }'),
      { ADMIN_TOKEN: 's3cret-token' },
    );
    try {
      const anonymous = await httpRequest(`${proxy.adminUrl}/api/upstreams`);
      assert.equal(anonymous.status, 401);
      assert.equal(JSON.parse(anonymous.body).error.code, 'UNAUTHORIZED');
      const wrong = await httpRequest(`${proxy.adminUrl}/metrics`, {
        headers: { authorization: 'Bearer nope' },
      });
      assert.equal(wrong.status, 401);
      const right = await httpRequest(`${proxy.adminUrl}/api/upstreams`, {
        headers: { authorization: 'Bearer s3cret-token' },
      });
      assert.equal(right.status, 200);
      assert.equal((await httpRequest(`${proxy.adminUrl}/healthz`)).status, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

test('the upstreams view reports a target readmitted over the ejection cap as eligible', async () => {
  const { upstream, clock } = guardedPool(4, { maxEjectedPercent: 25 });
  eject(upstream, 0);
  clock.advance(1_000);
  eject(upstream, 1);
  const [view] = upstreamsView([upstream]).upstreams;
  assert.deepEqual(
    view?.targets.map((t) => [t.breaker.state, t.eligible]),
    [
      ['open', true],
      ['open', false],
      ['closed', true],
      ['closed', true],
    ],
  );
  await upstream.close();
});
