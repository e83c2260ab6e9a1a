import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { framingProblem, hostProblem, versionProblem } from '../../src/http/request-framing.ts';
import {
  proxyYaml,
  rawExchange,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';

describe('framingProblem', () => {
  test('accepts chunked alone and Content-Length alone', () => {
    assert.equal(framingProblem({ 'transfer-encoding': 'chunked' }), undefined);
    assert.equal(framingProblem({ 'transfer-encoding': 'Chunked' }), undefined);
    assert.equal(framingProblem({ 'content-length': '5' }), undefined);
  });

  test('refuses Content-Length together with Transfer-Encoding', () => {
    assert.match(
      framingProblem({ 'transfer-encoding': 'chunked', 'content-length': '5' }) ?? '',
      /both/,
    );
  });

  test('refuses any transfer coding other than chunked', () => {
    assert.match(framingProblem({ 'transfer-encoding': 'gzip, chunked' }) ?? '', /unsupported/);
  });
});

describe('versionProblem', () => {
  const request = (major: number, minor: number, headers: Record<string, string> = {}) => ({
    headers,
    httpVersionMajor: major,
    httpVersionMinor: minor,
  });

  test('refuses Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1) and accepts it on HTTP/1.1', () => {
    assert.match(
      versionProblem(request(1, 0, { 'transfer-encoding': 'chunked' })) ?? '',
      /HTTP\/1\.0/,
    );
    assert.equal(versionProblem(request(1, 1, { 'transfer-encoding': 'chunked' })), undefined);
    assert.equal(versionProblem(request(1, 0, { 'content-length': '5' })), undefined);
  });

  test('refuses a request line claiming HTTP/0.9', () => {
    assert.match(versionProblem(request(0, 9, { host: 'a' })) ?? '', /HTTP\/0\.9/);
  });
});

describe('hostProblem', () => {
  const request = (rawHeaders: string[], minor = 1) => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      headers[rawHeaders[i]!.toLowerCase()] ??= rawHeaders[i + 1]!;
    }
    return { headers, rawHeaders, httpVersionMajor: 1, httpVersionMinor: minor };
  };

  test('accepts exactly one Host field', () => {
    assert.equal(hostProblem(request(['Host', 'a', 'Accept', '*/*'])), undefined);
  });

  test('refuses two Host fields whatever their case', () => {
    assert.match(hostProblem(request(['Host', 'a', 'HOST', 'b'])) ?? '', /more than one Host/);
    assert.match(
      hostProblem(request(['host', 'a', 'Date', 'x', 'hOsT', 'a'])) ?? '',
      /more than one/,
    );
  });

  test('refuses an HTTP/1.1 request without Host, accepts an HTTP/1.0 one', () => {
    assert.match(hostProblem(request(['Accept', '*/*'])) ?? '', /without a Host/);
    assert.equal(hostProblem(request(['Accept', '*/*'], 0)), undefined);
  });
});

describe('request smuggling vectors over raw sockets', () => {
  let upstream: TestServer;
  let proxy: TestProxy;
  let upstreamSaw = 0;

  before(async () => {
    upstream = await startServer((req, res) => {
      upstreamSaw++;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    proxy = await startTestProxy(proxyYaml([upstream.url]));
  });

  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  const vectors: [string, string][] = [
    [
      'Content-Length with Transfer-Encoding',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'duplicate Content-Length',
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    ],
    ['Content-Length "1, 2"', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nabc'],
    ['Content-Length "abc"', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc'],
    [
      'Transfer-Encoding "gzip"',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc',
    ],
    [
      'Transfer-Encoding "chunked, identity"',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ],
    [
      'Transfer-Encoding "gzip, chunked"',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ],
    [
      'two Transfer-Encoding headers',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    ],
  ];

  for (const [name, bytes] of vectors) {
    test(`answers 400 and closes the connection for ${name}, never forwarding it`, async () => {
      const before = upstreamSaw;
      // A second request pipelined behind the bad one must not be served either.
      const response = await rawExchange(
        proxy.port,
        `${bytes}GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      assert.match(response, /^HTTP\/1\.1 400 /);
      assert.match(response, /connection: close/i);
      assert.match(response, /"code":"BAD_REQUEST"/);
      assert.equal(response.match(/HTTP\/1\.1 /g)?.length, 1);
      assert.equal(upstreamSaw, before);
    });
  }

  test('still forwards a well-framed chunked request', async () => {
    const response = await rawExchange(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /ok/);
    // The exchange is over once the client has the whole response, even on a closed connection.
    assert.equal(proxy.forwarder.inFlight, 0);
  });
});
