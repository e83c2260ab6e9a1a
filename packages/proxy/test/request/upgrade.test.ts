import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import {
  closedPort,
  proxyYaml,
  rawExchange,
  startServer,
  startTestProxy,
} from '../support/proxy-harness.ts';

describe('WebSocket through the proxy', () => {
  test('relays the 101, echoes messages both ways and closes both sides together', async () => {
    let handshakeHeaders: IncomingHttpHeaders = {};
    const upstream = await startServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: upstream.server });
    const { promise: upstreamClosed, resolve: upstreamSocketClosed } =
      Promise.withResolvers<void>();
    wss.on('connection', (socket, req) => {
      handshakeHeaders = req.headers;
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
      socket.on('close', () => upstreamSocketClosed());
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/chat`);
      const upgraded = once(client, 'upgrade');
      await once(client, 'open');
      const [upgradeResponse] = await upgraded;
      assert.equal(upgradeResponse.headers.via, '1.1 breakwater');
      client.send('hello');
      const [first] = await once(client, 'message');
      assert.equal(String(first), 'hello');
      client.send(Buffer.from([1, 2, 3]));
      const [second] = await once(client, 'message');
      assert.deepEqual([...(second as Buffer)], [1, 2, 3]);
      assert.equal(handshakeHeaders.via, '1.1 breakwater');
      assert.equal(handshakeHeaders['x-forwarded-for'], '127.0.0.1');
      client.close();
      await upstreamClosed;
      assert.equal(proxy.upstreams.get('app')?.targets[0]?.activeRequests, 0);
    } finally {
      await proxy.close();
      wss.close();
      await upstream.close();
    }
  });

  test('keeps a quiet WebSocket open past the upstream response timeout', async () => {
    const upstream = await startServer((_req, res) => res.end('plain'));
    const wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (socket) => socket.on('message', (data) => socket.send(String(data))));
    const proxy = await startTestProxy(`
listen: 127.0.0.1:0
upstreams: { app: { targets: [ { url: ${upstream.url} } ], timeouts: { response: 150ms } } }
routes: [ { upstream: app } ]`);
    try {
      const client = new WebSocket(`ws://127.0.0.1:${proxy.port}/quiet`);
      await once(client, 'open');
      await new Promise((resolve) => setTimeout(resolve, 400));
      client.send('still here');
      const [reply] = await once(client, 'message');
      assert.equal(String(reply), 'still here');
      client.close();
      await once(client, 'close');
    } finally {
      await proxy.close();
      wss.close();
      await upstream.close();
    }
  });

  test('relays a refused upgrade as the upstream answered it', async () => {
    const upstream = await startServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('no websockets here');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const response = await rawExchange(
        proxy.port,
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      assert.match(response, /^HTTP\/1\.1 403 /);
      assert.match(response, /no websockets here/);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('answers 502 with a JSON error when the target of an upgrade is down', async () => {
    const port = await closedPort();
    const proxy = await startTestProxy(proxyYaml([`http://127.0.0.1:${port}`]));
    try {
      const response = await rawExchange(
        proxy.port,
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      assert.match(response, /^HTTP\/1\.1 502 /);
      assert.match(response, /"code":"UPSTREAM_CONNECT_FAILED"/);
    } finally {
      await proxy.close();
    }
  });
});
