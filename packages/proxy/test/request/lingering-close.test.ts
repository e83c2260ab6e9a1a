/**
 * A response that finishes while its client is still sending the request body: the response says
 * `Connection: close` (when its head had not gone out), the proxy reads and drops the rest of the
 * body for a bounded time and size, then closes, so the client is neither left waiting on an
 * open connection nor reset before it has read its answer.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { LINGER_BYTES, LINGER_TIME } from '../../src/request/lingering-close.ts';
import { createTestCa } from '../support/certificates.ts';
import { proxyYaml, startServer, startTestProxy } from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';
import { useTempDir } from '../support/temp-dir.ts';

const BODY_SIZE = 1_000_000;

/** An upstream that refuses uploads at once, without reading them. */
async function refusingUpstream() {
  return startServer((_req, res) => {
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end('no');
  });
}

/** A raw client that keeps its side open after the proxy's FIN, to go on sending. */
function uploadingClient(port: number) {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const state = { text: '', ended: false, closed: false, error: '' };
  socket.on('data', (chunk: Buffer) => {
    state.text += chunk.toString('latin1');
  });
  socket.on('error', (error: Error & { code?: string }) => {
    state.error = error.code ?? error.message;
  });
  socket.once('end', () => {
    state.ended = true;
  });
  socket.once('close', () => {
    state.closed = true;
  });
  return { socket, state };
}

// The keep-alive timeout is far beyond what `until` waits: the close must be the proxy's own.
const yamlFor = (url: string) => proxyYaml([url], 'limits:\n  keepAliveTimeout: 60s\n');

test('a response finished before its request body says Connection: close, drops the rest of the body and closes', async () => {
  const upstream = await refusingUpstream();
  const proxy = await startTestProxy(yamlFor(upstream.url));
  const { socket, state } = uploadingClient(proxy.port);
  try {
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${BODY_SIZE}\r\n\r\n`);
    socket.write(Buffer.alloc(100_000, 'x'));
    await until(() => state.text.endsWith('no\r\n0\r\n\r\n'), 'the whole 401');
    assert.match(state.text, /^HTTP\/1\.1 401 /);
    assert.match(state.text, /\r\nconnection: close\r\n/i);
    // The rest of the body, and a request behind it that the closing connection does not serve.
    socket.write(Buffer.alloc(BODY_SIZE - 100_000, 'x'));
    socket.write('GET /next HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => state.ended, "the proxy's end of the connection");
    socket.end();
    await until(() => state.closed, 'the connection closed');
    assert.equal(state.error, '');
    assert.equal(state.text.match(/HTTP\/1\.1 /g)?.length, 1, state.text);
  } finally {
    socket.destroy();
    await proxy.close();
    await upstream.close();
  }
});

test('a client that goes on sending after its response is cut past LINGER_BYTES, before LINGER_TIME', async () => {
  const upstream = await refusingUpstream();
  const proxy = await startTestProxy(yamlFor(upstream.url));
  const { socket, state } = uploadingClient(proxy.port);
  try {
    // Far more than the proxy reads in one look at what it has read (every 100 ms).
    const declared = 256 * LINGER_BYTES;
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${declared}\r\n\r\n`);
    socket.write(Buffer.alloc(100_000, 'x'));
    await until(() => state.text.endsWith('no\r\n0\r\n\r\n'), 'the whole 401');
    // Sent in pieces, as long as the connection takes them; never closed from this side.
    const piece = Buffer.alloc(256 * 1024, 'x');
    let sent = 100_000;
    const pump = () => {
      while (!state.closed && sent + piece.length <= declared) {
        sent += piece.length;
        if (!socket.write(piece)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    const started = performance.now();
    pump();
    await until(() => state.closed, 'the connection cut');
    assert.ok(sent < declared, `the whole body went through (${sent} bytes)`);
    // Cut for the bytes, not at the end of LINGER_TIME.
    assert.ok(performance.now() - started < LINGER_TIME, 'cut only at the time limit');
  } finally {
    socket.destroy();
    await proxy.close();
    await upstream.close();
  }
});

const inTempDir = useTempDir('breakwater-linger-');

test('on a TLS listener, a response finished before its request body also lingers, then closes', async () => {
  const ca = await createTestCa(inTempDir('.'));
  const leaf = await ca.issue('api', { names: ['api.test'] });
  const upstream = await refusingUpstream();
  const proxy = await startTestProxy(`
listen:
  - address: 127.0.0.1:0
    tls:
      certificates:
        - { cert: ${leaf.cert}, key: ${leaf.key} }
limits:
  keepAliveTimeout: 60s
upstreams:
  app:
    targets: [{ url: ${upstream.url} }]
routes:
  - upstream: app
`);
  // node's tls.connect honours allowHalfOpen (passed to its socket); its types omit it.
  const options = {
    port: proxy.port,
    host: '127.0.0.1',
    servername: 'api.test',
    ca: ca.pem,
    allowHalfOpen: true,
  };
  const socket = connectTls(options);
  const state = { text: '', ended: false, closed: false, error: '' };
  socket.on('data', (chunk: Buffer) => {
    state.text += chunk.toString('latin1');
  });
  socket.on('error', (error: Error & { code?: string }) => {
    state.error = error.code ?? error.message;
  });
  socket.once('end', () => {
    state.ended = true;
  });
  socket.once('close', () => {
    state.closed = true;
  });
  try {
    socket.write(`POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: ${BODY_SIZE}\r\n\r\n`);
    socket.write(Buffer.alloc(100_000, 'x'));
    await until(() => state.text.endsWith('no\r\n0\r\n\r\n'), 'the whole 401');
    assert.match(state.text, /\r\nconnection: close\r\n/i);
    // The rest of the body is read and dropped: the connection is not reset under the client.
    socket.write(Buffer.alloc(BODY_SIZE - 100_000, 'x'));
    socket.write('GET /next HTTP/1.1\r\nHost: api.test\r\n\r\n');
    await until(() => state.ended, "the proxy's end of the connection");
    socket.end();
    await until(() => state.closed, 'the connection closed');
    assert.equal(state.error, '');
    assert.equal(state.text.match(/HTTP\/1\.1 /g)?.length, 1, state.text);
  } finally {
    socket.destroy();
    await proxy.close();
    await upstream.close();
  }
});

test('requests sent after the body on a lingering connection are not parsed on (the heap stays flat)', async () => {
  const upstream = await refusingUpstream();
  const proxy = await startTestProxy(yamlFor(upstream.url));
  const { socket, state } = uploadingClient(proxy.port);
  try {
    socket.write(`POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: ${BODY_SIZE}\r\n\r\n`);
    socket.write(Buffer.alloc(100_000, 'x'));
    await until(() => state.text.endsWith('no\r\n0\r\n\r\n'), 'the whole 401');
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().heapUsed);
    }, 10);
    // The rest of the body, then 3 MiB of tiny requests (about 110,000; all under LINGER_BYTES).
    const tiny = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
    socket.write(Buffer.alloc(BODY_SIZE - 100_000, 'x'));
    socket.write(tiny.repeat(Math.floor((3 * 1024 * 1024) / tiny.length)));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    clearInterval(sample);
    // Parsed on, each request costs node a request and a response object: hundreds of MB.
    const grownMb = (peak - before) / 1e6;
    assert.ok(grownMb < 64, `the heap grew by ${grownMb.toFixed(0)} MB while lingering`);
  } finally {
    socket.destroy();
    await proxy.close();
    await upstream.close();
  }
});
