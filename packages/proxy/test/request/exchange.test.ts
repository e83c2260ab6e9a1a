import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { ManualClock } from 'breakwater';
import {
  countAttempts,
  keepAliveClient,
  restartableServer,
  startClockedProxy,
} from '../support/health-harness.ts';
import { httpRequest } from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';

/** Round robin unless `upstreamExtra` names a balancer: these tests know which target is first. */
function yaml(targets: readonly string[], upstreamExtra = ''): string {
  const balance = upstreamExtra.includes('balance:') ? '' : '    balance: round-robin\n';
  return `
listen: 127.0.0.1:0
upstreams:
  app:
${balance}    targets:
${targets.map((url) => `      - url: ${url}`).join('\n')}
${upstreamExtra}
routes: [ { upstream: app } ]
`;
}

describe('retries', () => {
  test('stopping one of three upstreams under steady concurrent load fails no client request', async () => {
    const respond = (name: string) => (_req: unknown, res: { end(body: string): void }) => {
      setTimeout(() => res.end(name), 2);
    };
    const servers = await Promise.all(
      ['a', 'b', 'c'].map((name) => restartableServer(respond(name))),
    );
    const proxy = await startClockedProxy(yaml(servers.map((s) => s.url)));
    const client = keepAliveClient(10);
    const total = 300;
    let sent = 0;
    let finished = 0;
    const failures: string[] = [];
    let stopped: Promise<void> | undefined;
    const worker = async () => {
      while (sent < total) {
        sent++;
        try {
          const response = await client.get(`${proxy.url}/item/${sent}`);
          if (response.status !== 200) failures.push(`${response.status} ${response.body}`);
        } catch (error) {
          failures.push(String(error));
        }
        finished++;
        if (finished === 100) stopped = servers[1]!.stop();
      }
    };
    try {
      await Promise.all(Array.from({ length: 10 }, worker));
      await stopped;
      assert.deepEqual(failures, []);
      assert.equal(finished, total);
      const hitsAfter = servers[1]!.hits();
      assert.ok(hitsAfter > 0 && hitsAfter < total / 2, `b served ${hitsAfter}`);
      const metrics = await proxy.metrics.registry.getSingleMetricAsString(
        'breakwater_retries_total',
      );
      assert.match(metrics, /breakwater_retries_total\{upstream="app"\} [1-9]/);
    } finally {
      client.close();
      await proxy.close();
      for (const server of servers) await server.stop();
    }
  });

  test('retries a refused connection on another target at once, without the backoff', async () => {
    const dead = await restartableServer(() => {});
    await dead.stop();
    const alive = await restartableServer((_req, res) => res.end('alive'));
    // A one-minute backoff: a retry that waited for it would outlast the test.
    const proxy = await startClockedProxy(
      yaml(
        [dead.url, alive.url],
        '    balance: round-robin\n    retry: { backoff: { initial: 1m, max: 1m } }',
      ),
    );
    const attempts = countAttempts(proxy);
    try {
      const started = performance.now();
      for (let i = 0; i < 4; i++) {
        const response = await httpRequest(proxy.url);
        assert.equal(response.body, 'alive');
      }
      assert.ok((attempts.get(dead.url) ?? 0) >= 1, 'the dead target was tried');
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 20_000, `answered after ${Math.round(elapsed)} ms`);
    } finally {
      await proxy.close();
      await alive.stop();
    }
  });

  test('sends a POST whose connection was refused to another target, small or streamed body intact', async () => {
    const dead = await restartableServer(() => {});
    await dead.stop();
    const alive = await restartableServer((req, res) => {
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        length += chunk.length;
      });
      req.on('end', () => res.end(`${req.method} ${length}`));
    });
    const proxy = await startClockedProxy(yaml([dead.url, alive.url], '    balance: round-robin'));
    const attempts = countAttempts(proxy);
    try {
      // 200 KB is past replayBodyUpTo (64 KB): streamed, never read ahead, yet never sent either.
      for (const size of [7, 7, 200_000, 200_000]) {
        const response = await httpRequest(proxy.url, { method: 'POST', body: Buffer.alloc(size) });
        assert.equal(response.status, 200);
        assert.equal(response.body, `POST ${size}`);
      }
      // A chunked PUT streams at once with a replay copy on the side; the stream goes on intact.
      for (const size of [500, 100_000]) {
        const response = await chunkedPut(proxy.url, ['a'.repeat(size), 'b'.repeat(size)]);
        assert.deepEqual(response, { status: 200, body: `PUT ${2 * size}` });
      }
      assert.ok((attempts.get(dead.url) ?? 0) >= 3, 'the dead target was tried');
    } finally {
      await proxy.close();
      await alive.stop();
    }
  });

  test('never sends a POST twice when the connection breaks after it was sent', async () => {
    let received = 0;
    const breaking = await restartableServer((req) => {
      received++;
      req.socket.destroy();
    });
    const other = await restartableServer((_req, res) => res.end('other'));
    const proxy = await startClockedProxy(yaml([breaking.url, other.url]));
    try {
      const response = await httpRequest(proxy.url, { method: 'POST', body: 'pay=10' });
      assert.equal(response.status, 502);
      assert.equal(received, 1);
      assert.equal(other.hits(), 0);
    } finally {
      await proxy.close();
      await breaking.stop();
      await other.stop();
    }
  });

  test('replays a small PUT body on another target after a reset', async () => {
    const breaking = await restartableServer((req) => req.socket.destroy());
    const echo = await restartableServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(`got ${Buffer.concat(chunks).toString()}`));
    });
    const proxy = await startClockedProxy(yaml([breaking.url, echo.url]));
    try {
      const response = await httpRequest(proxy.url, { method: 'PUT', body: 'x'.repeat(1000) });
      assert.equal(response.status, 200);
      assert.equal(response.body, `got ${'x'.repeat(1000)}`);
      assert.equal(breaking.hits(), 1);
      const line = proxy.logs.lines.find((entry) => entry.msg === 'request');
      assert.equal(line?.retries, 1);
    } finally {
      await proxy.close();
      await breaking.stop();
      await echo.stop();
    }
  });

  test('streams a PUT body larger than replayBodyUpTo and requestBuffer and then does not retry it', async () => {
    const breaking = await restartableServer((req) => req.socket.destroy());
    const other = await restartableServer((_req, res) => res.end('other'));
    const proxy = await startClockedProxy(
      yaml([breaking.url, other.url], '    retry: { replayBodyUpTo: 1kb }'),
    );
    try {
      // 100 KB: past replayBodyUpTo (1 KB) and limits.requestBuffer (64 KB), so it streams.
      const response = await httpRequest(proxy.url, { method: 'PUT', body: 'y'.repeat(100_000) });
      assert.equal(response.status, 502);
      assert.equal(other.hits(), 0);
    } finally {
      await proxy.close();
      await breaking.stop();
      await other.stop();
    }
  });

  test('keeps a copy of a small chunked PUT while streaming it and replays it; does not retry a large one', async () => {
    const breaking = await restartableServer((req) => req.socket.destroy());
    const echo = await restartableServer((req, res) => {
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
      });
      req.on('end', () => res.end(`got ${size}`));
    });
    const proxy = await startClockedProxy(
      yaml([breaking.url, echo.url], '    retry: { replayBodyUpTo: 2kb }'),
    );
    try {
      const small = await chunkedPut(proxy.url, ['a'.repeat(500), 'b'.repeat(500)]);
      assert.deepEqual(small, { status: 200, body: 'got 1000' });
      assert.equal(breaking.hits(), 1);
      // With echo drained a retry could only go back to the breaking target: it must not.
      proxy.upstreams.get('app')!.targets[1]!.drained = true;
      const large = await chunkedPut(proxy.url, ['c'.repeat(1500), 'd'.repeat(1500)]);
      assert.equal(large.status, 502, 'a streamed body is not sent twice');
      assert.equal(breaking.hits(), 2);
    } finally {
      await proxy.close();
      await breaking.stop();
      await echo.stop();
    }
  });

  test('a chunked PUT whose attempt failed before its body was whole is retried once the rest arrives', async () => {
    const breaking = await restartableServer((req) => req.socket.destroy());
    const echo = await restartableServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(`got ${Buffer.concat(chunks).toString()}`));
    });
    const proxy = await startClockedProxy(yaml([breaking.url, echo.url]));
    const socket = connect(proxy.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.write('PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      // The first target has reset the attempt while the body is still open.
      await until(() => breaking.hits() === 1, 'the first attempt');
      await until(() => proxy.upstreams.get('app')!.targets[0]!.activeRequests === 0, 'its end');
      assert.equal(echo.hits(), 0, 'the retry waits for the rest of the body');
      socket.write('6\r\n world\r\n0\r\n\r\n');
      await until(() => answer.includes('got hello world'), 'the retried answer');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.equal(echo.hits(), 1);
    } finally {
      socket.destroy();
      await proxy.close();
      await breaking.stop();
      await echo.stop();
    }
  });

  test('a chunked PUT whose last attempt failed is answered at once, not after the rest of its body', async () => {
    // The first target refuses the connection, the second resets the attempt: no attempt is
    // left, so waiting for the rest of the body (for a replay) is for nothing, and a client that
    // waits for the answer before sending more would wait until limits.requestTimeout.
    const dead = await restartableServer(() => {});
    await dead.stop();
    const breaking = await restartableServer((req) => req.socket.destroy());
    const proxy = await startClockedProxy(yaml([dead.url, breaking.url]));
    const socket = connect(proxy.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.write('PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      await until(() => /\r\n\r\n\{.*\}$/s.test(answer), 'the answer');
      assert.match(answer, /^HTTP\/1\.1 502 /);
      assert.match(answer, /"code":"UPSTREAM_RESET"/);
      assert.equal(breaking.hits(), 1);
    } finally {
      socket.destroy();
      await proxy.close();
      await breaking.stop();
    }
  });

  test('answers 413 when a streamed chunked PUT grows past maxBodySize, the upstream never getting it whole', async () => {
    let completed = 0;
    const echo = await restartableServer((req, res) => {
      req.resume();
      req.on('end', () => {
        completed++;
        res.end('never');
      });
    });
    const proxy = await startClockedProxy(`${yaml([echo.url])}limits: { maxBodySize: 1000 }\n`);
    try {
      const response = await chunkedPut(proxy.url, ['e'.repeat(800), 'f'.repeat(800)]);
      assert.equal(response.status, 413);
      assert.equal(completed, 0);
    } finally {
      await proxy.close();
      await echo.stop();
    }
  });

  test('retries a listed status on another target, and relays it when retries are used up', async () => {
    const unavailable = await restartableServer((_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const ok = await restartableServer((_req, res) => res.end('ok'));
    const proxy = await startClockedProxy(
      yaml([unavailable.url, ok.url], '    outlierDetection: false\n    retry: { on: [503] }'),
    );
    try {
      const first = await httpRequest(proxy.url);
      assert.equal(first.body, 'ok', 'the 503 was retried on the other target');
      proxy.upstreams.get('app')!.targets[1]!.drained = true;
      const hitsBefore = unavailable.hits();
      const last = await httpRequest(proxy.url);
      assert.equal(last.status, 503, 'the last 503 is relayed as it is');
      assert.equal(last.body, 'busy');
      assert.equal(unavailable.hits() - hitsBefore, 2, 'the only target left was tried twice');
    } finally {
      await proxy.close();
      await unavailable.stop();
      await ok.stop();
    }
  });

  test('perTryTimeout cuts a hanging attempt and retries elsewhere; 504 when it was the last', async () => {
    const hanging = await restartableServer(() => {});
    const ok = await restartableServer((_req, res) => res.end('ok'));
    const proxy = await startClockedProxy(
      yaml(
        [hanging.url, ok.url],
        '    outlierDetection: false\n    retry: { attempts: 2, on: [timeout], perTryTimeout: 150ms }',
      ),
    );
    try {
      const first = await httpRequest(proxy.url);
      const second = await httpRequest(proxy.url);
      assert.deepEqual([first.body, second.body], ['ok', 'ok']);
      assert.ok(hanging.hits() >= 1);
      proxy.upstreams.get('app')!.targets[1]!.drained = true;
      const last = await httpRequest(proxy.url);
      assert.equal(last.status, 504);
      assert.equal(JSON.parse(last.body).error.code, 'UPSTREAM_TIMEOUT');
    } finally {
      await proxy.close();
      await hanging.stop();
      await ok.stop();
    }
  });

  test('a retried 504 with a large body still answers 504 when its target was ejected meanwhile', async () => {
    // The body is past the 64 KiB the proxy reads to keep the connection, so it cuts it short.
    const timingOut = await restartableServer((_req, res) => {
      res.statusCode = 504;
      res.end(Buffer.alloc(1024 * 1024, 'x'));
    });
    const proxy = await startClockedProxy(
      yaml(
        [timingOut.url],
        '    outlierDetection: { policy: { consecutiveFailures: 1 }, failOn: [5xx] }\n    retry: { attempts: 2, on: [504] }',
      ),
    );
    try {
      const response = await httpRequest(proxy.url);
      assert.equal(response.status, 504);
      const error = JSON.parse(response.body).error;
      assert.equal(error.code, 'UPSTREAM_TIMEOUT');
      assert.doesNotMatch(error.message, /discarded/);
      assert.equal(timingOut.hits(), 1, 'the ejected target got no second try');
    } finally {
      await proxy.close();
      await timingOut.stop();
    }
  });

  test('a client leaving during the backoff ends the exchange without another attempt', async () => {
    const breaking = await restartableServer((req) => req.socket.destroy());
    const other = await restartableServer((_req, res) => res.end('other'));
    const proxy = await startClockedProxy(
      yaml([breaking.url, other.url], '    retry: { backoff: { initial: 1m, max: 1m } }'),
    );
    try {
      await new Promise<void>((resolve) => {
        const req = request(proxy.url, { agent: false });
        req.on('error', () => resolve());
        req.end();
        const abortAfterFirstAttempt = () => {
          if (breaking.hits() > 0) setTimeout(() => req.destroy(), 50);
          else setTimeout(abortAfterFirstAttempt, 5);
        };
        abortAfterFirstAttempt();
      });
      await until(() => proxy.forwarder.inFlight === 0, 'the exchange ended');
      const line = proxy.logs.lines.find((entry) => entry.msg === 'request');
      assert.equal(line?.status, 499);
      assert.equal(other.hits(), 0);
    } finally {
      await proxy.close();
      await breaking.stop();
      await other.stop();
    }
  });

  test('the retry budget stops retries when every target fails instead of multiplying load', async () => {
    const clock = new ManualClock();
    const servers = await Promise.all(
      [1, 2, 3].map(() =>
        restartableServer((_req, res) => {
          res.statusCode = 503;
          res.end();
        }),
      ),
    );
    const proxy = await startClockedProxy(
      yaml(
        servers.map((s) => s.url),
        `    outlierDetection: false
    retry: { attempts: 3, on: [503], backoff: { initial: 0ms, max: 0ms }, budget: { ratio: 0.2, minPerSecond: 0 } }`,
      ),
      clock,
    );
    try {
      const requests = 50;
      for (let i = 0; i < requests; i++) assert.equal((await httpRequest(proxy.url)).status, 503);
      const hits = servers.reduce((sum, server) => sum + server.hits(), 0);
      assert.ok(hits > requests, 'some retries happened');
      assert.ok(hits <= requests * 1.2, `${hits} upstream hits for ${requests} requests`);
    } finally {
      await proxy.close();
      for (const server of servers) await server.stop();
    }
  });
});

/** A PUT whose body is sent with chunked transfer coding, one write per part. */
function chunkedPut(
  url: string,
  parts: readonly string[],
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    for (const part of parts) req.write(part);
    req.end();
  });
}
