/**
 * Black-box: Upgrade handling. WebSocket traffic is relayed both ways and both sides
 * close together; h2c is never passed upstream; refused upgrades get the usual JSON errors.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocketClient, { type WebSocket, WebSocketServer } from 'ws';
import {
  closedPort,
  proxyYaml,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { raw } from '../support/raw.ts';

const SILENT = 'log:\n  level: silent\n';

describe('WebSocket through the proxy', () => {
  let upstream: TestServer;
  let wss: WebSocketServer;
  let proxy: TestProxy;
  const serverSockets: WebSocket[] = [];
  let handshakeHeaders: IncomingHttpHeaders | undefined;

  before(async () => {
    upstream = await startServer((_req, res) => res.end('plain'));
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      handshakeHeaders = req.headers;
      serverSockets.push(ws);
      ws.on('message', (data, isBinary) => {
        if (data.toString() === 'bye') ws.close(4001, 'server says bye');
        else ws.send(data, { binary: isBinary });
      });
    });
    proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
  });
  after(async () => {
    for (const ws of serverSockets) ws.terminate();
    wss.close();
    await proxy.close();
    await upstream.close();
  });

  async function open(): Promise<WebSocketClient> {
    const client = new WebSocketClient(`ws://127.0.0.1:${proxy.port}/chat`, {
      headers: { 'x-request-id': 'ws-1' },
    });
    await once(client, 'open');
    return client;
  }

  test('echoes text and a 1 MB binary message', async () => {
    const client = await open();
    try {
      client.send('hello');
      const [text] = (await once(client, 'message')) as [Buffer];
      assert.equal(text.toString(), 'hello');
      const big = Buffer.alloc(1024 * 1024, 9);
      client.send(big);
      const [echo, isBinary] = (await once(client, 'message')) as [Buffer, boolean];
      assert.equal(isBinary, true);
      assert.equal(Buffer.compare(echo, big), 0);
      assert.equal(handshakeHeaders?.['x-request-id'], 'ws-1');
      assert.match(String(handshakeHeaders?.['x-forwarded-for']), /127\.0\.0\.1/);
    } finally {
      client.terminate();
    }
  });

  test('a close from the upstream reaches the client with its code', async () => {
    const client = await open();
    client.send('bye');
    const [code, reason] = (await once(client, 'close')) as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'server says bye');
  });

  test('a client that drops its TCP connection closes the upstream socket too', async () => {
    const before = serverSockets.length;
    const client = await open();
    client.send('ping');
    await once(client, 'message');
    const server = serverSockets[before];
    assert.ok(server !== undefined);
    const closed = once(server, 'close');
    client.terminate();
    await closed;
    assert.equal(server.readyState, server.CLOSED);
  });

  test('an upstream that drops its TCP connection closes the client too', async () => {
    const before = serverSockets.length;
    const client = await open();
    client.send('ping');
    await once(client, 'message');
    const closed = once(client, 'close');
    serverSockets[before]?.terminate();
    const [code] = (await closed) as [number];
    assert.equal(code, 1006, 'abnormal closure is reported, not a clean close');
  });
});

describe('other upgrades', () => {
  test('never passes Upgrade: h2c upstream; answers as plain HTTP/1.1', async () => {
    let seen: IncomingHttpHeaders | undefined;
    let upgradeEvents = 0;
    const upstream = await startServer((req, res) => {
      seen = req.headers;
      res.end('plain');
    });
    upstream.server.on('upgrade', (_req, socket) => {
      upgradeEvents++;
      socket.destroy();
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await raw(
        proxy.port,
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      );
      assert.match(result.text, /^HTTP\/1\.1 200 /);
      assert.match(result.text, /plain$/);
      assert.equal(upgradeEvents, 0);
      assert.equal(seen?.upgrade, undefined);
      assert.equal(seen?.['http2-settings'], undefined);
      assert.doesNotMatch(String(seen?.connection ?? ''), /upgrade|http2/i);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('an upgrade the upstream declines is relayed with its status and closed', async () => {
    const upstream = await startServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', 'content-length': '4' });
      res.end('nope');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await raw(
        proxy.port,
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      assert.match(result.text, /^HTTP\/1\.1 426 /);
      assert.match(result.text, /nope$/);
      assert.equal(result.closed, true);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('an upgrade to a refused target gets a 502 JSON error', async () => {
    const port = await closedPort();
    const proxy = await startTestProxy(proxyYaml([`http://127.0.0.1:${port}`], SILENT));
    try {
      const result = await raw(
        proxy.port,
        'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: up-1\r\n\r\n',
      );
      assert.match(result.text, /^HTTP\/1\.1 502 /);
      assert.match(result.text, /"code":"UPSTREAM_CONNECT_FAILED"/);
      assert.match(result.text, /"requestId":"up-1"/);
      assert.equal(result.closed, true);
    } finally {
      await proxy.close();
    }
  });

  test('an upgrade with no matching route gets a 404 JSON error', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT, '/ws'));
    try {
      const result = await raw(
        proxy.port,
        'GET /other HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      assert.match(result.text, /^HTTP\/1\.1 404 /);
      assert.match(result.text, /"code":"NO_ROUTE"/);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
