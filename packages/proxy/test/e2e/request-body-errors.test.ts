/**
 * Black-box: a request body that fails after forwarding began, found malformed or too slow for
 * `limits.requestTimeout`. The upstream has the head and the first chunk already; the proxy
 * aborts that upstream request at once (its connection closed, nothing of the bad part sent),
 * answers the client (400 `MALFORMED_BODY`, 408 `REQUEST_TIMEOUT`), or cuts the connection when
 * the response has begun, and counts it.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { httpRequest, proxyYaml, startTestProxy } from '../support/proxy-harness.ts';
import { startTcpServer, until } from '../support/servers.ts';

const HEAD = 'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n';
// A size line that is not hex: node's parser fails in the middle of the body.
const BAD_CHUNK = 'zz\r\nworld\r\n';

/**
 * A raw upstream that records what it received and whether its socket closed; `onHello` runs
 * once the first chunk arrived (to answer early, or not at all).
 */
async function recordingUpstream(onHello: (socket: Socket) => void = () => {}) {
  let received = '';
  let closed = false;
  const server = await startTcpServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      const before = received;
      received += chunk.toString('latin1');
      if (!before.includes('hello') && received.includes('hello')) onHello(socket);
    });
    socket.once('close', () => {
      closed = true;
    });
  });
  return {
    server,
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
  };
}

/** A client that keeps its side of the connection open (half-open allowed), recording replies. */
function holdingClient(port: number) {
  const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  socket.once('end', () => {
    ended = true;
  });
  return {
    socket,
    get text() {
      return text;
    },
    get ended() {
      return ended;
    },
  };
}

test('a chunked body found malformed after forwarding began aborts the upstream request at once', async () => {
  const upstream = await recordingUpstream();
  const proxy = await startTestProxy(
    proxyYaml([upstream.server.url], 'admin: { listen: 127.0.0.1:0 }\nlog: { access: true }\n'),
  );
  const client = holdingClient(proxy.port);
  try {
    client.socket.write(HEAD);
    await until(() => upstream.received.includes('hello'), 'the first chunk upstream');
    client.socket.write(BAD_CHUNK);
    await until(() => /\r\n\r\n\{.*\}$/s.test(client.text), 'the whole answer to the client');
    // The request was over, its upstream attempt included, before the client got the answer
    // (the old path answered from the parser error and left the attempt to end with the
    // client's socket, whenever that closed).
    const target = proxy.upstreams.get('app')!.targets[0]!;
    assert.equal(target.activeRequests, 0, 'the upstream request ended before the answer');
    assert.match(client.text, /^HTTP\/1\.1 400 /);
    assert.match(client.text, /\r\nconnection: close\r\n/i);
    assert.equal(
      JSON.parse(client.text.slice(client.text.indexOf('\r\n\r\n') + 4)).error.code,
      'MALFORMED_BODY',
    );
    // While the client still holds its side open, the upstream sees its connection closed, and
    // nothing of the malformed part reached it.
    await until(() => upstream.closed, 'the upstream connection closed');
    assert.ok(!upstream.received.includes('world'));

    const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
    assert.match(
      metrics,
      /breakwater_proxy_errors_total\{upstream="app",code="MALFORMED_BODY"\} 1/,
    );
    const line = proxy.logs.lines.find((entry) => entry.msg === 'request');
    assert.equal(line?.code, 'MALFORMED_BODY');
    assert.equal(line?.status, 400);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a body found malformed after the response began cuts the client connection', async () => {
  // The upstream answers as soon as the first chunk arrives and keeps its response open.
  const upstream = await recordingUpstream((socket) =>
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nsome\r\n'),
  );
  const proxy = await startTestProxy(proxyYaml([upstream.server.url], 'log: { access: true }\n'));
  const client = holdingClient(proxy.port);
  try {
    client.socket.write(HEAD);
    await until(() => client.text.includes('some'), 'the start of the response');
    client.socket.write(BAD_CHUNK);
    await until(() => client.ended, 'the client connection cut');
    // Cut, not finished: the chunked response never got its last chunk.
    assert.match(client.text, /^HTTP\/1\.1 200 /);
    assert.ok(!client.text.endsWith('0\r\n\r\n'), client.text);
    await until(() => upstream.closed, 'the upstream connection closed');
    assert.ok(!upstream.received.includes('world'));
    await until(() => proxy.logs.lines.some((entry) => entry.msg === 'request'), 'the log line');
    const line = proxy.logs.lines.find((entry) => entry.msg === 'request');
    assert.equal(line?.code, 'MALFORMED_BODY');
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a streamed body not received within requestTimeout aborts the upstream request and gets 408', async () => {
  const upstream = await recordingUpstream();
  const proxy = await startTestProxy(
    proxyYaml(
      [upstream.server.url],
      'admin: { listen: 127.0.0.1:0 }\nlog: { access: true }\nlimits: { headersTimeout: 1s, requestTimeout: 1s }\n',
    ),
  );
  const client = holdingClient(proxy.port);
  try {
    // A POST with no declared length streams at once; its client then sends nothing more.
    client.socket.write(HEAD);
    await until(() => upstream.received.includes('hello'), 'the first chunk upstream');
    await until(() => /\r\n\r\n\{.*\}$/s.test(client.text), 'the whole answer to the client');
    const target = proxy.upstreams.get('app')!.targets[0]!;
    assert.equal(target.activeRequests, 0, 'the upstream request ended before the answer');
    assert.match(client.text, /^HTTP\/1\.1 408 /);
    assert.equal(
      JSON.parse(client.text.slice(client.text.indexOf('\r\n\r\n') + 4)).error.code,
      'REQUEST_TIMEOUT',
    );
    await until(() => upstream.closed, 'the upstream connection closed');
    const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
    assert.match(
      metrics,
      /breakwater_proxy_errors_total\{upstream="app",code="REQUEST_TIMEOUT"\} 1/,
    );
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a malformed request pipelined after a complete body is not blamed on that body', async () => {
  const upstream = await recordingUpstream();
  const proxy = await startTestProxy(
    proxyYaml([upstream.server.url], 'admin: { listen: 127.0.0.1:0 }\nlog: { access: true }\n'),
  );
  const client = holdingClient(proxy.port);
  try {
    // One write: a whole, well-formed chunked PUT, then a request head node's parser refuses.
    // The parser reaches the bad head before the PUT's body stream has emitted its end.
    client.socket.write(`${HEAD.replace('POST', 'PUT')}0\r\n\r\nNOT A REQUEST\r\n\r\n`);
    // Forwarded whole (the proxy may send it chunked or, read in full by then, with a length).
    await until(() => upstream.received.includes('hello'), 'the PUT upstream');
    assert.match(upstream.received, /^PUT \/upload /);
    const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
    assert.match(metrics, /breakwater_proxy_errors_total\{upstream="",code="BAD_REQUEST"\} 1/);
    assert.doesNotMatch(metrics, /MALFORMED_BODY/);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a body found malformed after its response was complete closes the connection, no second answer', async () => {
  // The upstream answers in full as soon as the first chunk arrives; the request is over.
  const upstream = await recordingUpstream((socket) =>
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone'),
  );
  const proxy = await startTestProxy(proxyYaml([upstream.server.url], 'log: { access: true }\n'));
  const client = holdingClient(proxy.port);
  try {
    // A PUT: its body goes on being read (for a replay copy) after the response.
    client.socket.write(HEAD.replace('POST', 'PUT'));
    await until(() => client.text.endsWith('done'), 'the whole response');
    client.socket.write(BAD_CHUNK);
    await until(() => client.ended, 'the connection closed');
    assert.match(client.text, /^HTTP\/1\.1 200 /);
    assert.equal(client.text.match(/HTTP\/1\.1 /g)?.length, 1, client.text);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});
