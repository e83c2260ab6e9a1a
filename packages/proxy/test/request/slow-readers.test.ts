/**
 * Slow readers end to end: a client that stops reading is cut off by `limits.minResponseRate`
 * (and `sendTimeout`), freeing its upstream connection; a response within `limits.responseBuffer`
 * is read off the upstream at once whatever the client's pace. These run without response
 * spilling (`response-spill.test.ts` covers cutting a spilled response). Clients here pause their sockets
 * (or, on HTTP/2, their streams); responses are large enough (tens of MB) to fill loopback's
 * kernel buffers, so the proxy is really behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { type ClientHttp2Session, type ClientHttp2Stream, connect as connectH2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { SlowReaders } from '../../src/request/slow-readers.ts';
import { createTestCa, type TestCa } from '../support/certificates.ts';
import { Flags, FrameType, frame, getRequest, rawH2 } from '../support/h2-frames.ts';
import {
  httpRequest,
  metric,
  startServer,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.ts';
import { waitFor } from '../support/servers.ts';
import { useTempDir } from '../support/temp-dir.ts';

const MiB = 1024 * 1024;

/**
 * An upstream answering `/big` with `bytes` bytes, written with backpressure; it tells when each
 * finished. `/steady` is 256 KiB every 50 ms for 2 s (about 5 MB/s); anything else is `ok`.
 */
async function bigUpstream(bytes: number) {
  const outcomes: ('finished' | 'aborted')[] = [];
  const server = await startServer((req, res: ServerResponse) => {
    if (req.url === '/steady') {
      let left = 40;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(256 * 1024, 's'));
        if (--left === 0) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
      res.once('close', () => clearInterval(timer));
      return;
    }
    if (req.url !== '/big') {
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-length': bytes });
    const piece = Buffer.alloc(MiB, 'x');
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const size = Math.min(piece.length, left);
        left -= size;
        if (!res.write(size === piece.length ? piece : piece.subarray(0, size))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.once('finish', () => outcomes.push('finished'));
    res.once('close', () => {
      if (!res.writableFinished) outcomes.push('aborted');
    });
    pump();
  });
  return { server, outcomes };
}

/** Sends a GET for /big and stops reading once the response has started. */
async function pausedClient(port: number): Promise<Socket & { firstBytes: number }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n');
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.pause();
  return Object.assign(socket, { firstBytes: first.length });
}

/** HTTP/2 connections the proxy has open (its listener's count, by socket close). */
async function openH2Connections(proxy: TestProxy): Promise<number> {
  const text = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith('breakwater_listener_connections{') && l.includes('protocol="h2"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A GET for `path` on `session`, paused: the client takes no more than its stream window. */
async function pausedStream(session: ClientHttp2Session, path: string): Promise<ClientHttp2Stream> {
  const stream = session.request({ ':path': path });
  stream.pause();
  stream.on('error', () => {});
  await once(stream, 'response');
  return stream;
}

function yaml(target: string, limits: string): string {
  return `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
log: { level: silent }
limits: ${limits}
upstreams:
  app:
    targets: [ { url: ${target} } ]
routes: [ { upstream: app } ]
`;
}

describe('slow readers', () => {
  test('a client that stops reading is cut off by minResponseRate, and its upstream response aborted', async () => {
    const { server, outcomes } = await bigUpstream(64 * MiB);
    const proxy = await startTestProxy(
      yaml(
        server.url,
        '{ minResponseRate: { bytesPerSecond: 100000, gracePeriod: 300ms }, sendTimeout: 1m, responseBuffer: 64kb, responseSpill: false }',
      ),
    );
    const socket = await pausedClient(proxy.port);
    try {
      const closed = once(socket, 'close');
      await waitFor(
        () => socket.destroyed || socket.readableEnded || outcomes.length > 0,
        'the cut',
        5_000,
      );
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      await waitFor(() => outcomes.length > 0, 'the upstream response to end', 5_000);
      assert.deepEqual(
        outcomes,
        ['aborted'],
        'the upstream response was abandoned, not sent whole',
      );
      const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
      assert.match(metrics, /breakwater_slow_clients_cut_total\{reason="min-rate"\} 1/);
    } finally {
      socket.destroy();
      await proxy.close();
      await server.close();
    }
  });

  test('a client that trickles (a little every 100 ms) after a fast start is still cut off', async () => {
    const { server, outcomes } = await bigUpstream(64 * MiB);
    const proxy = await startTestProxy(
      yaml(
        server.url,
        '{ minResponseRate: { bytesPerSecond: 100000, gracePeriod: 300ms }, sendTimeout: 1m, responseSpill: false }',
      ),
    );
    const socket = await pausedClient(proxy.port);
    // Reads 1 KB every 100 ms: about 10 KB/s, a tenth of the minimum rate.
    const trickle = setInterval(() => socket.read(1024), 100);
    try {
      await waitFor(() => outcomes.length > 0, 'the upstream response to end', 10_000);
      assert.deepEqual(outcomes, ['aborted']);
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await proxy.close();
      await server.close();
    }
  });

  test('sendTimeout cuts a client that takes no byte at all, with the rate check off', async () => {
    const { server, outcomes } = await bigUpstream(64 * MiB);
    const proxy = await startTestProxy(
      yaml(
        server.url,
        '{ minResponseRate: false, sendTimeout: 400ms, responseBuffer: 64kb, responseSpill: false }',
      ),
    );
    const socket = await pausedClient(proxy.port);
    try {
      await waitFor(() => outcomes.length > 0, 'the upstream response to end', 5_000);
      assert.deepEqual(outcomes, ['aborted']);
      const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
      assert.match(metrics, /breakwater_slow_clients_cut_total\{reason="send-timeout"\} 1/);
    } finally {
      socket.destroy();
      await proxy.close();
      await server.close();
    }
  });

  test('a response within responseBuffer is read off the upstream at once while the client is paused', async () => {
    const size = 48 * MiB;
    const { server, outcomes } = await bigUpstream(size);
    const proxy = await startTestProxy(
      yaml(
        server.url,
        '{ minResponseRate: false, sendTimeout: 1m, responseBuffer: 64mb, responseSpill: false }',
      ),
    );
    const socket = await pausedClient(proxy.port);
    try {
      // The upstream finishes although the client has read almost nothing.
      await waitFor(() => outcomes.length > 0, 'the upstream to finish', 10_000);
      assert.deepEqual(outcomes, ['finished']);
      // Then the client reads it all, intact.
      let received = socket.firstBytes;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.resume();
      await waitFor(() => received >= size, 'the client to read the response', 20_000);
    } finally {
      socket.destroy();
      await proxy.close();
      await server.close();
    }
  });
});

/** The connection was cut once by the rate rule, and the proxy's side of it is closed. */
async function cutOnceAndClosed(proxy: TestProxy): Promise<void> {
  assert.equal(await metric(proxy, 'breakwater_slow_clients_cut_total{reason="min-rate"}'), 1);
  await waitFor(
    async () => (await openH2Connections(proxy)) === 0,
    'the proxy to close the connection',
    5_000,
  );
}

describe('slow HTTP/2 readers', () => {
  const inTempDir = useTempDir('breakwater-slow-h2-');
  const limits =
    '{ minResponseRate: { bytesPerSecond: 100000, gracePeriod: 300ms }, sendTimeout: 1m, responseBuffer: 64kb, responseSpill: false }';
  let ca: TestCa | undefined;

  /** A proxy in front of `target` on an h2c listener, or a TLS one offering h2. */
  async function proxyFor(target: string, tls: boolean): Promise<TestProxy> {
    let listen = '[ { address: 127.0.0.1:0, h2c: true } ]';
    if (tls) {
      ca ??= await createTestCa(inTempDir('.'));
      const api = await ca.issue('api', { names: ['api.test'] });
      listen = `[ { address: 127.0.0.1:0, tls: { certificates: [ { cert: ${api.cert}, key: ${api.key} } ] } } ]`;
    }
    return startTestProxy(yaml(target, limits).replace('listen: 127.0.0.1:0', `listen: ${listen}`));
  }

  function clientOf(proxy: TestProxy, tls: boolean): ClientHttp2Session {
    const session = tls
      ? connectH2(`https://api.test:${proxy.port}`, {
          ca: ca!.pem,
          servername: 'api.test',
          host: '127.0.0.1',
          lookup: (_name, _options, callback) => callback(null, '127.0.0.1', 4),
        })
      : connectH2(`http://127.0.0.1:${proxy.port}`);
    session.on('error', () => {});
    return session;
  }

  for (const tls of [false, true]) {
    test(`a client whose streams stop reading is cut by minResponseRate: its whole connection, counted once, others still served${tls ? ' (TLS)' : ''}`, async () => {
      const { server, outcomes } = await bigUpstream(64 * MiB);
      const proxy = await proxyFor(server.url, tls);
      const session = clientOf(proxy, tls);
      let other: ClientHttp2Session | undefined;
      try {
        // Three streams with data waiting on one connection: cut once, not three times.
        await Promise.all([1, 2, 3].map(() => pausedStream(session, '/big')));
        await waitFor(() => session.destroyed, 'the connection to be closed', 5_000);
        await waitFor(() => outcomes.length === 3, 'the upstream responses to end', 5_000);
        assert.deepEqual(outcomes, ['aborted', 'aborted', 'aborted']);
        await cutOnceAndClosed(proxy);
        other = clientOf(proxy, tls);
        const answer = other.request({ ':path': '/small' });
        answer.setEncoding('utf8');
        let body = '';
        for await (const chunk of answer) body += chunk;
        assert.equal(body, 'ok');
      } finally {
        session.destroy();
        other?.destroy();
        await proxy.close();
        await server.close();
      }
    });
  }

  test('a stream held by its own flow control is not cut while the client reads another stream of the connection, and is once the connection stalls', async () => {
    const { server, outcomes } = await bigUpstream(64 * MiB);
    const proxy = await proxyFor(server.url, false);
    const session = clientOf(proxy, false);
    try {
      const held = await pausedStream(session, '/big');
      // Read at once, for 2 s (six grace periods) at about fifty times the minimum rate.
      const steady = session.request({ ':path': '/steady' });
      let received = 0;
      steady.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      await once(steady, 'end');
      assert.equal(received, 40 * 256 * 1024);
      assert.equal(session.destroyed, false, 'the connection was kept while it took bytes');
      assert.equal(held.destroyed, false);
      assert.deepEqual(outcomes, []);
      assert.equal(
        await metric(proxy, 'breakwater_slow_clients_cut_total{reason="min-rate"}'),
        undefined,
      );
      // Nothing flows now while the held stream still has data waiting: that is a slow reader.
      await waitFor(() => session.destroyed, 'the connection to be closed', 5_000);
      await waitFor(() => outcomes.length > 0, 'the upstream response to end', 5_000);
      assert.deepEqual(outcomes, ['aborted']);
      assert.equal(await metric(proxy, 'breakwater_slow_clients_cut_total{reason="min-rate"}'), 1);
    } finally {
      session.destroy();
      await proxy.close();
      await server.close();
    }
  });

  describe('a client that stops reading its socket, windows wide open', () => {
    for (const tls of [false, true]) {
      test(`is cut and its connection closed by the proxy${tls ? ', over TLS' : ''}`, async () => {
        const { server, outcomes } = await bigUpstream(64 * MiB);
        const proxy = await proxyFor(server.url, tls);
        const raw = await rawH2(proxy.port, tls ? { tls: { servername: 'api.test' } } : {});
        try {
          // The largest windows there are, so the proxy's kernel buffers fill and its writes to
          // the socket stay pending: the session could not close it on its own.
          const settings = Buffer.alloc(6);
          settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
          settings.writeUInt32BE(0x7fffffff, 2);
          const increment = Buffer.alloc(4);
          increment.writeUInt32BE(0x7fffffff - 65_535, 0);
          raw.send(
            frame(FrameType.SETTINGS, 0, 0, settings),
            frame(FrameType.WINDOW_UPDATE, 0, 0, increment),
            frame(
              FrameType.HEADERS,
              Flags.END_HEADERS | Flags.END_STREAM,
              1,
              getRequest(`api.test:${proxy.port}`, '/big', tls ? 'https' : 'http'),
            ),
          );
          await waitFor(() => raw.received.has(FrameType.DATA), 'the response to start', 5_000);
          raw.socket.pause();
          await waitFor(() => outcomes.length > 0, 'the upstream response to end', 5_000);
          assert.deepEqual(outcomes, ['aborted']);
          await cutOnceAndClosed(proxy);
        } finally {
          raw.socket.destroy();
          await proxy.close();
          await server.close();
        }
      });
    }
  });
});

describe('slow senders', () => {
  test('a body within limits.requestBuffer is read before a target is chosen: no upstream connection while it trickles', async () => {
    let connections = 0;
    const upstream = await startServer((req, res) => {
      let length = 0;
      req.on('data', (chunk: Buffer) => {
        length += chunk.length;
      });
      req.on('end', () => res.end(`got ${length}`));
    });
    upstream.server.on('connection', () => connections++);
    const proxy = await startTestProxy(yaml(upstream.url, '{ requestBuffer: 64kb }'));
    const socket = connect(proxy.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      socket.write(
        'POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello',
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(connections, 0, 'no upstream connection while the body is incomplete');
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString();
      });
      socket.write('world');
      await waitFor(() => answer.endsWith('got 10'), 'the answer', 5_000);
      assert.equal(connections, 1);
    } finally {
      socket.destroy();
      await proxy.close();
      await upstream.close();
    }
  });
});

test('a slow reader on a TLS socket is cut off without a reset, which TLS sockets refuse', async () => {
  // node's TLSSocket.resetAndDestroy() throws ERR_INVALID_HANDLE_TYPE (its handle is not TCP);
  // thrown from the shared timer, that would take the whole proxy down.
  let destroyed = false;
  const socket = {
    encrypted: true,
    bytesWritten: 0,
    writableLength: 0,
    destroyed: false,
    resetAndDestroy() {
      throw Object.assign(new Error('Invalid handle type'), { code: 'ERR_INVALID_HANDLE_TYPE' });
    },
    destroy() {
      destroyed = true;
    },
  };
  const res = { socket, destroyed: false, once() {}, off() {}, destroy() {} };
  const cuts: string[] = [];
  const readers = new SlowReaders({
    minResponseRate: false,
    sendTimeout: 50,
    onCut: (reason) => cuts.push(reason),
  });
  readers.watch(res as unknown as ServerResponse);
  const deadline = performance.now() + 2_000;
  while (cuts.length === 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  readers.close();
  assert.deepEqual(cuts, ['send-timeout']);
  assert.equal(destroyed, true, 'the TLS socket is destroyed');
});
