/**
 * The feed in a cluster's primary: its numbers are the workers' reports, merged. (A single
 * process's feed is covered through the admin listener in dashboard.test.ts.)
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import {
  DashboardFeed,
  type DashboardView,
  type TimelineEntry,
} from '../../src/admin/dashboard-feed.ts';
import type { TargetReport, WorkerReport } from '../../src/admin/dashboard-report.ts';
import { latencyBoundsMs } from '../../src/admin/target-traffic.ts';
import { createLogger } from '../../src/logger.ts';
import { eject, guardedPool } from '../support/ejections.ts';

/** A page reading the stream: every event, and a way to wait for one. */
function page() {
  const events: { event: string; data: unknown }[] = [];
  const waiters: (() => void)[] = [];
  const res = {
    writeHead: () => res,
    on: () => res,
    writableLength: 0,
    end: () => {},
    write: (chunk: string) => {
      const [eventLine = '', dataLine = ''] = chunk.split('\n');
      events.push({ event: eventLine.slice(7), data: JSON.parse(dataLine.slice(6)) });
      for (const wake of waiters.splice(0)) wake();
      return true;
    },
  };
  /** The latest view `check` accepts, among those sent after the first `after` events. */
  const next = async (check: (view: DashboardView) => boolean, what: string, after = 0) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = events
        .slice(after)
        .findLast(({ event, data }) => event === 'view' && check(data as DashboardView));
      if (found !== undefined) return found.data as DashboardView;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  };
  return { res: res as unknown as ServerResponse, events, next };
}

const latency = (bucket: number, count: number) =>
  Array.from({ length: latencyBoundsMs.length + 1 }, (_, i) => (i === bucket ? count : 0));

test("shows the workers' traffic, in-flight requests, limits and ejections, merged", async () => {
  const { upstream } = guardedPool(2);
  const url = upstream.targets[0]!.id;
  const report = (pid: number, fields: Partial<TargetReport>, timeline: TimelineEntry[] = []) => ({
    pid,
    report: {
      targets: [
        {
          upstream: 'api',
          url,
          attempts: 0,
          failures: 0,
          latency: latency(0, 0),
          inFlight: 0,
          concurrencyLimit: 20,
          breaker: 'closed',
          retryAfterMs: 0,
          ejections: 0,
          reason: null,
          ...fields,
        },
      ],
      timeline,
    },
  });
  const trial = (at: number): TimelineEntry => ({
    at,
    kind: 'trial',
    upstream: 'api',
    target: url,
    text: `${url} (api) on trial`,
  });
  // Each tick's answers: worker 11 keeps counting; worker 12's counts start over (replaced target).
  const ticks: WorkerReport[][] = [
    [report(11, { attempts: 10, latency: latency(5, 10) }), report(12, { attempts: 40 })],
    [
      report(
        11,
        {
          attempts: 110,
          failures: 10,
          latency: latency(5, 100),
          inFlight: 3,
          breaker: 'open',
          retryAfterMs: 5_000,
          ejections: 1,
          reason: { text: '5 consecutive failures; out for 10 s', at: Date.now() },
        },
        [trial(Date.now())],
      ),
      report(12, { attempts: 10, latency: latency(5, 10), inFlight: 2, concurrencyLimit: 15 }, [
        trial(Date.now() + 1),
      ]),
    ],
  ];
  let asked = 0;
  const feed = new DashboardFeed({
    pools: () => [upstream],
    // After the two ticks no worker answers in time: what they said last stands.
    workers: async () => ticks[asked++] ?? [],
    reloadable: false,
    logger: createLogger('silent'),
  });
  const reader = page();
  feed.start();
  try {
    feed.stream(reader.res);
    const view = await reader.next(
      (each) => (each.upstreams[0]?.targets[0]?.rps ?? 0) > 0,
      'a view with traffic',
    );
    const row = view.upstreams[0]!.targets[0]!;
    assert.equal(row.state, 'ejected');
    assert.equal(row.inFlight, 5);
    assert.equal(row.concurrencyLimit, 35);
    assert.equal(row.ejections, 1);
    assert.equal(row.retryAfterMs, 5_000);
    assert.equal(row.reason, '5 consecutive failures; out for 10 s');
    // 100 + 10 attempts in the second tick, 10 of them failed; all in the 3–5 ms bucket.
    assert.ok(row.errorPercent > 0 && row.errorPercent <= 10, `errors ${row.errorPercent}%`);
    assert.ok(row.p50Ms !== null && row.p50Ms > 3 && row.p50Ms <= 5, `p50 ${row.p50Ms}`);
    assert.deepEqual(
      row.workers?.map((each) => [each.pid, each.breaker, each.inFlight]),
      [
        [11, 'open', 3],
        [12, 'closed', 2],
      ],
    );
    assert.ok((row.workers?.[0]?.rps ?? 0) > 0);
    // The next tick's view: no worker answered it.
    const sent = reader.events.length;
    const later = await reader.next(
      (each) => each.upstreams[0]?.targets[0]?.rps === 0,
      'a tick no worker answered',
      sent,
    );
    assert.equal(later.upstreams[0]?.targets[0]?.state, 'ejected');
    assert.equal(later.upstreams[0]?.targets[0]?.inFlight, 5);
    // Both workers said the target went on trial: once on the timeline (see the next test).
    const trials = reader.events.filter(
      ({ event, data }) => event === 'timeline' && (data as TimelineEntry).kind === 'trial',
    );
    assert.equal(trials.length, 1);
  } finally {
    feed.stop();
  }
});

test('puts a transition that several workers report on the timeline once', async () => {
  const { upstream } = guardedPool(1);
  const url = upstream.targets[0]!.id;
  const entry = (kind: TimelineEntry['kind'], at: number): TimelineEntry => ({
    at,
    kind,
    upstream: 'api',
    target: url,
    text: `${url} ${kind}`,
  });
  const worker = (pid: number, timeline: TimelineEntry[]): WorkerReport => ({
    pid,
    report: { targets: [], timeline },
  });
  const now = Date.now();
  let asked = 0;
  const feed = new DashboardFeed({
    pools: () => [upstream],
    // Entries are reported once: the first tick's answers carry them all.
    workers: async () =>
      asked++ > 0
        ? []
        : [
            worker(11, [entry('ejected', now), entry('trial', now + 2), entry('ejected', now + 4)]),
            worker(12, [
              entry('ejected', now + 1),
              entry('trial', now + 3),
              entry('recovered', now + 5),
            ]),
          ],
    reloadable: false,
    logger: createLogger('silent'),
  });
  const reader = page();
  feed.start();
  try {
    feed.stream(reader.res);
    // The tick's view follows the entries it took in.
    await reader.next((view) => !view.full, 'the first tick');
    const kinds = reader.events
      .filter(({ event }) => event === 'timeline')
      .map(({ data }) => (data as TimelineEntry).kind);
    // In time order: ejected twice (one event), trial twice (one), ejected again, readmitted.
    assert.deepEqual(kinds, ['ejected', 'trial', 'ejected', 'recovered']);
  } finally {
    feed.stop();
  }
});

test('a worker that comes back after missing many reports does not bring its old counts again', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { upstream } = guardedPool(1);
  const url = upstream.targets[0]!.id;
  const row = (attempts: number, failures: number): TargetReport => ({
    upstream: 'api',
    url,
    attempts,
    failures,
    latency: latency(0, attempts),
    inFlight: 0,
    concurrencyLimit: null,
    breaker: 'closed',
    retryAfterMs: 0,
    ejections: 0,
    reason: null,
  });
  const report = (pid: number, attempts: number, failures: number): WorkerReport => ({
    pid,
    report: { targets: [row(attempts, failures)], timeline: [] },
  });
  // Worker 11's first 20 attempts failed; then it got busy and missed its reports for longer
  // than the feed remembers a worker (worker 12 answered meanwhile), serving 300 good requests.
  let answers: WorkerReport[] = [report(11, 0, 0), report(12, 0, 0)];
  const feed = new DashboardFeed({
    pools: () => [upstream],
    workers: async () => answers,
    reloadable: false,
    logger: createLogger('silent'),
  });
  const reader = page();
  const tick = async () => {
    t.mock.timers.tick(1_000);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const errorPercent = () => {
    const views = reader.events.filter(({ event }) => event === 'view');
    const view = views.at(-1)?.data as DashboardView | undefined;
    assert.ok(view !== undefined, 'a view was sent');
    return view.upstreams[0]?.targets[0]?.errorPercent;
  };
  feed.start();
  try {
    feed.stream(reader.res);
    await tick();
    answers = [report(11, 20, 20), report(12, 0, 0)];
    await tick();
    assert.equal(errorPercent(), 100, 'the failures are shown once');
    answers = [report(12, 0, 0)];
    for (let i = 0; i < 40; i++) await tick();
    answers = [report(11, 320, 20), report(12, 0, 0)];
    await tick();
    assert.equal(errorPercent(), 0, 'the 20 old failures are not counted a second time');
  } finally {
    feed.stop();
  }
});

test("tells a target's ejections after a reload gave it a new breaker", async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { upstream } = guardedPool(1);
  const feed = new DashboardFeed({
    pools: () => [upstream],
    reloadable: false,
    logger: createLogger('silent'),
  });
  const reader = page();
  feed.start();
  try {
    feed.stream(reader.res);
    // A reload that changes outlierDetection keeps the target and replaces its breaker.
    upstream.targets[0]!.breaker = guardedPool(1).upstream.targets[0]!.breaker;
    t.mock.timers.tick(1_000);
    eject(upstream, 0);
    const ejected = reader.events.filter(
      ({ event, data }) => event === 'timeline' && (data as TimelineEntry).kind === 'ejected',
    );
    assert.equal(ejected.length, 1);
    const views = reader.events.filter(({ event }) => event === 'view');
    const row = (views.at(-1)?.data as DashboardView | undefined)?.upstreams[0]?.targets[0];
    assert.equal(row?.state, 'ejected');
    assert.match(row?.reason ?? '', /consecutive failure/);
  } finally {
    feed.stop();
  }
});
