/**
 * Black-box: requests pipelined on one keep-alive connection when a later one is malformed. As
 * nginx does, every request before the malformed one gets its own response, whole and in order;
 * the malformed one then gets its 400 and the connection closes. Answering it at once would hand
 * the client a 400 in place of a response it is still waiting for, or cut one half-sent.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { proxyYaml, startServer, startTestProxy } from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';

const GARBAGE = 'NOT A REQUEST\r\n\r\n';

/** An upstream whose response to each request waits for `release()` after its first part. */
async function heldUpstream() {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let requests = 0;
  const server = await startServer((_req, res) => {
    requests++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part;');
    void released.then(() => res.end('last part'));
  });
  return {
    server,
    release,
    get requests() {
      return requests;
    },
  };
}

/** A raw client that records everything it reads until the proxy closes the connection. */
function rawClient(port: number) {
  const socket = connect({ port, host: '127.0.0.1' });
  let text = '';
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.once('close', () => {
    closed = true;
  });
  return {
    socket,
    get text() {
      return text;
    },
    get closed() {
      return closed;
    },
  };
}

function parserRejected(proxy: { logs: { lines: Record<string, unknown>[] } }): boolean {
  return proxy.logs.lines.some((line) => line.code === 'HPE_INVALID_METHOD');
}

test('a malformed request pipelined behind one in flight waits for its response, then gets 400', async () => {
  const upstream = await heldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(`GET /a HTTP/1.1\r\nHost: a\r\n\r\n${GARBAGE}`);
    await until(() => upstream.requests === 1 && parserRejected(proxy), 'both requests parsed');
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    assert.match(client.text, /^HTTP\/1\.1 200 /);
    const second = client.text.indexOf('HTTP/1.1 400 ');
    assert.ok(second > client.text.indexOf('first part;last part'), client.text);
    assert.match(client.text.slice(second), /"code":"BAD_REQUEST"/);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a malformed request pipelined behind a response half-sent lets that response finish', async () => {
  const upstream = await heldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write('GET /a HTTP/1.1\r\nHost: a\r\n\r\n');
    await until(() => client.text.includes('first part;'), 'the start of the response');
    client.socket.write(GARBAGE);
    await until(() => parserRejected(proxy) || client.closed, 'the malformed request parsed');
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    // The chunked response is complete (its last chunk came), then the 400.
    const second = client.text.indexOf('HTTP/1.1 400 ');
    assert.ok(second > 0, client.text);
    assert.match(client.text.slice(0, second), /last part\r\n0\r\n\r\n$/);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a request refused with its connection closed, pipelined behind one in flight, lets that one finish first', async () => {
  const upstream = await heldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    // The second request is refused (a look-alike framing field) and its connection is to close;
    // what follows it fails node's parser.
    client.socket.write(
      `GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent_Length: 3\r\n\r\nabc${GARBAGE}`,
    );
    await until(() => upstream.requests === 1, 'the first request upstream');
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    assert.match(client.text, /^HTTP\/1\.1 200 /);
    const second = client.text.indexOf('HTTP/1.1 400 ');
    assert.ok(second > client.text.indexOf('first part;last part'), client.text);
    assert.equal(upstream.requests, 1);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});
