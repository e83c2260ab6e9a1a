/**
 * Slow readers end to end: a client that stops reading is cut off by `limits.minResponseRate`
 * (and `sendTimeout`), freeing its upstream connection; a response within `limits.responseBuffer`
 * is read off the upstream at once whatever the client's pace. These run without response
 * spilling (`response-spill.test.ts` covers cutting a spilled response). Clients here pause their sockets;
 * responses are large enough (tens of MB) to fill loopback's kernel buffers, so the proxy is
 * really behind.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { SlowReaders } from '../../src/request/slow-readers.ts';
import { httpRequest, startServer, startTestProxy } from '../support/proxy-harness.ts';

const MiB = 1024 * 1024;

/** An upstream answering `/big` with `bytes` bytes, written with backpressure; it tells when it finished. */
async function bigUpstream(bytes: number) {
  const outcomes: ('finished' | 'aborted')[] = [];
  const server = await startServer((_req, res: ServerResponse) => {
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

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
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
        5_000,
        'the cut',
      );
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
      await waitFor(() => outcomes.length > 0, 5_000, 'the upstream response to end');
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
      await waitFor(() => outcomes.length > 0, 10_000, 'the upstream response to end');
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
      await waitFor(() => outcomes.length > 0, 5_000, 'the upstream response to end');
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
      await waitFor(() => outcomes.length > 0, 10_000, 'the upstream to finish');
      assert.deepEqual(outcomes, ['finished']);
      // Then the client reads it all, intact.
      let received = socket.firstBytes;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.resume();
      await waitFor(() => received >= size, 20_000, 'the client to read the response');
    } finally {
      socket.destroy();
      await proxy.close();
      await server.close();
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
      await waitFor(() => answer.endsWith('got 10'), 5_000, 'the answer');
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
