import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyMetrics } from '../../src/admin/metrics.ts';

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
