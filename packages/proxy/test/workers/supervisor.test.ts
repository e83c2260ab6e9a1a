/**
 * The worker supervisor with real worker processes (the test's worker entry, which can hold back
 * a worker's start message): how it stops workers that are still starting or being replaced, and
 * what it does with a worker that never becomes ready.
 */
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Clock, ManualClock, systemClock } from 'breakwater';
import { loadConfig } from '../../src/config/load-config.ts';
import { WorkerSupervisor } from '../../src/workers/supervisor.ts';
import { workerConfig } from '../../src/workers/worker-config.ts';
import { waitUntil } from '../support/cluster-cli.ts';
import { type CapturedLogs, capturingLogger } from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

const WORKER = fileURLToPath(new URL('./fixtures/slow-start-worker.ts', import.meta.url));
/** As in the CLI: `shutdownTimeout`'s default 10 s plus the 2 s the primary adds. */
const STOP_TIMEOUT_MS = 12_000;

const config = workerConfig(
  loadConfig(`
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: http://127.0.0.1:9 }]
routes:
  - upstream: app
log: { access: false, level: warn }
`),
);

describe('worker supervisor', () => {
  const inTempDir = useTempDir('bw-supervisor-');
  let hold: string;
  let supervisor: WorkerSupervisor | undefined;
  /** How each worker forked in this file ended, by pid. */
  const exits = new Map<number, { code: number | null; signal: string | null }>();
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (worker.process.pid !== undefined) exits.set(worker.process.pid, { code, signal });
  };

  before(() => {
    hold = inTempDir('hold');
    process.env.BREAKWATER_TEST_HOLD = hold;
    cluster.on('exit', onExit);
  });
  afterEach(async () => {
    rmSync(hold, { force: true });
    rmSync(`${hold}.started`, { force: true });
    rmSync(`${hold}.crash`, { force: true });
    await supervisor?.stop();
    supervisor = undefined;
  });
  after(() => {
    cluster.off('exit', onExit);
  });

  const start = (options: { clock?: Clock; startTimeout?: number } = {}) => {
    const { logger, logs } = capturingLogger();
    const made = new WorkerSupervisor({
      count: 1,
      exec: WORKER,
      execArgv: ['--conditions=@breakwater/source'],
      startMessage: () => ({ bw: 'proxy', type: 'start', config, targets: [] }),
      onMessage: () => {},
      stopTimeout: () => STOP_TIMEOUT_MS,
      startTimeout: options.startTimeout ?? 30_000,
      logger,
      clock: options.clock ?? systemClock,
    });
    supervisor = made;
    return { supervisor: made, logs };
  };
  /** Holds the next start message; resolves once a worker has it. */
  const holdNextStart = (mode: '' | 'queue' = '') => {
    rmSync(`${hold}.started`, { force: true });
    writeFileSync(hold, mode);
    return waitUntil(
      'a worker has its start message',
      async () => existsSync(`${hold}.started`),
      30_000,
    );
  };
  const workerWithPid = (pid: number | undefined) => {
    const worker = Object.values(cluster.workers ?? {}).find((each) => each?.process.pid === pid);
    assert.ok(worker !== undefined, `worker ${pid}`);
    return worker;
  };
  const killed = (logs: CapturedLogs) =>
    logs.lines.filter((line) => /did not stop; killing it/.test(String(line.msg)));
  /** stop(), timed: well under the stop timeout unless a worker had to be killed. */
  const timedStop = async (running: WorkerSupervisor) => {
    const began = Date.now();
    await running.stop();
    return Date.now() - began;
  };
  test('stop() while a crashed worker’s replacement waits for its start message stops it at once', async () => {
    const { supervisor: running, logs } = start();
    await running.start();
    const first = running.list()[0]?.pid;
    assert.ok(first !== undefined);
    const held = holdNextStart();
    process.kill(first, 'SIGKILL');
    await held;
    const replacement = running.list()[0]?.pid;
    assert.ok(replacement !== undefined && replacement !== first);

    const elapsed = await timedStop(running);
    assert.deepEqual(killed(logs), []);
    assert.deepEqual(exits.get(replacement), { code: 0, signal: null });
    assert.ok(elapsed < STOP_TIMEOUT_MS - 4_000, `stop() took ${elapsed} ms`);
  });

  test('stop() while a replacement is starting its proxy stops it once the proxy is up', async () => {
    const { supervisor: running, logs } = start();
    await running.start();
    const first = running.list()[0]?.pid;
    assert.ok(first !== undefined);
    // The stop follows the start message in the worker's queue: it arrives while the proxy starts.
    const held = holdNextStart('queue');
    process.kill(first, 'SIGKILL');
    await held;
    const replacement = running.list()[0]?.pid;
    assert.ok(replacement !== undefined && replacement !== first);
    const stopped = timedStop(running);
    await waitUntil('the stop is queued behind the start message', async () => {
      const counts = await new Promise<Record<string, number>>((resolve) => {
        const worker = workerWithPid(replacement);
        const onMessage = (message: { test?: string; received?: Record<string, number> }) => {
          if (message.test !== 'counts') return;
          worker.off('message', onMessage);
          resolve(message.received ?? {});
        };
        worker.on('message', onMessage);
        worker.send({ test: 'counts' });
      });
      return counts.stop === 1;
    });
    rmSync(hold);

    const elapsed = await stopped;
    assert.deepEqual(killed(logs), []);
    assert.deepEqual(exits.get(replacement), { code: 0, signal: null });
    assert.ok(elapsed < STOP_TIMEOUT_MS - 4_000, `stop() took ${elapsed} ms`);
  });

  test('stop() right after forking sends the worker no start message', async () => {
    const { supervisor: running } = start();
    writeFileSync(hold, '');
    const started = running.start();
    const elapsed = await timedStop(running);
    await assert.rejects(started);
    assert.equal(existsSync(`${hold}.started`), false, 'a start message reached the worker');
    assert.ok(elapsed < STOP_TIMEOUT_MS - 4_000, `stop() took ${elapsed} ms`);
  });
  test('stop() during a rolling restart drains the worker being replaced before it resolves', async () => {
    const { supervisor: running, logs } = start();
    await running.start();
    const old = running.list()[0]?.pid;
    assert.ok(old !== undefined);
    const held = holdNextStart();
    const restarted = running.rollingRestart();
    await held;
    const replacement = running.list()[0]?.pid;
    assert.ok(replacement !== undefined && replacement !== old);

    await running.stop();
    // Both have exited, each on its own (the old one after finishing its requests), by the
    // time stop() resolves: a service manager may kill whatever is left once the primary exits.
    assert.deepEqual(exits.get(old), { code: 0, signal: null });
    assert.deepEqual(exits.get(replacement), { code: 0, signal: null });
    assert.deepEqual(killed(logs), []);
    await restarted;
  });
  test('a replacement that never becomes ready is killed after the start timeout and counted as a crash', async () => {
    const clock = new ManualClock();
    const { supervisor: running, logs } = start({ clock, startTimeout: 30_000 });
    await running.start();
    const held = holdNextStart();
    const restarted = running.rollingRestart();
    await held;
    const stuck = running.list()[0]?.pid;
    clock.advance(30_000);
    // The rolling restart goes on instead of waiting for the stuck worker forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      restarted,
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('the rolling restart is still waiting')), 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    await waitUntil('the stuck worker is gone', async () => exits.has(stuck ?? -1), 20_000);
    assert.deepEqual(exits.get(stuck ?? -1), { code: null, signal: 'SIGKILL' });
    const row = running.list()[0];
    assert.equal(row?.restarts, 1);
    assert.deepEqual(row?.lastExit, { code: null, signal: 'SIGKILL' });
    assert.ok(
      logs.lines.some((line) => /did not become ready/.test(String(line.msg))),
      JSON.stringify(logs.lines),
    );

    // Replaced as after a crash (the first one at once), and this one starts.
    rmSync(hold);
    await waitUntil(
      'the slot serves again',
      async () => {
        clock.advance(0);
        const now = running.list()[0];
        return now?.state === 'ready' && now.pid !== stuck;
      },
      30_000,
    );
  });

  test('a crashed worker whose replacement dies before serving is replaced again, with backoff', async () => {
    const { supervisor: running } = start();
    await running.start();
    const first = running.list()[0]?.pid;
    assert.ok(first !== undefined);
    writeFileSync(`${hold}.crash`, '');
    process.kill(first, 'SIGKILL');
    // The kill, then replacements that exit on their start message: each one counted.
    await waitUntil(
      'replacements that die on start are replaced too',
      async () => (running.list()[0]?.restarts ?? 0) >= 3,
      30_000,
    );
    rmSync(`${hold}.crash`);
    await waitUntil(
      'the slot serves again',
      async () => running.list()[0]?.state === 'ready',
      30_000,
    );
    assert.deepEqual(running.list()[0]?.lastExit, { code: 3, signal: null });
  });
});
