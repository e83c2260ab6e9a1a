/**
 * Black-box: `cluster.accept: reuse-port` as an operator runs it. Each worker binds its own
 * socket on the configured port and both serve; a rolling restart under load replaces them, and
 * whatever it costs is a connection the kernel had queued on the closing socket (the documented
 * SO_REUSEPORT limit, unless net.ipv4.tcp_migrate_req is 1), never a wrong answer.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { WorkerInfo } from '../../src/workers/supervisor.ts';
import { type ClusterCli, startClusterCli, steadyLoad, waitUntil } from '../support/cluster-cli.ts';
import { closedPort, sendRequest, startServer, type TestServer } from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

const CONCURRENCY = 4;

function migratesQueuedConnections(): boolean {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

describe('workers accepting through reuse-port', {
  skip: process.platform !== 'linux' && 'SO_REUSEPORT spreading is Linux only',
}, () => {
  const inTempDir = useTempDir('bw-reuse-port-');
  let upstream: TestServer;
  let proxy: ClusterCli;

  before(async () => {
    upstream = await startServer((_req, res) => {
      setTimeout(() => res.end(String(process.pid)), 5);
    });
    const file = inTempDir('proxy.yaml');
    // A fixed port: with reuse-port each worker binds it itself (port 0 is refused).
    const port = await closedPort();
    writeFileSync(
      file,
      `
listen: 127.0.0.1:${port}
workers: 2
cluster: { accept: reuse-port }
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
log: { access: false }
`,
    );
    proxy = await startClusterCli(file);
  });
  after(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  const workers = async () =>
    (await proxy.adminGet<{ workers: WorkerInfo[] }>('/api/workers')).workers;

  test('both workers serve on the one port', async () => {
    const rows = await workers();
    assert.equal(rows.length, 2);
    assert.ok(rows.every((row) => row.state === 'ready'));
    // The kernel hashes each new connection's addresses: over many connections both are used.
    const running = steadyLoad(`http://127.0.0.1:${proxy.port}/`, {
      concurrency: CONCURRENCY,
      maxRequests: 200,
    });
    const result = await running.result;
    assert.equal(result.failed, 0, result.errors.join('; '));
    assert.equal(result.ok, 200);
    const response = await sendRequest(`http://127.0.0.1:${proxy.port}/`, { method: 'GET' });
    assert.equal(response.status, 200);
  });

  test('a rolling restart replaces both workers; only queued connections can be lost', {
    timeout: 60_000,
  }, async (t) => {
    const before = (await workers()).map((row) => row.pid);
    const running = steadyLoad(`http://127.0.0.1:${proxy.port}/`, {
      concurrency: CONCURRENCY,
      maxRequests: 5_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const restart = await proxy.adminPost('/api/restart');
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    const result = await running.result;
    t.diagnostic(`${result.ok} served, ${result.failed} failed: ${result.errors.join('; ')}`);
    assert.equal(restart.status, 200);
    assert.ok(result.ok > 20, `${result.ok} requests served`);
    await waitUntil('both workers are new and serving', async () => {
      const rows = await workers();
      return rows.every((row) => row.state === 'ready' && !before.includes(row.pid));
    });
    if (migratesQueuedConnections()) {
      assert.equal(result.failed, 0, result.errors.join('; '));
    } else {
      // Each loop has one connection open at a time, so at most that many per closing socket.
      assert.ok(
        result.failed <= CONCURRENCY * 2,
        `${result.failed} failed: ${result.errors.join('; ')}`,
      );
      for (const error of result.errors) assert.match(error, /ECONNRESET|socket hang up/);
    }
  });
});
