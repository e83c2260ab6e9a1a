/**
 * Black-box: request framing and request-target attacks sent as raw bytes. Every
 * vector must be answered 400 with the connection closed and nothing reaching the upstream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  proxyYaml,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { raw } from '../support/raw.ts';
import { startTcpServer, type TcpTestServer } from '../support/servers.ts';

/** Long enough that a vector the proxy wrongly accepts shows as a connection left open. */
const RAW_QUIET_MS = 3_000;

function statusLine(text: string): string {
  return text.split('\r\n', 1)[0] ?? '';
}

function jsonBody(text: string): { error: { code: string; requestId?: string } } {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
}

describe('request smuggling vectors', () => {
  let upstream: TestServer;
  let proxy: TestProxy;
  const received: string[] = [];

  before(async () => {
    upstream = await startServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
        res.end('ok');
      });
    });
    proxy = await startTestProxy(proxyYaml([upstream.url], 'log:\n  level: silent\n'));
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  const vectors: Record<string, string> = {
    'Content-Length and Transfer-Encoding together':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'Transfer-Encoding before Content-Length':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'duplicate Content-Length with the same value':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
    'duplicate Content-Length with different values':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'a Content-Length list': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello',
    "Content-Length with a leading '+'":
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello',
    'a negative Content-Length': 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nhello',
    'a hexadecimal Content-Length':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello',
    'Transfer-Encoding: xchunked':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'Transfer-Encoding: chunked, identity':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'Transfer-Encoding: identity, chunked':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'Transfer-Encoding: gzip, chunked':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'Transfer-Encoding on two lines':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'whitespace before the colon of Transfer-Encoding':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'an obs-folded header': 'GET / HTTP/1.1\r\nHost: a\r\nX-Foo: bar\r\n baz\r\n\r\n',
    'an obs-folded Transfer-Encoding':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'an HTTP/2 prior-knowledge preface (h2c)': 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'bare LF line endings': 'GET / HTTP/1.1\nHost: a\n\n',
    'Content_Length, a look-alike of Content-Length':
      'POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    'Transfer_Encoding, a look-alike of Transfer-Encoding':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\nhello',
    'Transfer---Encoding, a look-alike with repeated dashes':
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer---Encoding: chunked\r\n\r\nhello',
    'Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1)':
      'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    'a request line claiming HTTP/0.9, with header fields': 'GET / HTTP/0.9\r\nHost: a\r\n\r\n',
    'a chunk size line ended by bare LF':
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n',
  };

  // Vectors whose head is sound and whose chunked body breaks: the request was admitted and its
  // body is found malformed on the way (the upstream request, if begun, is aborted).
  const malformedBodies = new Set(['a chunk size line ended by bare LF']);

  for (const [name, bytes] of Object.entries(vectors)) {
    test(`answers 400 JSON, closes and forwards nothing for ${name}`, async () => {
      received.length = 0;
      const result = await raw(proxy.port, bytes, RAW_QUIET_MS);
      assert.equal(statusLine(result.text), 'HTTP/1.1 400 Bad Request');
      const code = malformedBodies.has(name) ? 'MALFORMED_BODY' : 'BAD_REQUEST';
      assert.equal(jsonBody(result.text).error.code, code);
      assert.equal(result.closed, true, 'connection must be closed after a framing error');
      assert.deepEqual(received, []);
    });
  }

  test('answers 400 to an asterisk-form target without forwarding it', async () => {
    received.length = 0;
    const result = await raw(
      proxy.port,
      'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      RAW_QUIET_MS,
    );
    assert.equal(statusLine(result.text), 'HTTP/1.1 400 Bad Request');
    assert.equal(jsonBody(result.text).error.code, 'BAD_REQUEST');
    assert.deepEqual(received, []);
  });

  test('forwards a well-formed chunked body (with a chunk extension) intact', async () => {
    received.length = 0;
    const result = await raw(
      proxy.port,
      'POST /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n',
      RAW_QUIET_MS,
    );
    assert.equal(statusLine(result.text), 'HTTP/1.1 200 OK');
    assert.deepEqual(received, ['POST /ok hello']);
  });
});

describe('no open proxying', () => {
  let upstream: TestServer;
  let elsewhere: TestServer;
  let tcpElsewhere: TcpTestServer;
  let tcpConnections = 0;
  let proxy: TestProxy;
  const upstreamSaw: string[] = [];
  let elsewhereHits = 0;

  before(async () => {
    upstream = await startServer((req, res) => {
      upstreamSaw.push(`${req.url} host=${req.headers.host}`);
      res.end('configured');
    });
    elsewhere = await startServer((_req, res) => {
      elsewhereHits++;
      res.end('elsewhere');
    });
    tcpElsewhere = await startTcpServer((socket) => {
      tcpConnections++;
      socket.destroy();
    });
    proxy = await startTestProxy(proxyYaml([upstream.url], 'log:\n  level: silent\n'));
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
    await elsewhere.close();
    await tcpElsewhere.close();
  });

  test('an absolute-form request for another host goes to the configured upstream only', async () => {
    upstreamSaw.length = 0;
    const result = await raw(
      proxy.port,
      `GET ${elsewhere.url}/steal?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
      RAW_QUIET_MS,
    );
    assert.equal(statusLine(result.text), 'HTTP/1.1 200 OK');
    assert.match(result.text, /configured$/);
    assert.equal(elsewhereHits, 0);
    // Origin-form upstream, authority of the absolute URI as Host (RFC 9112 §3.2.2).
    assert.deepEqual(upstreamSaw, [`/steal?x=1 host=127.0.0.1:${elsewhere.port}`]);
  });

  test('CONNECT to an arbitrary host gets a JSON 405 with Allow and is never tunnelled', async () => {
    const { port } = tcpElsewhere;
    upstreamSaw.length = 0;
    const result = await raw(
      proxy.port,
      `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
      RAW_QUIET_MS,
    );
    assert.equal(statusLine(result.text), 'HTTP/1.1 405 Method Not Allowed');
    assert.equal(jsonBody(result.text).error.code, 'METHOD_NOT_ALLOWED');
    assert.match(result.text, /\r\nallow: /i);
    assert.equal(result.closed, true);
    assert.equal(tcpConnections, 0);
    assert.deepEqual(upstreamSaw, [], 'nothing reached the upstream');
  });

  test('an absolute-form WebSocket upgrade for another host does not reach that host', async () => {
    const result = await raw(
      proxy.port,
      `GET ${elsewhere.url}/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      2_000,
    );
    assert.equal(elsewhereHits, 0);
    assert.ok(result.text.length > 0, 'the client gets an answer');
  });
});
