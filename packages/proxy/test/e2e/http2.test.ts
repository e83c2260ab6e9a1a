/**
 * Black-box: HTTP/2 clients on a TLS listener, forwarded to HTTP/1.1 upstreams through the same
 * path as HTTP/1.1 (routing, retries, errors), and the HTTP/2 defences seen from outside: a
 * rapid-reset client is cut off while others are served.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { connect, constants } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { createTestCa, type PemFiles, type TestCa } from '../support/certificates.ts';
import { h2Request, h2Session } from '../support/h2-client.ts';
import { Flags, FrameType, frame, getRequest, headerBlock, rawH2 } from '../support/h2-frames.ts';
import {
  closedPort,
  httpRequest,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { useTempDir } from '../support/temp-dir.ts';

interface Seen {
  readonly httpVersion: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

describe('HTTP/2 to clients', () => {
  const inTempDir = useTempDir('breakwater-h2-');
  let ca: TestCa;
  let api: PemFiles;
  let upstream: TestServer;
  let proxy: TestProxy;
  const seen: Seen[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    api = await ca.issue('api', { names: ['api.test'] });
    upstream = await startServer((req, res) => {
      seen.push({
        httpVersion: req.httpVersion,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
      });
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        let size = 0;
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
          hash.update(chunk);
        });
        req.on('end', () => res.end(JSON.stringify({ size, sha256: hash.digest('hex') })));
        return;
      }
      if (req.url === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('part one, ');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end('part two');
        return;
      }
      if (req.url === '/slow') {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          res.end('slow');
        }, 50);
        return;
      }
      req.resume();
      res.end(`hello ${req.method}`);
    });
    const dead = await closedPort();
    proxy = await startTestProxy(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates: [{ cert: ${api.cert}, key: ${api.key} }]
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
  flaky:
    balance: round-robin
    targets: [{ url: http://127.0.0.1:${dead} }, { url: ${upstream.url} }]
  down:
    targets: [{ url: http://127.0.0.1:${dead} }]
routes:
  - match: { pathPrefix: /flaky }
    upstream: flaky
  - match: { pathPrefix: /down }
    upstream: down
  - match: { host: api.test }
    upstream: app
http2:
  streamResets: { burst: 50, perSecond: 1 }
log:
  level: silent
`);
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('a GET is forwarded as HTTP/1.1 with :authority as Host', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const response = await h2Request(session, { ':path': '/items?x=1' });
      assert.equal(response.status, 200);
      assert.equal(response.body.toString(), 'hello GET');
      assert.match(String(response.headers.via), /^1\.1 breakwater \([0-9a-f]{8}\)$/);
      const request = seen.at(-1)!;
      assert.equal(request.httpVersion, '1.1');
      assert.equal(request.url, '/items?x=1');
      assert.equal(request.headers.host, `api.test:${proxy.port}`);
      assert.equal(request.headers['x-forwarded-proto'], 'https');
      assert.equal(
        Object.keys(request.headers).some((name) => name.startsWith(':')),
        false,
        'no pseudo-header travels upstream',
      );
    } finally {
      session.close();
    }
  });

  test('a streamed 10 MB POST body arrives whole', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/upload' });
      const hash = createHash('sha256');
      const chunk = Buffer.alloc(64 * 1024, 7);
      const total = 10 * 1024 * 1024;
      for (let sent = 0; sent < total; sent += chunk.length) {
        hash.update(chunk);
        // Flow control: wait when the stream's buffer is full instead of queueing 10 MB.
        if (!stream.write(chunk)) await once(stream, 'drain');
      }
      stream.end();
      const chunks: Buffer[] = [];
      for await (const part of stream) chunks.push(part as Buffer);
      assert.deepEqual(JSON.parse(Buffer.concat(chunks).toString()), {
        size: total,
        sha256: hash.digest('hex'),
      });
      assert.equal(seen.at(-1)!.headers['transfer-encoding'], 'chunked');
    } finally {
      session.close();
    }
  });

  test('response trailers reach the HTTP/2 client', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const response = await h2Request(session, { ':path': '/trailers' });
      assert.equal(response.body.toString(), 'part one, part two');
      assert.equal(response.trailers?.['x-checksum'], 'abc123');
    } finally {
      session.close();
    }
  });

  test('100 concurrent streams on one connection are all served', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      assert.equal(session.remoteSettings.maxConcurrentStreams, 100);
      maxInFlight = 0;
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => h2Request(session, { ':path': '/slow' })),
      );
      assert.ok(responses.every((r) => r.status === 200 && r.body.toString() === 'slow'));
      assert.ok(maxInFlight > 50, `streams ran concurrently (at most ${maxInFlight} at once)`);
    } finally {
      session.close();
    }
  });

  test('retries, routing and proxy errors are the same as over HTTP/1.1', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      for (let i = 0; i < 4; i++) {
        const response = await h2Request(session, { ':path': '/flaky' });
        assert.equal(response.status, 200, 'the dead target is retried on the live one');
      }
      const down = await h2Request(session, { ':path': '/down' });
      assert.equal(down.status, 502);
      assert.equal(JSON.parse(down.body.toString()).error.code, 'UPSTREAM_CONNECT_FAILED');
      const other = await h2Request(session, { ':path': '/', ':authority': 'nowhere.test' });
      assert.equal(other.status, 404);
      assert.equal(JSON.parse(other.body.toString()).error.code, 'NO_ROUTE');
    } finally {
      session.close();
    }
  });

  test('a Host naming another server than :authority is refused', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const before = seen.length;
      const response = await h2Request(session, {
        ':path': '/',
        ':authority': `api.test:${proxy.port}`,
        host: 'evil.test',
      });
      assert.equal(response.status, 400);
      assert.equal(seen.length, before);
    } finally {
      session.close();
    }
  });

  test('a connection-specific header makes the stream malformed (RFC 9113 §8.2.2)', async () => {
    const raw = await rawH2(proxy.port, { tls: { servername: 'api.test' } });
    try {
      const before = seen.length;
      const block = Buffer.concat([
        getRequest(`api.test:${proxy.port}`),
        headerBlock([['connection', 'keep-alive']]),
      ]);
      raw.send(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, block));
      const deadline = Date.now() + 2_000;
      while ((raw.received.get(FrameType.RST_STREAM) ?? 0) === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(raw.received.get(FrameType.RST_STREAM), 1);
      assert.equal(seen.length, before, 'nothing reached the upstream');
    } finally {
      raw.socket.destroy();
    }
  });

  test('a client resetting every stream is cut off with GOAWAY while others are served', async () => {
    const raw = await rawH2(proxy.port, { tls: { servername: 'api.test' } });
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const served = (async () => {
        let ok = 0;
        for (let i = 0; i < 20; i++) {
          if ((await h2Request(session, { ':path': '/' })).status === 200) ok++;
        }
        return ok;
      })();
      const cancel = Buffer.from([0, 0, 0, constants.NGHTTP2_CANCEL]);
      const request = getRequest(`api.test:${proxy.port}`, '/slow');
      for (let i = 0; i < 500 && !raw.socket.destroyed; i++) {
        const id = 1 + 2 * i;
        raw.send(
          frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, id, request),
          frame(FrameType.RST_STREAM, 0, id, cancel),
        );
      }
      const code = await Promise.race([
        raw.goaway,
        new Promise<string>((r) => setTimeout(() => r('no GOAWAY'), 3_000)),
      ]);
      assert.notEqual(code, 'no GOAWAY');
      assert.equal(await served, 20);
    } finally {
      raw.socket.destroy();
      session.close();
    }
  });
});

describe('h2c with prior knowledge on a plain listener', () => {
  let upstream: TestServer;
  let proxy: TestProxy;

  before(async () => {
    upstream = await startServer((req, res) =>
      res.end(`${req.headers['x-forwarded-proto']} ${req.httpVersion}`),
    );
    proxy = await startTestProxy(`
listen:
  - { address: 127.0.0.1:0, h2c: true }
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
log:
  level: silent
`);
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('an HTTP/2 client with prior knowledge and an HTTP/1.1 client share the port', async () => {
    const session = connect(`http://127.0.0.1:${proxy.port}`);
    session.on('error', () => {});
    try {
      const stream = session.request({ ':path': '/' });
      stream.setEncoding('utf8');
      let body = '';
      for await (const chunk of stream) body += chunk;
      assert.equal(body, 'http 1.1', 'forwarded to the upstream as HTTP/1.1');
    } finally {
      session.close();
    }
    const plain = await httpRequest(`${proxy.url}/`);
    assert.equal(plain.body, 'http 1.1');
    const listeners = proxy.listeners[0]!;
    assert.deepEqual(listeners.protocols, ['http/1.1', 'h2c']);
    assert.equal(listeners.stats.accepted.get('h2'), 1);
    assert.equal(listeners.stats.accepted.get('http/1.1'), 1);
  });
});

describe('HTTP/2 requests under the same limits as HTTP/1.1', () => {
  const inTempDir = useTempDir('breakwater-h2-limits-');
  let ca: TestCa;
  let upstream: TestServer;
  let proxy: TestProxy;
  let reached = 0;

  before(async () => {
    ca = await createTestCa(inTempDir('.'));
    const api = await ca.issue('api', { names: ['api.test'] });
    upstream = await startServer((req, res) => {
      reached++;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    proxy = await startTestProxy(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates: [{ cert: ${api.cert}, key: ${api.key} }]
limits:
  maxBodySize: 1024
  requestTimeout: 300ms
  headersTimeout: 200ms
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
    retry: false
routes:
  - upstream: app
log:
  level: silent
`);
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('a declared body over limits.maxBodySize gets 413 and never reaches the upstream', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const response = await h2Request(
        session,
        { ':method': 'POST', ':path': '/', 'content-length': '4096' },
        Buffer.alloc(4096, 1),
      );
      assert.equal(response.status, 413);
      assert.equal(JSON.parse(response.body.toString()).error.code, 'BODY_TOO_LARGE');
      assert.equal(reached, 0);
    } finally {
      session.close();
    }
  });

  test('a streamed body growing past limits.maxBodySize gets 413', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/' });
      stream.on('error', () => {});
      stream.write(Buffer.alloc(512, 1));
      stream.end(Buffer.alloc(2048, 1));
      const [headers] = (await once(stream, 'response')) as [Record<string, string>];
      assert.equal(Number(headers[':status']), 413);
    } finally {
      session.close();
    }
  });

  test('a request body that stops arriving is cancelled after limits.requestTimeout', async () => {
    const session = await h2Session(proxy.port, ca.pem);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/' });
      stream.on('error', () => {});
      stream.write(Buffer.alloc(100, 1)); // and never ends
      const started = performance.now();
      await once(stream, 'close');
      const waited = performance.now() - started;
      assert.ok(waited >= 250 && waited < 3_000, `cancelled after ${Math.round(waited)} ms`);
      assert.equal(stream.rstCode, constants.NGHTTP2_CANCEL);
      const next = await h2Request(session, { ':path': '/' });
      assert.equal(next.status, 200, 'the connection serves on');
    } finally {
      session.close();
    }
  });
});
