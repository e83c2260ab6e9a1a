import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from 'breakwater';
import {
  type ActiveCheckOptions,
  ActiveHealthChecker,
  type HealthLogger,
} from '../../../src/upstream/health/active-checker.ts';
import { closedPortUrl, httpServer, tcpServer, until } from '../../support/servers.ts';

function recordingLogger() {
  const lines: Array<{ level: 'warn' | 'info'; message: string }> = [];
  const logger: HealthLogger = {
    warn: (_object, message) => lines.push({ level: 'warn', message }),
    info: (_object, message) => lines.push({ level: 'info', message }),
  };
  return { logger, lines };
}

function options(overrides: Partial<ActiveCheckOptions> = {}): ActiveCheckOptions {
  return {
    type: 'http',
    path: '/healthz',
    expectStatus: [[200, 399]],
    intervalMs: 1_000,
    timeoutMs: 2_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    clock: new ManualClock(),
    logger: recordingLogger().logger,
    ...overrides,
  };
}

/** A server whose health endpoint answers with whatever `status.code` is at the time. */
async function switchableServer() {
  const status = { code: 200 };
  const server = await httpServer((_req, res) => {
    res.statusCode = status.code;
    res.end();
  });
  return { server, status };
}

test('starts healthy, so traffic flows before the first probe', () => {
  const checker = new ActiveHealthChecker('http://127.0.0.1:1', options());
  assert.equal(checker.healthy, true);
  assert.equal(checker.lastCheck, undefined);
  const cautious = new ActiveHealthChecker(
    'http://127.0.0.1:1',
    options({ initiallyHealthy: false }),
  );
  assert.equal(cautious.healthy, false);
});

test('marks the target down after unhealthyThreshold consecutive failures', async (t) => {
  const { server, status } = await switchableServer();
  const { logger, lines } = recordingLogger();
  const checker = new ActiveHealthChecker(server.url, options({ logger }));
  t.after(() => Promise.all([checker.stop(), server.close()]));
  const changes: boolean[] = [];
  checker.on('change', ({ healthy }) => changes.push(healthy));

  status.code = 500;
  await checker.checkNow();
  await checker.checkNow();
  assert.equal(checker.healthy, true, 'two failures are below the fall threshold');
  const third = await checker.checkNow();
  assert.equal(checker.healthy, false);
  assert.deepEqual(changes, [false]);
  assert.equal(third.ok, false);
  assert.equal(third.status, 500);
  assert.equal(checker.lastCheck, third);
  // One line for the first failed probe, one for the transition; nothing per probe after that.
  await checker.checkNow();
  assert.deepEqual(
    lines.map((line) => line.level),
    ['info', 'warn'],
  );
});

test('a pass between failures resets the fall count', async (t) => {
  const { server, status } = await switchableServer();
  const checker = new ActiveHealthChecker(server.url, options());
  t.after(() => Promise.all([checker.stop(), server.close()]));
  for (const code of [500, 500, 200, 500, 500]) {
    status.code = code;
    await checker.checkNow();
  }
  assert.equal(checker.healthy, true);
});

test('brings the target back after healthyThreshold consecutive passes', async (t) => {
  const { server, status } = await switchableServer();
  const checker = new ActiveHealthChecker(server.url, options({ unhealthyThreshold: 1 }));
  t.after(() => Promise.all([checker.stop(), server.close()]));
  const changes: boolean[] = [];
  checker.on('change', ({ healthy }) => changes.push(healthy));
  status.code = 503;
  await checker.checkNow();
  assert.equal(checker.healthy, false);
  status.code = 204;
  await checker.checkNow();
  assert.equal(checker.healthy, false, 'one pass is below the rise threshold');
  await checker.checkNow();
  assert.equal(checker.healthy, true);
  assert.deepEqual(changes, [false, true]);
});

test('counts a probe that outlives timeoutMs as a failure', async (t) => {
  const server = await httpServer(() => {});
  const checker = new ActiveHealthChecker(
    server.url,
    options({ clock: undefined, timeoutMs: 200, unhealthyThreshold: 1 }),
  );
  t.after(() => Promise.all([checker.stop(), server.close()]));
  const check = await checker.checkNow();
  assert.equal(check.ok, false);
  assert.equal(check.error, 'ERR_TIMEOUT');
  assert.ok(check.durationMs >= 150, `took ${check.durationMs} ms`);
  assert.equal(checker.healthy, false);
});

test('times out on the injected clock', async (t) => {
  const server = await httpServer(() => {});
  const clock = new ManualClock();
  const checker = new ActiveHealthChecker(server.url, options({ clock, timeoutMs: 200 }));
  t.after(() => Promise.all([checker.stop(), server.close()]));
  const pending = checker.checkNow();
  await until(() => server.hits() === 1, 'the probe to arrive');
  clock.advance(200);
  const check = await pending;
  assert.deepEqual([check.ok, check.error, check.durationMs], [false, 'ERR_TIMEOUT', 200]);
});

test('counts connection refused as a failure', async (t) => {
  const checker = new ActiveHealthChecker(
    await closedPortUrl(),
    options({ unhealthyThreshold: 1 }),
  );
  t.after(() => checker.stop());
  const check = await checker.checkNow();
  assert.deepEqual([check.ok, check.error], [false, 'ECONNREFUSED']);
  assert.equal(checker.healthy, false);
});

test('checks TCP targets by connecting', async (t) => {
  const server = await tcpServer();
  const checker = new ActiveHealthChecker(server.url, options({ type: 'tcp' }));
  t.after(() => Promise.all([checker.stop(), server.close()]));
  const check = await checker.checkNow();
  assert.equal(check.ok, true);
  assert.equal(server.hits(), 1);
});

test('probes on the interval, scheduling the next probe when the last one ends', async (t) => {
  const { server } = await switchableServer();
  const clock = new ManualClock();
  const checker = new ActiveHealthChecker(server.url, options({ clock, intervalMs: 1_000 }));
  t.after(() => Promise.all([checker.stop(), server.close()]));
  let checks = 0;
  checker.on('check', () => checks++);

  checker.start();
  clock.advance(0); // jitter 0: the first probe starts at once
  assert.equal(clock.pendingTimers, 1, 'only the probe timeout is pending while probing');
  await until(() => checks === 1 && clock.pendingTimers === 1, 'the first probe');
  assert.equal(server.hits(), 1);

  clock.advance(999);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(server.hits(), 1);
  clock.advance(1);
  await until(() => checks === 2, 'the second probe');
  assert.equal(server.hits(), 2);

  await checker.stop();
  assert.equal(clock.pendingTimers, 0);
  clock.advance(5_000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(server.hits(), 2);
});

test('spreads each wait by ± jitter × interval', async (t) => {
  const { server } = await switchableServer();
  const clock = new ManualClock();
  const checker = new ActiveHealthChecker(
    server.url,
    options({ clock, intervalMs: 1_000, jitter: 0.5, random: () => 1 }),
  );
  t.after(() => Promise.all([checker.stop(), server.close()]));
  let checks = 0;
  checker.on('check', () => checks++);

  checker.start();
  clock.advance(499);
  assert.equal(checks, 0, 'the first probe waits a random part of jitter × interval');
  clock.advance(1);
  await until(() => checks === 1 && clock.pendingTimers === 1, 'the first probe');
  clock.advance(1_499);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(server.hits(), 1, 'random 1 stretches the wait to 1.5 × interval');
  clock.advance(1);
  await until(() => checks === 2, 'the second probe');
  assert.equal(server.hits(), 2);
});

test('stop aborts a probe in flight without counting it', async (t) => {
  const server = await httpServer(() => {});
  const checker = new ActiveHealthChecker(server.url, options({ unhealthyThreshold: 1 }));
  t.after(() => server.close());
  const pending = checker.checkNow();
  await until(() => server.hits() === 1, 'the probe to arrive');
  await checker.stop();
  const check = await pending;
  assert.equal(check.ok, false);
  assert.equal(checker.healthy, true);
  assert.equal(checker.lastCheck, undefined);
});

test('a probe that rejects is a failed check, not a crash', async () => {
  const checker = new ActiveHealthChecker('http://127.0.0.1:1', {
    ...options({ unhealthyThreshold: 1 }),
    probe: {
      run: () => Promise.reject(new Error('probe bug')),
      close: async () => {},
    },
  });
  const check = await checker.checkNow();
  assert.deepEqual([check.ok, check.error], [false, 'Error: probe bug']);
  assert.equal(checker.healthy, false);
  await checker.stop();
});

test('rejects options out of range, naming the option', () => {
  const bad: Array<[Partial<ActiveCheckOptions>, RegExp]> = [
    [{ intervalMs: 0 }, /healthCheck\.intervalMs/],
    [{ timeoutMs: Number.NaN }, /healthCheck\.timeoutMs/],
    [{ healthyThreshold: 0 }, /healthCheck\.healthyThreshold/],
    [{ unhealthyThreshold: 1.5 }, /healthCheck\.unhealthyThreshold/],
    [{ jitter: 2 }, /healthCheck\.jitter/],
    [{ type: 'udp' as 'tcp' }, /healthCheck\.type/],
  ];
  for (const [overrides, message] of bad) {
    assert.throws(() => new ActiveHealthChecker('http://127.0.0.1:1', options(overrides)), {
      code: 'ERR_INVALID_OPTION',
      message,
    });
  }
});
