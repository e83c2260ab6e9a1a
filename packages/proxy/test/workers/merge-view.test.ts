import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UpstreamsView } from '../../src/admin/server.ts';
import { mergeViews } from '../../src/workers/merge-view.ts';

type TargetView = UpstreamsView['upstreams'][number]['targets'][number];

const target = (fields: Partial<TargetView> = {}): TargetView => ({
  url: 'http://10.0.0.1:80',
  weight: 1,
  healthy: true,
  eligible: true,
  drained: false,
  activeRequests: 0,
  breaker: { state: 'closed', retryAfter: 0 },
  ejections: 0,
  lastCheck: null,
  ...fields,
});
const view = (fields: Partial<TargetView> = {}, inFlight = 0): UpstreamsView => ({
  upstreams: [
    {
      name: 'api',
      balance: 'round-robin',
      limits: { maxConnections: 1024, maxPending: 1024, maxRequests: 1024, maxRetries: 3 },
      inFlight,
      pending: 0,
      retriesInFlight: 0,
      overloads: { maxRequests: inFlight, maxPending: 0, maxRetries: 0, adaptiveConcurrency: 0 },
      targets: [target(fields)],
    },
  ],
});

test('sums in-flight requests and overloads, and lists every worker row', () => {
  const merged = mergeViews(view(), [
    { pid: 11, view: view({ activeRequests: 3 }, 3) },
    { pid: 12, view: view({ activeRequests: 4 }, 4) },
  ]);
  assert.equal(merged.upstreams[0]?.inFlight, 7);
  assert.equal(merged.upstreams[0]?.overloads.maxRequests, 7);
  const row = merged.upstreams[0]?.targets[0];
  assert.equal(row?.activeRequests, 7);
  assert.deepEqual(
    row?.workers.map((each) => [each.pid, each.activeRequests]),
    [
      [11, 3],
      [12, 4],
    ],
  );
});

test('reports the breaker state furthest along while a transition travels', () => {
  const merged = mergeViews(view(), [
    { pid: 11, view: view({ breaker: { state: 'open', retryAfter: 900 }, eligible: false }) },
    { pid: 12, view: view({ breaker: { state: 'half-open', retryAfter: 0 }, eligible: false }) },
  ]);
  const row = merged.upstreams[0]?.targets[0];
  assert.equal(row?.breaker.state, 'half-open');
  assert.equal(row?.eligible, false);
});

test("keeps the primary's health, drain and last check, and the highest ejection count", () => {
  const merged = mergeViews(view({ healthy: false, drained: true }), [
    { pid: 11, view: view({ healthy: true, ejections: 2 }) },
    { pid: 12, view: view({ healthy: true, ejections: 3 }) },
  ]);
  const row = merged.upstreams[0]?.targets[0];
  assert.equal(row?.healthy, false);
  assert.equal(row?.drained, true);
  assert.equal(row?.ejections, 3);
});

test("stands on the primary's view when no worker answered", () => {
  const merged = mergeViews(view({ activeRequests: 0 }), []);
  assert.deepEqual(merged.upstreams[0]?.targets[0]?.workers, []);
  assert.equal(merged.upstreams[0]?.targets[0]?.breaker.state, 'closed');
});

test("takes the slowest worker's latency estimate, not the primary's", () => {
  const merged = mergeViews(view({ latency: null }), [
    { pid: 11, view: view({ latency: 12.5 }) },
    { pid: 12, view: view({ latency: 180 }) },
    { pid: 13, view: view({ latency: null }) },
  ]);
  const row = merged.upstreams[0]?.targets[0];
  assert.equal(row?.latency, 180);
  assert.deepEqual(
    row?.workers.map((each) => each.latency),
    [12.5, 180, null],
  );
});

test('sums the workers’ adaptive concurrency limits and the requests holding them', () => {
  const merged = mergeViews(view({ concurrency: { limit: 20, inFlight: 0 } }), [
    { pid: 11, view: view({ concurrency: { limit: 35, inFlight: 4 } }) },
    { pid: 12, view: view({ concurrency: { limit: 12, inFlight: 1 } }) },
  ]);
  const row = merged.upstreams[0]?.targets[0];
  assert.deepEqual(row?.concurrency, { limit: 47, inFlight: 5 });
  assert.deepEqual(
    row?.workers.map((each) => each.concurrency?.limit),
    [35, 12],
  );
});

test('leaves out latency and concurrency where the upstream has neither', () => {
  const merged = mergeViews(view(), [{ pid: 11, view: view() }]);
  const row = merged.upstreams[0]?.targets[0];
  assert.equal('latency' in (row ?? {}), false);
  assert.equal('concurrency' in (row ?? {}), false);
});
