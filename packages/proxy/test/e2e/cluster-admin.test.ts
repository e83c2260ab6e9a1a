/**
 * Black-box: the admin listener of a proxy with two workers answers for the whole proxy, though
 * only the workers forward: `GET /api/listeners` lists the workers' listeners with their
 * connections summed, `GET /api/upstreams` shows the latency and adaptive concurrency the
 * workers learnt, and the dashboard's live feed shows the workers' traffic and an ejection's
 * reason once, however many workers saw it, and the primary's reloads; in a browser, each
 * worker's share is on hover.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import type { DashboardView, TimelineEntry } from '../../src/admin/dashboard-feed.ts';
import type { ClusterListenerView } from '../../src/workers/merge-listeners.ts';
import type { ClusterUpstreamsView } from '../../src/workers/merge-view.ts';
import type { WorkerInfo } from '../../src/workers/supervisor.ts';
import { type ClusterCli, startClusterCli, waitUntil } from '../support/cluster-cli.ts';
import { httpRequest, startServer, type TestServer } from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

type Seen = { event: string; data: unknown };

/** Reads `GET /api/events` until `done` says so (20 s at most); returns the events seen. */
async function events(url: string, done: (seen: Seen[]) => boolean): Promise<Seen[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  const seen: Seen[] = [];
  try {
    const response = await fetch(`${url}/api/events`, { signal: controller.signal });
    assert.equal(response.status, 200);
    let buffer = '';
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end !== -1) {
        const [eventLine = '', dataLine = ''] = buffer.slice(0, end).split('\n');
        seen.push({ event: eventLine.slice(7), data: JSON.parse(dataLine.slice(6)) });
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
      if (done(seen)) break;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return seen;
}

/** `count` GETs of `url`, `concurrency` at a time, each on a fresh connection; statuses seen. */
async function requests(url: string, count: number, concurrency = 4): Promise<number[]> {
  const statuses: number[] = [];
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) statuses.push((await httpRequest(url)).status);
    }),
  );
  return statuses;
}

describe('the admin listener of a proxy with two workers', () => {
  const inTempDir = useTempDir('bw-cluster-admin-');
  let slow: TestServer;
  let good: TestServer;
  let failing: TestServer;
  let proxy: ClusterCli;

  before(async () => {
    slow = await startServer((_req, res) => {
      setTimeout(() => res.end('slow'), 40);
    });
    good = await startServer((_req, res) => res.end('good'));
    failing = await startServer((_req, res) => {
      res.statusCode = 500;
      res.end('failing');
    });
    const file = inTempDir('proxy.yaml');
    writeFileSync(
      file,
      `
listen: 127.0.0.1:0
workers: 2
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    balance: peak-ewma
    targets: [{ url: ${slow.url} }]
    adaptiveConcurrency: { initialLimit: 20 }
  shop:
    balance: round-robin
    targets: [{ url: ${good.url} }, { url: ${failing.url} }]
    outlierDetection:
      policy: { consecutiveFailures: 2 }
      failOn: [5xx]
      ejection: { base: 60s }
      maxEjectedPercent: 50
    retry: false
routes:
  - match: { pathPrefix: /shop }
    upstream: shop
  - upstream: app
log: { access: false }
`,
    );
    proxy = await startClusterCli(file);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([slow?.close(), good?.close(), failing?.close()]);
  });

  const workerPids = async () =>
    (await proxy.adminGet<{ workers: WorkerInfo[] }>('/api/workers')).workers
      .map((row) => row.pid)
      .sort();

  test("lists the workers' listeners with connections summed and per worker", async () => {
    const statuses = await requests(`http://127.0.0.1:${proxy.port}/`, 30);
    assert.deepEqual(new Set(statuses), new Set([200]));
    const { listeners } = await proxy.adminGet<{ listeners: ClusterListenerView[] }>(
      '/api/listeners',
    );
    assert.equal(listeners.length, 1);
    const [listener] = listeners;
    assert.equal(listener?.address, `127.0.0.1:${proxy.port}`);
    assert.equal(listener?.kind, 'http');
    const accepted = listener?.connections.accepted['http/1.1'] ?? 0;
    assert.ok(accepted >= 30, `accepted ${accepted}`);
    assert.deepEqual(listener?.workers.map((row) => row.pid).sort(), await workerPids());
    assert.equal(
      listener?.workers.reduce((sum, row) => sum + (row.connections.accepted['http/1.1'] ?? 0), 0),
      accepted,
    );
  });

  test('shows the latency and concurrency limits the workers learnt', async () => {
    await requests(`http://127.0.0.1:${proxy.port}/`, 20);
    const view = await proxy.adminGet<ClusterUpstreamsView>('/api/upstreams');
    const row = view.upstreams.find((upstream) => upstream.name === 'app')?.targets[0];
    assert.ok(row !== undefined);
    assert.equal(row.workers.length, 2);
    // The primary forwards nothing: its own estimate is null. The upstream answers after 40 ms.
    assert.ok(typeof row.latency === 'number' && row.latency >= 30, `latency ${row.latency}`);
    const estimates = row.workers.map((each) => each.latency ?? 0);
    assert.equal(row.latency, Math.max(...estimates));
    const limits = row.workers.map((each) => each.concurrency?.limit ?? 0);
    assert.ok(limits.every((limit) => limit > 0));
    assert.equal(
      row.concurrency?.limit,
      limits.reduce((sum, limit) => sum + limit, 0),
    );
  });

  test("the dashboard shows the workers' traffic and an ejection's reason once", async () => {
    const page = await httpRequest(`${proxy.admin}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<html/i);

    // Steady traffic on app while the feed is read; the shop's failing target is hit until out.
    let running = true;
    const load = (async () => {
      const until = Date.now() + 20_000;
      while (running && Date.now() < until) {
        await requests(`http://127.0.0.1:${proxy.port}/`, 4, 2);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const failingUrl = failing.url.replace(/\/$/, '');
    const shop = (seen: Seen[]) =>
      seen
        .filter(({ event }) => event === 'view')
        .map(({ data }) => (data as DashboardView).upstreams.find((each) => each.name === 'shop'))
        .at(-1)
        ?.targets.find((target) => target.url === failingUrl);
    try {
      await requests(`http://127.0.0.1:${proxy.port}/shop`, 12, 2);
      await waitUntil('the failing target is ejected', async () => {
        const view = await proxy.adminGet<ClusterUpstreamsView>('/api/upstreams');
        const row = view.upstreams.find((each) => each.name === 'shop')?.targets[1];
        return row?.workers.every((each) => each.breaker.state === 'open') ?? false;
      });
      const seen = await events(proxy.admin, (so) => {
        const app = so
          .filter(({ event }) => event === 'view')
          .map(({ data }) => (data as DashboardView).upstreams.find((each) => each.name === 'app'))
          .at(-1)?.targets[0];
        return (app?.rps ?? 0) > 0 && (app?.p50Ms ?? 0) >= 30 && shop(so)?.state === 'ejected';
      });
      const app = seen
        .filter(({ event }) => event === 'view')
        .map(({ data }) => (data as DashboardView).upstreams.find((each) => each.name === 'app'))
        .at(-1)?.targets[0];
      assert.ok((app?.rps ?? 0) > 0, `app rps ${app?.rps}`);
      assert.ok((app?.p50Ms ?? 0) >= 30, `app p50 ${app?.p50Ms}`);
      assert.deepEqual(app?.workers?.map((each) => each.pid).sort(), await workerPids());
      const target = shop(seen);
      assert.equal(target?.state, 'ejected');
      assert.match(target?.reason ?? '', /2 consecutive failures/);
      assert.ok((target?.retryAfterMs ?? 0) > 0);
      // Each worker may trip on the failures both saw, or take the other's ejection on: one entry.
      const ejections = seen.filter(
        ({ event, data }) =>
          event === 'timeline' &&
          (data as TimelineEntry).kind === 'ejected' &&
          (data as TimelineEntry).target === failingUrl,
      );
      assert.equal(ejections.length, 1, JSON.stringify(ejections));
      assert.match((ejections[0]!.data as TimelineEntry).text, /2 consecutive failures/);
    } finally {
      running = false;
      await load;
    }
  });

  test("a reload through the primary is on the dashboard's timeline", async () => {
    const reload = await proxy.adminPost('/api/reload');
    assert.equal(reload.status, 200);
    const seen = await events(proxy.admin, (so) => so.some(({ event }) => event === 'view'));
    const view = seen.find(({ event }) => event === 'view')?.data as DashboardView;
    assert.equal(view.reloadable, true);
    const reloads = seen.filter(
      ({ event, data }) => event === 'timeline' && (data as TimelineEntry).kind === 'reload',
    );
    assert.equal(reloads.length, 1);
    assert.match((reloads[0]!.data as TimelineEntry).text, /Config reloaded: nothing changed/);
  });

  test("the page shows each worker's share of a target on hover", async () => {
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    let running = true;
    const load = (async () => {
      const until = Date.now() + 20_000;
      while (running && Date.now() < until) {
        await requests(`http://127.0.0.1:${proxy.port}/`, 4, 2);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      const page = await browser.newPage();
      await page.goto(`${proxy.admin}/`);
      const rps = page
        .locator('tr', { has: page.locator('th', { hasText: slow.url.replace(/\/$/, '') }) })
        .locator('td.num')
        .first();
      const pids = await workerPids();
      await page.waitForFunction(
        ({ cell, expected }) =>
          expected.every((pid) => (cell?.getAttribute('title') ?? '').includes(`worker ${pid}:`)),
        { cell: await rps.elementHandle({ timeout: 10_000 }), expected: pids },
        { timeout: 10_000 },
      );
      assert.match((await rps.getAttribute('title')) ?? '', /req\/s, \d+ in flight, closed/);
    } finally {
      running = false;
      await load;
      await browser.close();
    }
  });
});
