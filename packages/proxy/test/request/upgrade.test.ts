import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { proxyYaml, rawExchange, startServer, startTestProxy } from '../support/proxy-harness.ts';
import { unansweredPort } from '../support/unanswered-port.ts';

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
      assert.match(String(upgradeResponse.headers.via), /^1\.1 breakwater \([0-9a-f]{8}\)$/);
      client.send('hello');
      const [first] = await once(client, 'message');
      assert.equal(String(first), 'hello');
      client.send(Buffer.from([1, 2, 3]));
      const [second] = await once(client, 'message');
      assert.deepEqual([...(second as Buffer)], [1, 2, 3]);
      assert.equal(handshakeHeaders.via, upgradeResponse.headers.via);
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
});

describe('upgrade timeouts and refusals', () => {
  test('bounds connecting to the target by timeouts.connect, not timeouts.response', async () => {
    const target = await unansweredPort();
    const proxy = await startTestProxy(`
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [ { url: http://127.0.0.1:${target.port} } ]
    timeouts: { connect: 300ms, response: 20s }
    outlierDetection: false
routes: [ { upstream: app } ]`);
    try {
      const started = performance.now();
      const response = await rawExchange(
        proxy.port,
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
        10_000,
      );
      const elapsed = performance.now() - started;
      assert.match(response, /^HTTP\/1\.1 502 /);
      assert.match(response, /"code":"UPSTREAM_CONNECT_FAILED"/);
      assert.ok(elapsed < 5_000, `answered after ${Math.round(elapsed)} ms`);
      assert.equal(proxy.upstreams.get('app')?.targets[0]?.activeRequests, 0);
    } finally {
      await proxy.close();
      await target.close();
    }
  });

  test('stops reading a refusal from the target once the client has gone', async () => {
    const { promise: upstreamClosed, resolve: upstreamResponseClosed } =
      Promise.withResolvers<void>();
    const upstream = await startServer((_req, res) => {
      // A refusal whose body never ends.
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.write('no websockets here, and more to come');
      res.on('close', () => upstreamResponseClosed());
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const client = connect(proxy.port, '127.0.0.1');
      client.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      );
      const [head] = await once(client, 'data');
      assert.match(String(head), /^HTTP\/1\.1 403 /);
      client.destroy();
      const closed = await Promise.race([
        upstreamClosed.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000)),
      ]);
      assert.ok(closed, 'the upstream request was closed after the client left');
      assert.equal(proxy.upstreams.get('app')?.targets[0]?.activeRequests, 0);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
