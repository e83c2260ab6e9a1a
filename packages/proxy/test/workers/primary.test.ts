/**
 * The cluster primary, in this process, with real workers on loopback: what it does for a
 * worker that is still starting (held by the test's worker entry) when the config or a target's
 * state changes, or when the admin API asks the workers.
 */
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ClusterUpstreamsView } from '../../src/workers/merge-view.ts';
import { type RunningCluster, startCluster } from '../../src/workers/primary.ts';
import { waitUntil } from '../support/cluster-cli.ts';
import {
  type CapturedLogs,
  capturingLogger,
  httpRequest,
  startServer,
  type TestServer,
} from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

const WORKER = fileURLToPath(new URL('./fixtures/slow-start-worker.ts', import.meta.url));

describe('cluster primary', () => {
  const inTempDir = useTempDir('bw-primary-');
  let a: TestServer;
  let b: TestServer;
  let running: RunningCluster;
  let admin: string;
  let file: string;
  let hold: string;
  let bHealthy = true;
  let logs: CapturedLogs;
  const yaml = (targets: string, more = '') => `
listen: 127.0.0.1:0
workers: 1
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    targets: [${targets}]
    ${more}
routes:
  - upstream: app
log: { access: false, level: warn }
`;

  before(async () => {
    a = await startServer((_req, res) => res.end('a'));
    b = await startServer((req, res) => {
      if (req.url?.startsWith('/health') && !bHealthy) res.statusCode = 503;
      res.end('b');
    });
    file = inTempDir('proxy.yaml');
    hold = inTempDir('hold');
    process.env.BREAKWATER_TEST_HOLD = hold;
    writeFileSync(file, yaml(`{ url: ${a.url} }`));
    const captured = capturingLogger();
    logs = captured.logs;
    running = await startCluster(loadConfig(yaml(`{ url: ${a.url} }`)), {
      logger: captured.logger,
      configFile: file,
      workerEntry: WORKER,
      execArgv: ['--conditions=@breakwater/source'],
    });
    admin = `http://127.0.0.1:${running.adminAddress?.port}`;
  });
  after(async () => {
    await running?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  /** Starts a rolling restart whose replacement stays starting until `release()`. */
  const restartHeld = async () => {
    rmSync(`${hold}.started`, { force: true });
    writeFileSync(hold, '');
    const restarted = running.restart();
    await waitUntil(
      'the replacement has its start message',
      async () => existsSync(`${hold}.started`),
      30_000,
    );
    return {
      release: () => {
        rmSync(hold);
        return restarted;
      },
    };
  };

  /** The (one) worker's process, seen from here: this test is its primary. */
  const theWorker = () => {
    const worker = Object.values(cluster.workers ?? {}).find(
      (each) => each?.process.pid === running.workers()[0]?.pid,
    );
    assert.ok(worker !== undefined);
    return worker;
  };
  /** The proxy messages the worker has received, by type. */
  const received = async (): Promise<Record<string, number>> => {
    const worker = theWorker();
    const answer = new Promise<Record<string, number>>((resolve) => {
      const onMessage = (message: { test?: string; received?: Record<string, number> }) => {
        if (message.test !== 'counts') return;
        worker.off('message', onMessage);
        resolve(message.received ?? {});
      };
      worker.on('message', onMessage);
    });
    worker.send({ test: 'counts' });
    return answer;
  };

  test('admin requests that come while the workers are busy share one question to them', async () => {
    const CALLS = 40;
    for (const [path, type] of [
      ['/api/upstreams', 'view'],
      ['/api/listeners', 'listeners'],
      ['/metrics', 'metrics'],
    ] as const) {
      const before = (await received())[type] ?? 0;
      // The requests all arrive while the worker cannot answer: without sharing, each would
      // queue its own question on the worker's channel.
      theWorker().send({ test: 'busy', ms: 1_000 });
      const answers = await Promise.all(
        Array.from({ length: CALLS }, () => httpRequest(`${admin}${path}`)),
      );
      for (const answer of answers) assert.equal(answer.status, 200, answer.body);
      const asked = ((await received())[type] ?? 0) - before;
      // One question out and one more for whoever came meanwhile; a few more if a loaded machine
      // spreads the requests past the busy second, never one per request.
      assert.ok(
        asked > 0 && asked <= CALLS / 4,
        `${path}: ${asked} ${type} questions for ${CALLS} requests`,
      );
    }
  });

  test('a rolling restart asked for again while one runs (API and signal) joins it', async () => {
    let forks = 0;
    const counted = () => forks++;
    cluster.on('fork', counted);
    try {
      const [viaApi, viaSignal, again] = await Promise.all([
        httpRequest(`${admin}/api/restart`, { method: 'POST' }),
        running.restart(),
        httpRequest(`${admin}/api/restart`, { method: 'POST' }),
      ]);
      assert.equal(viaApi.status, 200, viaApi.body);
      assert.equal(again.status, 200, again.body);
      assert.equal(viaSignal, undefined);
    } finally {
      cluster.off('fork', counted);
    }
    // One worker slot: one replacement, not one per request.
    assert.equal(forks, 1);
  });

  test('GET /metrics answers from the serving workers while a replacement starts', async () => {
    const before = await httpRequest(`${admin}/metrics`);
    assert.equal(before.status, 200, before.body);
    const restart = await restartHeld();
    try {
      const during = await httpRequest(`${admin}/metrics`);
      assert.equal(during.status, 200, during.body);
      assert.match(during.body, /^breakwater_/m);
    } finally {
      await restart.release();
    }
  });

  test('a reload and a drain made while a replacement worker starts reach it once it serves', async () => {
    const restart = await restartHeld();
    writeFileSync(file, yaml(`{ url: ${a.url} }, { url: ${b.url} }`));
    assert.equal((await running.reloadFile()).status, 'applied');
    const drained = await httpRequest(`${admin}/api/upstreams/app/targets/0/drain`, {
      method: 'POST',
    });
    assert.equal(drained.status, 200, drained.body);
    await restart.release();

    const pid = running.workers()[0]?.pid;
    assert.ok(pid !== undefined);
    // The primary brings the new worker up to date once it is ready; no fixed wait.
    await waitUntil(
      'the new worker has the reloaded config and the drain',
      async () => {
        const view = JSON.parse(
          (await httpRequest(`${admin}/api/upstreams`)).body,
        ) as ClusterUpstreamsView;
        const targets = view.upstreams[0]?.targets ?? [];
        const row = (index: number) => targets[index]?.workers.find((each) => each.pid === pid);
        return row(1)?.eligible === true && row(0)?.eligible === false;
      },
      10_000,
    );
  });
  test("health changes still reach the workers after a reload that changes the targets' health check", async () => {
    const check = (path: string) =>
      `healthCheck: { path: ${path}, interval: 200ms, healthyThreshold: 1, unhealthyThreshold: 1 }`;
    const targets = `{ url: ${a.url} }, { url: ${b.url} }`;
    writeFileSync(file, yaml(targets, check('/healthz')));
    assert.equal((await running.reloadFile()).status, 'applied');
    // A changed check replaces each target's checker; the target stays.
    writeFileSync(file, yaml(targets, check('/health-deep')));
    assert.equal((await running.reloadFile()).status, 'applied');
    bHealthy = false;
    const pid = running.workers()[0]?.pid;
    await waitUntil(
      'the worker stops sending to the target its health check found down',
      async () => {
        const view = JSON.parse(
          (await httpRequest(`${admin}/api/upstreams`)).body,
        ) as ClusterUpstreamsView;
        const target = view.upstreams[0]?.targets[1];
        return (
          target?.healthy === false &&
          target.workers.find((row) => row.pid === pid)?.eligible === false
        );
      },
      15_000,
    );
  });

  test('a reload to a spill directory the workers cannot write is rejected before any worker sees it, naming its path', async () => {
    const serving = `{ url: ${a.url} }`;
    writeFileSync(file, yaml(serving));
    // Applied, or unchanged when this test runs alone.
    assert.notEqual((await running.reloadFile()).status, 'rejected');
    // An earlier test drained it.
    const enabled = await httpRequest(`${admin}/api/upstreams/app/targets/0/enable`, {
      method: 'POST',
    });
    assert.equal(enabled.status, 200, enabled.body);
    const reloadsBefore = (await received()).reload ?? 0;
    const missing = inTempDir('no-such-spill-directory');
    // Another target too: were the reload applied anywhere, requests would reach b.
    writeFileSync(
      file,
      `${yaml(`{ url: ${b.url} }`)}limits: { responseSpill: { directory: ${missing} } }\n`,
    );
    const result = await running.reloadFile();
    assert.equal(result.status, 'rejected');
    assert.ok(result.status === 'rejected');
    assert.deepEqual(
      result.error.issues.map((issue) => issue.path),
      ['limits.responseSpill.directory'],
    );
    assert.match(result.error.message, /cannot create spill files in .*no-such-spill-directory/);
    // The workers were never asked, and they serve on the old config.
    assert.equal((await received()).reload ?? 0, reloadsBefore);
    const answer = await httpRequest(`http://${running.proxyAddresses[0]}/`);
    assert.equal(answer.body, 'a');
  });

  test('a worker that exits instead of applying a reload is reported as gone, without waiting for its answer', async () => {
    const worker = theWorker();
    const pid = worker.process.pid;
    worker.send({ test: 'exit-on', type: 'reload' });
    writeFileSync(file, yaml(`{ url: ${b.url} }`));
    const began = Date.now();
    assert.equal((await running.reloadFile()).status, 'applied');
    const elapsed = Date.now() - began;

    const messages = logs.lines.filter((line) => line.pid === pid).map((line) => line.msg);
    assert.ok(messages.includes('a worker exited before applying the reload'), String(messages));
    assert.ok(!messages.some((msg) => /restarting it/.test(String(msg))), String(messages));
    // Well under the 10 s a worker has to answer a reload: its exit ended the wait.
    assert.ok(elapsed < 8_000, `the reload took ${elapsed} ms`);
    // Replaced as after any crash, on the reloaded config.
    await waitUntil(
      'the slot serves again',
      async () => {
        const row = running.workers()[0];
        return row?.state === 'ready' && row.pid !== pid;
      },
      30_000,
    );
  });
});
