import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyMetrics } from '../../src/admin/metrics.ts';
import { eject, guardedPool } from '../support/ejections.ts';

test('exposes request counts by status class and a cumulative duration histogram', async () => {
  const metrics = new ProxyMetrics(() => []);
  metrics.observe('api', 200, 0.0004);
  metrics.observe('api', 204, 0.001);
  metrics.observe('api', 503, 0.2);
  metrics.observe('api', 200, 99);
  const text = await metrics.registry.metrics();
  assert.match(text, /^breakwater_requests_total\{upstream="api",status_class="2xx"\} 3$/m);
  assert.match(text, /^breakwater_requests_total\{upstream="api",status_class="5xx"\} 1$/m);
  assert.doesNotMatch(text, /status_class="4xx"/);
  assert.match(text, /^# TYPE breakwater_request_duration_seconds histogram$/m);
  // A bound is inclusive (le): 0.001 s counts in the 0.001 bucket.
  assert.match(
    text,
    /^breakwater_request_duration_seconds_bucket\{le="0.001",upstream="api"\} 2$/m,
  );
  assert.match(text, /^breakwater_request_duration_seconds_bucket\{le="0.1",upstream="api"\} 2$/m);
  assert.match(text, /^breakwater_request_duration_seconds_bucket\{le="0.25",upstream="api"\} 3$/m);
  assert.match(text, /^breakwater_request_duration_seconds_bucket\{le="30",upstream="api"\} 3$/m);
  assert.match(
    text,
    /^breakwater_request_duration_seconds_bucket\{le="\+Inf",upstream="api"\} 4$/m,
  );
  assert.match(text, /^breakwater_request_duration_seconds_sum\{upstream="api"\} 99.2014$/m);
  assert.match(text, /^breakwater_request_duration_seconds_count\{upstream="api"\} 4$/m);
});

test('keeps counting across scrapes instead of starting over', async () => {
  const metrics = new ProxyMetrics(() => []);
  metrics.observe('api', 200, 0.01);
  await metrics.registry.metrics();
  metrics.observe('api', 200, 0.01);
  const text = await metrics.registry.metrics();
  assert.match(text, /^breakwater_requests_total\{upstream="api",status_class="2xx"\} 2$/m);
  assert.match(text, /^breakwater_request_duration_seconds_count\{upstream="api"\} 2$/m);
});

test('counts retries and proxy-generated errors by upstream', async () => {
  const metrics = new ProxyMetrics(() => []);
  metrics.observeRetry('api');
  metrics.observeError('', 'NO_ROUTE');
  const text = await metrics.registry.metrics();
  assert.match(text, /^breakwater_retries_total\{upstream="api"\} 1$/m);
  assert.match(text, /^breakwater_proxy_errors_total\{upstream="",code="NO_ROUTE"\} 1$/m);
});

test('reports a target readmitted over the ejection cap as eligible, as the balancer treats it', async () => {
  const { upstream, clock } = guardedPool(4, { maxEjectedPercent: 25 });
  eject(upstream, 0);
  clock.advance(1_000);
  eject(upstream, 1);
  // One of four may be out: target 1 (the longest ejection) stays out, target 0 takes traffic.
  const metrics = new ProxyMetrics(() => [upstream]);
  const text = await metrics.registry.metrics();
  const healthy = (port: number) =>
    new RegExp(
      `^breakwater_target_healthy\\{upstream="api",target="http://127.0.0.1:${port}"\\} (\\d)$`,
      'm',
    ).exec(text)?.[1];
  assert.equal(healthy(8001), '1', 'readmitted over the cap');
  assert.equal(healthy(8002), '0', 'ejected');
  assert.equal(healthy(8003), '1');
  assert.ok(upstream.eligible().includes(upstream.targets[0]!), 'the balancer agrees');
  await upstream.close();
});
