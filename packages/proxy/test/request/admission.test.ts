import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { retryAfterSeconds } from '../../src/request/admission.ts';
import {
  closedPort,
  httpRequest,
  rawExchange,
  startServer,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.ts';

function errorCode(body: string): string | undefined {
  return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
}

/** A proxy on a chosen port whose one upstream is `target`. */
function proxyTo(port: number, target: string): Promise<TestProxy> {
  return startTestProxy(`
listen: 127.0.0.1:${port}
upstreams: { app: { targets: [ { url: ${target} } ], outlierDetection: false, retry: false } }
routes: [ { upstream: app } ]`);
}

test('rounds Retry-After up to whole seconds, at least 1', () => {
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1_000), 1);
  assert.equal(retryAfterSeconds(1_001), 2);
  assert.equal(retryAfterSeconds(0), 1);
});

describe('request loops', () => {
  test('a proxy that is its own target answers 508 LOOP_DETECTED instead of looping', async () => {
    const port = await closedPort();
    const proxy = await proxyTo(port, `http://127.0.0.1:${port}`);
    try {
      const response = await httpRequest(`${proxy.url}/x`);
      assert.equal(response.status, 508);
      assert.equal(errorCode(response.body), 'LOOP_DETECTED');
      const loops = proxy.logs.lines.filter((line) => line.code === 'LOOP_DETECTED');
      assert.equal(loops.length, 1, 'refused on the second pass, not forwarded again');
    } finally {
      await proxy.close();
    }
  });

  test('a loop through another Breakwater is refused where it closes', async () => {
    const [portA, portB] = [await closedPort(), await closedPort()];
    const a = await proxyTo(portA, `http://127.0.0.1:${portB}`);
    const b = await proxyTo(portB, `http://127.0.0.1:${portA}`);
    try {
      const response = await httpRequest(`${a.url}/x`);
      assert.equal(response.status, 508);
      assert.equal(errorCode(response.body), 'LOOP_DETECTED');
      assert.ok(a.logs.lines.some((line) => line.code === 'LOOP_DETECTED'));
      assert.ok(!b.logs.lines.some((line) => line.code === 'LOOP_DETECTED'));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('an upgrade that loops is refused the same way', async () => {
    const port = await closedPort();
    const proxy = await proxyTo(port, `http://127.0.0.1:${port}`);
    try {
      const response = await rawExchange(
        port,
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      assert.match(response, /^HTTP\/1\.1 508 Loop Detected\r\n/);
      assert.match(response, /"code":"LOOP_DETECTED"/);
    } finally {
      await proxy.close();
    }
  });

  test('two Breakwaters in a row without a loop forward as usual, each adding its own Via', async () => {
    let via: string | undefined;
    const upstream = await startServer((req, res) => {
      via = req.headers.via;
      res.end('ok');
    });
    const inner = await startTestProxy(`
listen: 127.0.0.1:0
upstreams: { app: { targets: [ { url: ${upstream.url} } ] } }
routes: [ { upstream: app } ]`);
    const outer = await proxyTo(0, inner.url);
    try {
      const response = await httpRequest(`${outer.url}/x`);
      assert.equal(response.status, 200);
      const entries = via?.split(', ') ?? [];
      assert.equal(entries.length, 2);
      assert.notEqual(entries[0], entries[1]);
    } finally {
      await outer.close();
      await inner.close();
      await upstream.close();
    }
  });
});
