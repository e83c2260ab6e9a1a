import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DashboardReporter,
  mergeTargetFacts,
  type TargetReport,
} from '../../src/admin/dashboard-report.ts';
import type { AttemptListener } from '../../src/request/host.ts';
import { eject, guardedPool } from '../support/ejections.ts';

function reporting() {
  const { upstream } = guardedPool(2);
  let listener: AttemptListener | undefined;
  const reporter = new DashboardReporter({
    pools: () => [upstream],
    onAttempt: (each) => {
      listener = each;
      return () => {
        listener = undefined;
      };
    },
  });
  const attempt = (index: number, outcome: Parameters<AttemptListener>[2], status: number) =>
    listener?.(upstream, upstream.targets[index]!, outcome, status, 12);
  return { upstream, reporter, attempt, listening: () => listener !== undefined };
}

test("reports each target's lifetime counts and its own ejections with their reason, once", () => {
  const { upstream, reporter, attempt } = reporting();
  attempt(0, 'response', 200);
  attempt(0, 'response', 502);
  attempt(0, 'connect-error', 0);
  eject(upstream, 0);

  const first = reporter.report();
  const row = first.targets[0]!;
  assert.equal(row.url, upstream.targets[0]!.id);
  assert.equal(row.attempts, 3);
  assert.equal(row.failures, 2);
  assert.equal(
    row.latency.reduce((sum, count) => sum + count, 0),
    3,
  );
  assert.equal(row.breaker, 'open');
  assert.ok(row.retryAfterMs > 0);
  assert.match(row.reason?.text ?? '', /consecutive failure.*out for 10 s/);
  assert.deepEqual(
    first.timeline.map((entry) => entry.kind),
    ['ejected'],
  );
  assert.equal(first.targets[1]!.attempts, 0);

  // Counts stay lifetime counts; the timeline entry is not sent twice.
  attempt(0, 'response', 200);
  const second = reporter.report();
  assert.equal(second.targets[0]!.attempts, 4);
  assert.deepEqual(second.timeline, []);
});

test('stops counting when stopped', () => {
  const { reporter, listening } = reporting();
  assert.equal(listening(), true);
  reporter.stop();
  assert.equal(listening(), false);
});

const row = (fields: Partial<TargetReport>): TargetReport => ({
  upstream: 'api',
  url: 'http://127.0.0.1:8001',
  attempts: 0,
  failures: 0,
  latency: [],
  inFlight: 0,
  concurrencyLimit: null,
  breaker: 'closed',
  retryAfterMs: 0,
  ejections: 0,
  reason: null,
  ...fields,
});

test('merges a target across workers: furthest state, sums, the latest reason', () => {
  const merged = mergeTargetFacts([
    row({ breaker: 'closed', inFlight: 2, concurrencyLimit: 20, ejections: 1 }),
    row({
      breaker: 'open',
      retryAfterMs: 900,
      inFlight: 1,
      concurrencyLimit: 7,
      ejections: 2,
      reason: { text: 'older', at: 1 },
    }),
    row({ breaker: 'open', retryAfterMs: 400, reason: { text: 'newer', at: 2 } }),
  ]);
  assert.deepEqual(merged, {
    breaker: 'open',
    retryAfterMs: 400,
    inFlight: 3,
    concurrencyLimit: 27,
    ejections: 2,
    reason: 'newer',
  });
  assert.equal(mergeTargetFacts([row({})]).concurrencyLimit, null);
  assert.equal(mergeTargetFacts([]).breaker, 'disabled');
});

test("reports a target's ejections after a reload gave it a new breaker", () => {
  const { upstream, reporter } = reporting();
  reporter.report();
  // A reload that changes outlierDetection keeps the target and replaces its breaker.
  upstream.targets[0]!.breaker = guardedPool(1).upstream.targets[0]!.breaker;
  reporter.report();
  eject(upstream, 0);
  const report = reporter.report();
  assert.deepEqual(
    report.timeline.map((entry) => entry.kind),
    ['ejected'],
  );
  assert.match(report.targets[0]?.reason?.text ?? '', /consecutive failure/);
});

test('stopped, it adds no timeline entries and leaves no listener on the breakers', () => {
  const { upstream, reporter } = reporting();
  reporter.report();
  reporter.stop();
  eject(upstream, 0);
  const report = reporter.report();
  assert.deepEqual(report.timeline, []);
  assert.equal(report.targets[0]!.reason, null);
  // The counts it had stay; only listening ended.
  assert.equal(report.targets.length, 2);
});

test("drops a target a reload removed, and its breaker's listeners", () => {
  const { upstream, reporter } = reporting();
  reporter.report();
  const removed = upstream.targets[0]!;
  // What a reload leaves: the target gone from the pool, its breaker still able to trip while
  // its in-flight requests finish.
  upstream.targets.splice(0, 1);
  reporter.report();
  const permit = removed.breaker!.tryAcquire();
  permit?.failure();
  assert.equal(removed.breaker!.state, 'open');
  assert.deepEqual(reporter.report().timeline, []);
});
