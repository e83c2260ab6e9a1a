/**
 * Black-box: `workers: 2` as an operator runs it. Target state is one truth across the workers:
 * an ejection seen by one ejects the target in both and one trial brings it back in both; the
 * primary probes each target once per interval however many workers there are; a drain through
 * the admin API reaches every worker. The admin API answers for the whole cluster.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClusterUpstreamsView } from '../../src/workers/merge-view.ts';
import type { WorkerInfo } from '../../src/workers/supervisor.ts';
import { type ClusterCli, startClusterCli, waitUntil } from '../support/cluster-cli.ts';
import { httpRequest, startServer, type TestServer } from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

type Row = ClusterUpstreamsView['upstreams'][number]['targets'][number];

describe('a proxy with two workers', () => {
  const inTempDir = useTempDir('bw-workers-');
  let steady: TestServer;
  let flaky: TestServer;
  let probed: TestServer;
  let flakyPort: number;
  let flakyHits = 0;
  let probes = 0;
  let proxy: ClusterCli;

  before(async () => {
    steady = await startServer((_req, res) => res.end('steady'));
    flaky = await startServer((_req, res) => {
      flakyHits++;
      res.end('flaky');
    });
    flakyPort = flaky.port;
    probed = await startServer((req, res) => {
      if (req.url === '/healthz') probes++;
      res.end('probed');
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
    targets: [{ url: ${steady.url} }, { url: ${flaky.url} }]
    outlierDetection:
      policy: { consecutiveFailures: 2 }
      failOn: [connect-error]
      ejection: { base: 1s, max: 1s }
      maxEjectedPercent: 50
  probed:
    targets: [{ url: ${probed.url} }]
    healthCheck: { path: /healthz, interval: 200ms, jitter: 0 }
routes:
  - match: { pathPrefix: /probed }
    upstream: probed
  - upstream: app
log: { access: false }
`,
    );
    proxy = await startClusterCli(file);
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all([steady?.close(), flaky?.close(), probed?.close()]);
  });

  const flakyRow = async (): Promise<Row> => {
    const view = await proxy.adminGet<ClusterUpstreamsView>('/api/upstreams');
    const row = view.upstreams[0]?.targets.find((target) => target.url.endsWith(`:${flakyPort}`));
    assert.ok(row !== undefined, 'the flaky target is listed');
    return row;
  };

  test('lists both workers with their pids and uptime, and forwards through them', async () => {
    const { workers } = await proxy.adminGet<{ workers: WorkerInfo[] }>('/api/workers');
    assert.equal(workers.length, 2);
    for (const row of workers) {
      assert.equal(row.state, 'ready');
      assert.ok(typeof row.pid === 'number' && row.pid !== proxy.child.pid, 'a worker pid');
      assert.ok(row.uptimeMs >= 0);
      assert.equal(row.restarts, 0);
    }
    const response = await httpRequest(`http://127.0.0.1:${proxy.port}/`);
    assert.equal(response.status, 200);
  });

  test('probes each target once per interval, not once per worker', async () => {
    const before = probes;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const seen = probes - before;
    // 10 intervals of 200 ms: about 10 probes from the primary; 20 if each worker probed.
    assert.ok(seen >= 5 && seen <= 13, `${seen} probes in 2 s at a 200 ms interval`);
  });

  test('a killed target is ejected in both workers and comes back in both after one trial', async () => {
    await flaky.close();
    // Each request on a new connection: the primary hands connections to the workers in turn.
    // Refused connections are retried on the steady target, so clients see no failure.
    await waitUntil('the flaky target is ejected in both workers', async () => {
      for (let i = 0; i < 4; i++) {
        assert.equal((await httpRequest(`http://127.0.0.1:${proxy.port}/`)).status, 200);
      }
      const row = await flakyRow();
      return row.workers.length === 2 && row.workers.every((w) => w.breaker.state === 'open');
    });
    const ejected = await flakyRow();
    assert.equal(ejected.breaker.state, 'open');
    assert.equal(ejected.eligible, false);

    // The same port again: a target that recovered.
    const revived: Server = createServer((_req, res) => {
      flakyHits++;
      res.end('flaky');
    });
    await new Promise<void>((resolve) => revived.listen(flakyPort, '127.0.0.1', resolve));
    try {
      flakyHits = 0;
      await waitUntil(
        'the flaky target is readmitted in both workers',
        async () => {
          assert.equal((await httpRequest(`http://127.0.0.1:${proxy.port}/`)).status, 200);
          const row = await flakyRow();
          return row.workers.length === 2 && row.workers.every((w) => w.breaker.state === 'closed');
        },
        15_000,
      );
      const back = await flakyRow();
      // Readmitted once, by a trial: not ejected again, and not one trial per worker first.
      assert.equal(back.ejections, 1);
      assert.ok(flakyHits >= 1, 'the trial reached the target');
    } finally {
      await new Promise<void>((resolve) => {
        revived.close(() => resolve());
        revived.closeAllConnections();
      });
    }
  });

  test('a drain through the admin API applies in every worker', async () => {
    const drain = await proxy.adminPost('/api/upstreams/probed/targets/0/drain');
    assert.equal(drain.status, 200);
    await waitUntil('both workers refuse the drained-only upstream', async () => {
      const answers = await Promise.all(
        [0, 1, 2, 3].map(() => httpRequest(`http://127.0.0.1:${proxy.port}/probed/x`)),
      );
      return answers.every((answer) => answer.status === 503);
    });
    const enable = await proxy.adminPost('/api/upstreams/probed/targets/0/enable');
    assert.equal(enable.status, 200);
    await waitUntil('both workers forward again', async () => {
      const answers = await Promise.all(
        [0, 1, 2, 3].map(() => httpRequest(`http://127.0.0.1:${proxy.port}/probed/x`)),
      );
      return answers.every((answer) => answer.status === 200);
    });
  });

  test('/metrics adds the workers up without counting a target twice', async () => {
    const text = (await httpRequest(`${proxy.admin}/metrics`)).body;
    const healthy = /breakwater_target_healthy\{upstream="probed",target="[^"]+"\} (\d+)/.exec(
      text,
    );
    assert.equal(healthy?.[1], '1', 'one eligible target, not one per worker');
    const requests = /breakwater_requests_total\{upstream="probed",status_class="2xx"\} (\d+)/.exec(
      text,
    );
    assert.ok(Number(requests?.[1]) >= 4, 'requests forwarded by both workers are counted');
  });

  test('SIGUSR2 replaces every worker', async () => {
    const workers = async () =>
      (await proxy.adminGet<{ workers: WorkerInfo[] }>('/api/workers')).workers;
    const before = (await workers()).map((row) => row.pid);
    proxy.child.kill('SIGUSR2');
    await waitUntil(
      'both workers are new and serving',
      async () => {
        const rows = await workers();
        return rows.every((row) => row.state === 'ready' && !before.includes(row.pid));
      },
      20_000,
    );
    assert.equal((await httpRequest(`http://127.0.0.1:${proxy.port}/`)).status, 200);
  });
});

test('breakwater start refuses a --workers value that is not auto or a whole number', async () => {
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'bw-workers-flag-'));
  try {
    const file = join(dir, 'proxy.yaml');
    writeFileSync(
      file,
      'listen: 127.0.0.1:0\nupstreams: { app: { targets: [{ url: http://127.0.0.1:1 }] } }\nroutes: [{ upstream: app }]\n',
    );
    const child = spawn(
      process.execPath,
      ['--conditions=@breakwater/source', cli, 'start', '--config', file, '--workers', 'zero'],
      { env: { PATH: process.env.PATH ?? '' } },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 2);
    assert.match(stderr, /--workers expects auto or a whole number from 1 to 1024, got "zero"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
