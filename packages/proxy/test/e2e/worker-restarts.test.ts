/**
 * Black-box: replacing workers under a steady, bounded GET load (each request on its own
 * connection). A worker killed with SIGKILL costs only the requests it had in flight and is
 * replaced; a rolling restart and a reload cost none; an invalid config changes nothing. And
 * SIGTERM in the middle of a rolling restart: every worker stops on its own, none is killed.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { ClusterUpstreamsView } from '../../src/workers/merge-view.ts';
import type { WorkerInfo } from '../../src/workers/supervisor.ts';
import { type ClusterCli, startClusterCli, steadyLoad, waitUntil } from '../support/cluster-cli.ts';
import { startServer, type TestServer } from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

const CONCURRENCY = 4;

describe('replacing workers under load', () => {
  const inTempDir = useTempDir('bw-worker-restarts-');
  let first: TestServer;
  let second: TestServer;
  let proxy: ClusterCli;
  let file: string;
  const yaml = (targets: string) => `
listen: 127.0.0.1:0
workers: 2
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    targets: [${targets}]
routes:
  - upstream: app
log: { access: false }
`;

  before(async () => {
    // A little work per request, so requests are in flight when a worker goes away.
    const slow = (name: string) =>
      startServer((_req, res) => {
        setTimeout(() => res.end(name), 5);
      });
    first = await slow('first');
    second = await slow('second');
    file = inTempDir('proxy.yaml');
    writeFileSync(file, yaml(`{ url: ${first.url} }`));
    proxy = await startClusterCli(file);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([first?.close(), second?.close()]);
  });

  const workers = async () =>
    (await proxy.adminGet<{ workers: WorkerInfo[] }>('/api/workers')).workers;
  const load = () =>
    steadyLoad(`http://127.0.0.1:${proxy.port}/`, { concurrency: CONCURRENCY, maxRequests: 5_000 });

  test('kill -9 of a worker loses only its in-flight requests, and it is replaced', async () => {
    const [victim] = await workers();
    assert.ok(victim?.pid !== undefined);
    const running = load();
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(victim.pid, 'SIGKILL');
    await waitUntil('the worker is replaced', async () => {
      const row = (await workers())[victim.slot];
      return row?.state === 'ready' && row.pid !== victim.pid;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    running.stop();
    const result = await running.result;
    // At most what the victim had in flight: one request per load loop.
    assert.ok(result.failed <= CONCURRENCY, `${result.failed} failed: ${result.errors.join('; ')}`);
    assert.ok(result.ok > 20, `${result.ok} requests served`);
    const row = (await workers())[victim.slot];
    assert.equal(row?.restarts, 1);
    assert.deepEqual(row?.lastExit, { code: null, signal: 'SIGKILL' });
    assert.match(proxy.output(), /worker died; replacing it/);
  });

  test('a rolling restart replaces every worker without one failed request', async () => {
    const before = (await workers()).map((row) => row.pid);
    const running = load();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const restart = await proxy.adminPost('/api/restart');
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    const result = await running.result;
    assert.equal(restart.status, 200);
    assert.equal(result.failed, 0, result.errors.join('; '));
    assert.ok(result.ok > 20, `${result.ok} requests served`);
    const after = (await workers()).map((row) => row.pid);
    for (const pid of after) assert.ok(!before.includes(pid), `worker ${pid} is new`);
  });

  test('a reload under load reaches both workers without a failed request', async () => {
    const running = load();
    await new Promise((resolve) => setTimeout(resolve, 200));
    writeFileSync(file, yaml(`{ url: ${first.url} }, { url: ${second.url} }`));
    const reload = await proxy.adminPost('/api/reload');
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    const result = await running.result;
    assert.equal(reload.status, 200, JSON.stringify(reload.body));
    assert.equal(result.failed, 0, result.errors.join('; '));
    const view = await proxy.adminGet<ClusterUpstreamsView>('/api/upstreams');
    const targets = view.upstreams[0]?.targets ?? [];
    assert.equal(targets.length, 2);
    for (const target of targets) assert.equal(target.workers.length, 2, 'known to both workers');
  });

  test('an invalid config is refused once and changes nothing anywhere', async () => {
    writeFileSync(file, yaml(`{ url: not-a-url }`));
    const reload = await proxy.adminPost('/api/reload');
    assert.equal(reload.status, 422);
    const view = await proxy.adminGet<ClusterUpstreamsView>('/api/upstreams');
    assert.equal(view.upstreams[0]?.targets.length, 2);
    const rows = await workers();
    assert.ok(rows.every((row) => row.state === 'ready'));
    const running = load();
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    assert.equal((await running.result).failed, 0);
  });
});

describe('SIGTERM during a rolling restart', () => {
  const inTempDir = useTempDir('bw-worker-restarts-stop-');
  let target: TestServer;
  let proxy: ClusterCli | undefined;

  before(async () => {
    target = await startServer((_req, res) => res.end('ok'));
  });
  after(async () => {
    await proxy?.stop();
    await target?.close();
  });

  test('stops the starting replacement and the worker it replaces without killing either', async () => {
    const file = inTempDir('proxy.yaml');
    writeFileSync(
      file,
      `
listen: 127.0.0.1:0
workers: 2
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    targets: [{ url: ${target.url} }]
routes:
  - upstream: app
log: { access: false }
`,
    );
    const running = await startClusterCli(file);
    proxy = running;
    const workers = async () =>
      (await running.adminGet<{ workers: WorkerInfo[] }>('/api/workers')).workers;
    const pids = new Set((await workers()).map((row) => row.pid));
    void running.adminPost('/api/restart').catch(() => {});
    await waitUntil('a replacement is starting', async () => {
      const rows = await workers();
      for (const row of rows) pids.add(row.pid);
      return rows.some((row) => row.state === 'starting');
    });

    const began = Date.now();
    await running.stop();
    const elapsed = Date.now() - began;
    assert.doesNotMatch(running.output(), /did not stop; killing it/);
    // shutdownTimeout is 10 s and a stuck worker gets 2 s more: nobody waited for that.
    assert.ok(elapsed < 8_000, `stopping took ${elapsed} ms`);
    // No worker outlives the primary (a service manager would kill it, and its requests).
    for (const pid of pids) {
      if (pid === undefined) continue;
      assert.throws(() => process.kill(pid, 0), `worker ${pid} still runs`);
    }
  });
});
