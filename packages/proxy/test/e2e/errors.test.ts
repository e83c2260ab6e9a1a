/**
 * Black-box: every proxy-generated error status, its JSON body (stable code + the
 * request id) and the limits that protect the proxy (431, 413, slowloris, slow uploads).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  closedPort,
  httpRequest,
  proxyYaml,
  type SimpleResponse,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { rawSession } from '../support/raw.ts';
import { startTcpServer } from '../support/servers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SILENT = 'log:\n  level: silent\n';
/** Long enough for the proxy's own header, body and request timeouts to fire first. */
const RAW_QUIET_MS = 6_000;

function assertJsonError(response: SimpleResponse, status: number, code: string): void {
  assert.equal(response.status, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  const body = JSON.parse(response.body) as { error: { code: string; requestId: string } };
  assert.equal(body.error.code, code);
  assert.match(body.error.requestId, UUID);
  assert.equal(response.headers['x-request-id'], body.error.requestId);
}

describe('error statuses', () => {
  test('404 NO_ROUTE with a JSON body naming the request id', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT, '/api'));
    try {
      assertJsonError(await httpRequest(`${proxy.url}/apix`), 404, 'NO_ROUTE');
      assertJsonError(await httpRequest(`${proxy.url}/other`), 404, 'NO_ROUTE');
      assert.equal((await httpRequest(`${proxy.url}/api/x`)).status, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('keeps the client request id in a proxy-generated error', async () => {
    const port = await closedPort();
    const proxy = await startTestProxy(proxyYaml([`http://127.0.0.1:${port}`], SILENT));
    try {
      const response = await httpRequest(`${proxy.url}/`, { headers: { 'x-request-id': 'abc-1' } });
      assert.equal(response.status, 502);
      assert.equal(JSON.parse(response.body).error.requestId, 'abc-1');
      assert.equal(response.headers['x-request-id'], 'abc-1');
    } finally {
      await proxy.close();
    }
  });

  test('502 UPSTREAM_CONNECT_FAILED when the target refuses connections', async () => {
    const port = await closedPort();
    const proxy = await startTestProxy(proxyYaml([`http://127.0.0.1:${port}`], SILENT));
    try {
      assertJsonError(await httpRequest(`${proxy.url}/`), 502, 'UPSTREAM_CONNECT_FAILED');
      assert.equal(proxy.upstreams.get('app')?.targets[0]?.activeRequests, 0);
    } finally {
      await proxy.close();
    }
  });

  test('502 when the target accepts and closes without answering', async () => {
    const silent = await startTcpServer((socket) => socket.destroy());
    const proxy = await startTestProxy(proxyYaml([silent.url], SILENT));
    try {
      const response = await httpRequest(`${proxy.url}/`);
      assert.equal(response.status, 502);
      assert.match(JSON.parse(response.body).error.code, /^UPSTREAM_/);
    } finally {
      await proxy.close();
      await silent.close();
    }
  });

  test('504 UPSTREAM_TIMEOUT when headers do not arrive within timeouts.response', async () => {
    // Accepts and never answers; close() destroys the hung connections.
    const silent = await startTcpServer(() => {});
    const proxy = await startTestProxy(`
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: ${silent.url} }]
    timeouts: { response: 300ms }
routes:
  - upstream: app
${SILENT}`);
    try {
      const started = performance.now();
      assertJsonError(await httpRequest(`${proxy.url}/`), 504, 'UPSTREAM_TIMEOUT');
      assert.ok(performance.now() - started < 5_000);
    } finally {
      await proxy.close();
      await silent.close();
    }
  });

  test('503 NO_HEALTHY_TARGET when no target is eligible', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      for (const target of proxy.upstreams.get('app')?.targets ?? []) target.healthy = false;
      assertJsonError(await httpRequest(`${proxy.url}/`), 503, 'NO_HEALTHY_TARGET');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('503 NO_HEALTHY_TARGET when every target is drained, 200 again once one is back', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      for (const target of proxy.upstreams.get('app')?.targets ?? []) target.drained = true;
      assertJsonError(await httpRequest(`${proxy.url}/`), 503, 'NO_HEALTHY_TARGET');
      for (const target of proxy.upstreams.get('app')?.targets ?? []) target.drained = false;
      assert.equal((await httpRequest(`${proxy.url}/`)).status, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('limits', () => {
  let upstream: TestServer;
  let proxy: TestProxy;
  const outcomes: string[] = [];

  before(async () => {
    upstream = await startServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      req.on('end', () => {
        outcomes.push(`complete ${bytes}`);
        res.end(`got ${bytes}`);
      });
      req.on('aborted', () => outcomes.push(`aborted ${bytes}`));
      req.on('error', () => {});
    });
    proxy = await startTestProxy(
      proxyYaml(
        [upstream.url],
        `limits:
  maxHeaderSize: 4096
  maxBodySize: 1000
  headersTimeout: 1s
  requestTimeout: 2s
${SILENT}`,
      ),
    );
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('431 HEADERS_TOO_LARGE as JSON for headers over maxHeaderSize', async () => {
    const result = await rawSession(
      proxy.port,
      (socket) => socket.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(8_000)}\r\n\r\n`),
      RAW_QUIET_MS,
    );
    assert.match(result.text, /^HTTP\/1\.1 431 /);
    assert.match(result.text, /"code":"HEADERS_TOO_LARGE"/);
    assert.equal(result.closed, true);
  });

  test('accepts a body of exactly maxBodySize', async () => {
    outcomes.length = 0;
    const response = await httpRequest(`${proxy.url}/`, { method: 'POST', body: 'x'.repeat(1000) });
    assert.equal(response.status, 200);
    assert.equal(response.body, 'got 1000');
  });

  test('413 for a declared Content-Length over the limit, never forwarded', async () => {
    outcomes.length = 0;
    const response = await httpRequest(`${proxy.url}/`, { method: 'POST', body: 'x'.repeat(1001) });
    assertJsonError(response, 413, 'BODY_TOO_LARGE');
    assert.equal(response.headers.connection, 'close');
    assert.deepEqual(outcomes, []);
  });

  test('413 for a chunked body that grows past the limit; the upstream never sees it complete', async () => {
    outcomes.length = 0;
    const result = await rawSession(
      proxy.port,
      (socket) => {
        socket.write('POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n');
        socket.write(`258\r\n${'a'.repeat(600)}\r\n`);
        setTimeout(() => {
          if (!socket.destroyed) socket.write(`258\r\n${'b'.repeat(600)}\r\n0\r\n\r\n`);
        }, 100);
      },
      RAW_QUIET_MS,
    );
    assert.match(result.text, /^HTTP\/1\.1 413 /);
    assert.match(result.text, /"code":"BODY_TOO_LARGE"/);
    assert.equal(result.closed, true);
    // Give the upstream a moment to notice the cut connection.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(
      outcomes.some((outcome) => outcome.startsWith('complete')),
      false,
      `upstream outcomes: ${outcomes.join(', ')}`,
    );
  });

  test('drops a slowloris client that trickles its headers past headersTimeout', async () => {
    const started = performance.now();
    let trickle: NodeJS.Timeout | undefined;
    const result = await rawSession(
      proxy.port,
      (socket) => {
        socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
        let n = 0;
        trickle = setInterval(() => {
          if (!socket.destroyed) socket.write(`X-Slow-${n++}: 1\r\n`);
        }, 200);
      },
      RAW_QUIET_MS,
    );
    clearInterval(trickle);
    assert.equal(result.closed, true, 'slowloris connection must be closed');
    assert.ok(performance.now() - started < 5_000);
    assert.match(result.text, /^HTTP\/1\.1 408 /);
  });

  test('drops a client that trickles its body past requestTimeout; the upstream never sees it complete', async () => {
    outcomes.length = 0;
    const started = performance.now();
    let trickle: NodeJS.Timeout | undefined;
    const result = await rawSession(
      proxy.port,
      (socket) => {
        socket.write('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n');
        trickle = setInterval(() => {
          if (!socket.destroyed) socket.write('x');
        }, 100);
      },
      RAW_QUIET_MS,
    );
    clearInterval(trickle);
    assert.equal(result.closed, true, 'slow upload must be cut');
    assert.ok(performance.now() - started < 5_500);
    assert.doesNotMatch(result.text, /^HTTP\/1\.1 200/);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(
      outcomes.some((outcome) => outcome.startsWith('complete')),
      false,
    );
  });
});
