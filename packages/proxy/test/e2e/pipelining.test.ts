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

/** An upstream that answers `/held*` only on `release()`, everything else at once, by path. */
async function pathHeldUpstream() {
  const arrived: string[] = [];
  const holds: (() => void)[] = [];
  const server = await startServer((req, res) => {
    const path = req.url ?? '';
    arrived.push(path);
    const answer = () => res.end(`body of ${path}`);
    if (path.startsWith('/held')) holds.push(answer);
    else {
      // Answered once its body (if any) has all arrived.
      req.resume();
      req.once('end', answer);
    }
  });
  return {
    server,
    arrived,
    release: () => {
      for (const answer of holds.splice(0)) answer();
    },
  };
}

/**
 * Resolves once the proxy has handled a request sent after `client`'s last bytes: everything the
 * proxy was going to do with what it had parsed by then, it has done.
 */
async function proxyCaughtUp(port: number): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/probe`);
  assert.equal(response.status, 200);
  await response.text();
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;

/** Each response in `text` as "status body" for the upstream's bodies, "status" for the proxy's. */
function responseBodies(text: string): string[] {
  const answers: string[] = [];
  let rest = text;
  while (rest.length > 0) {
    const head = /^HTTP\/1\.1 (\d+)[\s\S]*?\r\n\r\n/.exec(rest);
    assert.ok(head !== null, `not a response: ${JSON.stringify(rest.slice(0, 80))}`);
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(head[0]);
    assert.ok(length !== null, head[0]);
    const body = rest.slice(head[0].length, head[0].length + Number(length[1]));
    answers.push(body.startsWith('body of ') ? `${head[1]} ${body}` : head[1]!);
    rest = rest.slice(head[0].length + Number(length[1]));
  }
  return answers;
}

test('pipelined requests reach the upstream one at a time: the second is not sent until the first response is complete', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(get('/held-a') + get('/b') + get('/c'));
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await proxyCaughtUp(proxy.port);
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe']);
    upstream.release();
    await until(() => client.text.includes('body of /c'), 'the third response');
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe', '/b', '/c']);
    // In order and whole: three responses, nothing else.
    assert.deepEqual(responseBodies(client.text), [
      '200 body of /held-a',
      '200 body of /b',
      '200 body of /c',
    ]);
    assert.ok(!client.closed);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a client closing with requests queued behind one in flight has none of them forwarded', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(get('/held-a') + get('/b') + get('/c'));
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await proxyCaughtUp(proxy.port);
    client.socket.destroy();
    const dropped = () =>
      proxy.logs.lines.filter((line) => line.status === 499 && line.path !== '/held-a');
    await until(() => dropped().length === 2, 'the queued requests logged as given up');
    assert.deepEqual(
      dropped().map((line) => [line.path, line.upstream, line.target]),
      [
        ['/b', undefined, undefined],
        ['/c', undefined, undefined],
      ],
    );
    upstream.release();
    await proxyCaughtUp(proxy.port);
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe', '/probe']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('requests pipelined beyond 32 waiting on one connection: the first over gets 429 in its turn and the connection closes', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    const paths = Array.from({ length: 40 }, (_, i) => (i === 0 ? '/held-0' : `/r${i}`));
    client.socket.write(paths.map(get).join(''));
    await until(() => upstream.arrived.includes('/held-0'), 'the first request upstream');
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    const answers = responseBodies(client.text);
    // One in flight and 32 waiting were served, in order; the 34th was refused.
    assert.deepEqual(
      answers.slice(0, 33),
      paths.slice(0, 33).map((path) => `200 body of ${path}`),
    );
    assert.equal(answers.length, 34);
    assert.equal(answers[33], '429');
    assert.match(client.text, /"code":"TOO_MANY_PIPELINED"/);
    assert.ok(!upstream.arrived.includes('/r33'));
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('limits.requestTimeout does not cut a pipelined request whose body waits its turn', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(
    proxyYaml([upstream.server.url], 'limits:\n  headersTimeout: 250ms\n  requestTimeout: 500ms\n'),
  );
  const client = rawClient(proxy.port);
  try {
    const size = 4_000_000;
    client.socket.write(
      `${get('/held-a')}POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`,
    );
    client.socket.write(Buffer.alloc(size / 2, 'x'));
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    // node's timeout fires on the waiting request's unfinished body, and is let go.
    await until(
      () => proxy.logs.lines.some((line) => String(line.msg).startsWith('request timeout ignored')),
      'the request timeout on the waiting request',
    );
    upstream.release();
    client.socket.write(Buffer.alloc(size / 2, 'x'));
    await until(() => client.text.includes('body of /b'), 'the second response');
    assert.deepEqual(responseBodies(client.text), ['200 body of /held-a', '200 body of /b']);
    assert.equal(upstream.arrived.at(-1), '/b');
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a pipelined request whose chunked body is malformed while it waits its turn is not forwarded, and gets 400 after the response ahead', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(
      `${get('/held-a')}POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n`,
    );
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await until(
      () => proxy.logs.lines.some((line) => line.code === 'HPE_INVALID_CHUNK_SIZE'),
      'the malformed chunk parsed',
    );
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    assert.match(client.text, /^HTTP\/1\.1 200 /);
    const second = client.text.indexOf('HTTP/1.1 400 ');
    assert.ok(second > client.text.indexOf('body of /held-a'), client.text);
    // The same code as a body found malformed after forwarding began.
    assert.match(client.text.slice(second), /"code":"MALFORMED_BODY"/);
    await proxyCaughtUp(proxy.port);
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a pipelined request whose body stalls is still timed after its turn when node timed it out while it waited', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(
    proxyYaml([upstream.server.url], 'limits:\n  headersTimeout: 250ms\n  requestTimeout: 500ms\n'),
  );
  const client = rawClient(proxy.port);
  try {
    client.socket.write(
      `${get('/held-a')}POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n0123456789`,
    );
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await until(
      () => proxy.logs.lines.some((line) => String(line.msg).startsWith('request timeout ignored')),
      'the request timeout on the waiting request',
    );
    upstream.release();
    await until(() => client.text.includes('body of /held-a'), 'the first response');
    // The rest of the body never comes: the connection must not be held open for ever.
    await until(() => client.closed, 'the connection closed');
    assert.match(client.text, /body of \/held-a[\s\S]*HTTP\/1\.1 408 /);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a graceful shutdown with pipelined requests waiting answers the one in flight and resolves', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(get('/held-a') + get('/b') + get('/c'));
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    let closed = false;
    const closing = proxy.close().then(() => {
      closed = true;
    });
    upstream.release();
    await until(() => closed, 'the proxy closed');
    await closing;
    await until(() => client.closed, 'the connection closed');
    // The response in flight said Connection: close; the requests behind it were not forwarded.
    assert.deepEqual(responseBodies(client.text), ['200 body of /held-a']);
    assert.deepEqual(upstream.arrived, ['/held-a']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('an upgrade request pipelined behind one in flight is answered after that response, not inside it', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(
      `${get('/held-a')}GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await proxyCaughtUp(proxy.port);
    // The upgrade is not sent upstream while the response ahead of it is held.
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe']);
    upstream.release();
    // This upstream does not upgrade: it answers /ws as a plain request, and the tunnel passes
    // that answer on and closes.
    await until(() => client.closed, 'the connection closed');
    assert.deepEqual(responseBodies(client.text), ['200 body of /held-a', '200 body of /ws']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a pipelined request with Expect: 100-continue gets its 100 Continue in its turn, after the response ahead', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(
      `${get('/held-a')}POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`,
    );
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    await proxyCaughtUp(proxy.port);
    assert.ok(!client.text.includes('100 Continue'), client.text);
    upstream.release();
    await until(() => client.text.includes('100 Continue'), 'the 100 Continue');
    assert.ok(client.text.indexOf('body of /held-a') < client.text.indexOf('100 Continue'));
    client.socket.write('hello');
    await until(() => client.text.includes('body of /b'), 'the second response');
    assert.deepEqual(upstream.arrived, ['/held-a', '/probe', '/b']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('a HEAD response ahead of a pipelined request hands it its turn', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    client.socket.write(`HEAD /held-a HTTP/1.1\r\nHost: a\r\n\r\n${get('/b')}`);
    await until(() => upstream.arrived.includes('/held-a'), 'the first request upstream');
    upstream.release();
    await until(() => client.text.includes('body of /b'), 'the second response');
    assert.deepEqual(upstream.arrived, ['/held-a', '/b']);
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});

test('past 32 waiting, the connection stays unread even when a waiting request reads its body in its turn', async () => {
  const upstream = await pathHeldUpstream();
  const proxy = await startTestProxy(proxyYaml([upstream.server.url]));
  const client = rawClient(proxy.port);
  try {
    // One in flight, 31 GETs and a POST waiting, then the one over the limit.
    const gets = Array.from({ length: 32 }, (_, i) => get(i === 0 ? '/held-0' : `/r${i}`));
    const post = 'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello';
    client.socket.write(`${gets.join('')}${post}${get('/over')}`);
    await until(() => upstream.arrived.includes('/held-0'), 'the first request upstream');
    await proxyCaughtUp(proxy.port);
    // Sent after the limit: never to be parsed (the connection closes after the 429).
    client.socket.write(GARBAGE);
    await proxyCaughtUp(proxy.port);
    upstream.release();
    await until(() => client.closed, 'the connection closed');
    const answers = responseBodies(client.text);
    assert.equal(answers.at(-2), '200 body of /p');
    assert.equal(answers.at(-1), '429');
    assert.ok(!parserRejected(proxy), 'the connection was read again after the limit');
  } finally {
    client.socket.destroy();
    await proxy.close();
    await upstream.server.close();
  }
});
