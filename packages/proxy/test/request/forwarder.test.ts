import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import {
  closedPort,
  httpRequest,
  proxyYaml,
  startServer,
  startTestProxy,
} from '../support/proxy-harness.ts';

describe('forwarding', () => {
  test('forwards a request and relays the upstream response', async () => {
    const upstream = await startServer((req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'a' });
      res.end(JSON.stringify({ method: req.method, url: req.url }));
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const response = await httpRequest(`${proxy.url}/hello?x=1`);
      assert.equal(response.status, 201);
      assert.equal(response.headers['x-upstream'], 'a');
      assert.deepEqual(JSON.parse(response.body), { method: 'GET', url: '/hello?x=1' });
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('streams a 5 MB body both ways without waiting for the whole of it', async () => {
    const { promise: firstChunkArrived, resolve: upstreamGotFirstChunk } =
      Promise.withResolvers<void>();
    const upstream = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.once('data', () => upstreamGotFirstChunk());
      req.pipe(res);
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const chunk = Buffer.alloc(64 * 1024, 7);
      const total = 80;
      const sent = createHash('sha256');
      const received = createHash('sha256');
      let receivedBytes = 0;
      let firstResponseByteBeforeUploadDone = false;
      let uploadDone = false;
      const req = request(`${proxy.url}/echo`, { method: 'POST', agent: false });
      const responded = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.on('data', (data: Buffer) => {
            if (!uploadDone) firstResponseByteBeforeUploadDone = true;
            receivedBytes += data.length;
            received.update(data);
          });
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      req.write(chunk);
      sent.update(chunk);
      // The upstream sees the start of the body while most of it has not been sent yet.
      await firstChunkArrived;
      for (let i = 1; i < total; i++) {
        sent.update(chunk);
        if (!req.write(chunk)) await once(req, 'drain');
      }
      uploadDone = true;
      req.end();
      assert.equal(await responded, 200);
      assert.equal(receivedBytes, chunk.length * total);
      assert.equal(received.digest('hex'), sent.digest('hex'));
      assert.ok(
        firstResponseByteBeforeUploadDone,
        'response bytes arrived while the upload was still going',
      );
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('trailers', () => {
  test('relays response trailers on a chunked response', async () => {
    const upstream = await startServer((_req, res) => {
      res.writeHead(200, { trailer: 'x-checksum' });
      res.write('body');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const req = request(`${proxy.url}/`, { agent: false, headers: { te: 'trailers' } });
      req.end();
      const [res] = await once(req, 'response');
      res.resume();
      await once(res, 'end');
      assert.deepEqual(res.trailers, { 'x-checksum': 'abc123' });
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('failures mid-stream', () => {
  test('closes the client connection when the upstream resets mid-body, and keeps serving', async () => {
    const upstream = await startServer((req, res) => {
      if (req.url === '/reset') {
        res.writeHead(200, { 'content-length': '100000' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end('fine');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      await assert.rejects(httpRequest(`${proxy.url}/reset`));
      const next = await httpRequest(`${proxy.url}/ok`);
      assert.equal(next.body, 'fine');
      assert.equal(proxy.upstreams.get('app')?.targets[0]?.activeRequests, 0);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('survives a client that disconnects halfway through uploading a body', async () => {
    const { promise: aborted, resolve: upstreamSawAbort } = Promise.withResolvers<void>();
    const { promise: uploading, resolve: upstreamGotRequest } = Promise.withResolvers<void>();
    const upstream = await startServer((req, res) => {
      if (req.url !== '/upload') {
        res.end('ok');
        return;
      }
      upstreamGotRequest();
      req.on('error', () => {});
      req.on('close', () => {
        if (!req.complete) upstreamSawAbort();
      });
      req.resume();
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const req = request(`${proxy.url}/upload`, {
        method: 'POST',
        agent: false,
        headers: { 'content-length': '100000' },
      });
      req.on('error', () => {});
      req.write(Buffer.alloc(10_000));
      // Halfway means the upload reached the upstream: leave only once it has.
      await uploading;
      req.destroy();
      await aborted;
      assert.equal((await httpRequest(`${proxy.url}/`)).body, 'ok');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('aborts the upstream exchange when the client goes away mid-response', async () => {
    const { promise: closed, resolve: upstreamClosed } = Promise.withResolvers<void>();
    const upstream = await startServer((req, res) => {
      if (req.url !== '/stream') {
        res.end('ok');
        return;
      }
      res.writeHead(200);
      const timer = setInterval(() => res.write('tick\n'), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed();
      });
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const req = request(`${proxy.url}/stream`, { agent: false });
      req.on('error', () => {});
      req.end();
      const [res] = await once(req, 'response');
      await once(res, 'data');
      req.destroy();
      await closed;
      const target = proxy.upstreams.get('app')?.targets[0];
      // The exchange finishes on the next turns of the event loop.
      for (let i = 0; i < 50 && target?.activeRequests !== 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(target?.activeRequests, 0);
      assert.equal((await httpRequest(`${proxy.url}/`)).status, 200);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('attempt reporting', () => {
  test('reports each attempt once with its outcome, for breakers and retries to hook into', async () => {
    const upstream = await startServer((req, res) => {
      res.statusCode = req.url === '/fail' ? 503 : 200;
      res.end();
    });
    const down = await closedPort();
    const proxy = await startTestProxy(`
listen: 127.0.0.1:0
upstreams:
  up: { targets: [ { url: ${upstream.url} } ] }
  down: { targets: [ { url: http://127.0.0.1:${down} } ], retry: false }
routes:
  - { match: { pathPrefix: /down }, upstream: down }
  - { upstream: up }`);
    const seen: string[] = [];
    const unsubscribe = proxy.forwarder.onAttempt((pool, target, outcome, status, durationMs) => {
      assert.ok(durationMs >= 0);
      assert.equal(target.activeRequests, 0);
      seen.push(`${pool.name} ${outcome} ${status}`);
    });
    try {
      await httpRequest(`${proxy.url}/ok`);
      await httpRequest(`${proxy.url}/fail`);
      await httpRequest(`${proxy.url}/down`);
      unsubscribe();
      await httpRequest(`${proxy.url}/ok`);
      assert.deepEqual(seen, ['up response 200', 'up response 503', 'down connect-error 0']);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('admission', () => {
  test('works out the eligible targets once per request, not once per check', async () => {
    const upstream = await startServer((_req, res) => res.end('ok'));
    const proxy = await startTestProxy(proxyYaml([upstream.url]));
    try {
      const pool = proxy.upstreams.get('app');
      assert.ok(pool);
      let selections = 0;
      const selection = pool.selection.bind(pool);
      pool.selection = () => {
        selections++;
        return selection();
      };
      const response = await httpRequest(`${proxy.url}/x`);
      assert.equal(response.status, 200);
      assert.equal(selections, 1);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
