/**
 * Black-box: header rewriting in both directions (RFC 9110 §7.6), observed from a real
 * client and a real upstream.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  httpRequest,
  proxyYaml,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { startTcpServer, type TcpTestServer } from '../support/servers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Sends raw request bytes and returns the response head lines (lower-cased names). */
function rawHead(port: number, bytes: string): Promise<{ status: string; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no response head'));
    }, 3_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      const [status = '', ...lines] = text.slice(0, end).split('\r\n');
      resolve({ status, lines });
    });
    socket.on('error', reject);
    socket.write(bytes);
  });
}

describe('request headers sent upstream', () => {
  let upstream: TestServer;
  let proxy: TestProxy;
  let seen: { headers: IncomingHttpHeaders; raw: string[] } | undefined;

  before(async () => {
    upstream = await startServer((req, res) => {
      seen = { headers: req.headers, raw: req.rawHeaders };
      res.end('ok');
    });
    proxy = await startTestProxy(proxyYaml([upstream.url], 'log:\n  level: silent\n'));
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('strips hop-by-hop headers and every header the client named in Connection', async () => {
    await rawHead(
      proxy.port,
      'GET /h HTTP/1.1\r\nHost: app.example\r\nConnection: keep-alive, X-Hop-One, x-hop-two\r\n' +
        'X-Hop-One: 1\r\nX-Hop-Two: 2\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
        'TE: gzip\r\nTrailer: X-Checksum\r\nUpgrade: foo/1\r\nX-End-To-End: kept\r\n\r\n',
    );
    const headers = seen?.headers ?? {};
    for (const name of [
      'x-hop-one',
      'x-hop-two',
      'keep-alive',
      'proxy-connection',
      'te',
      'trailer',
      'upgrade',
    ]) {
      assert.equal(headers[name], undefined, `${name} must not reach the upstream`);
    }
    // A Connection header upstream may exist (undici's own keep-alive), but must not carry ours.
    assert.doesNotMatch(String(headers.connection ?? ''), /x-hop/i);
    assert.equal(headers['x-end-to-end'], 'kept');
  });

  test('passes TE: trailers on and nothing else of TE', async () => {
    await rawHead(
      proxy.port,
      'GET /te HTTP/1.1\r\nHost: a\r\nTE: deflate;q=0.5, trailers\r\nConnection: TE\r\n\r\n',
    );
    assert.equal(seen?.headers.te, 'trailers');
  });

  test('replaces an X-Forwarded-For chain from an untrusted client (both header lines)', async () => {
    await rawHead(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9, 198.51.100.2\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n',
    );
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    const xffLines = (seen?.raw ?? []).filter((_v, i, all) =>
      i % 2 === 0 ? /^x-forwarded-for$/i.test(all[i] ?? '') : false,
    );
    assert.equal(xffLines.length, 1, 'one X-Forwarded-For line upstream');
  });

  test('sets X-Forwarded-For, -Proto and -Host when the client sent none', async () => {
    await httpRequest(`${proxy.url}/`, { headers: { host: 'shop.example:8443' } });
    assert.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
    assert.equal(seen?.headers['x-forwarded-host'], 'shop.example:8443');
  });

  test('replaces a client-supplied X-Forwarded-Proto rather than trusting it', async () => {
    await httpRequest(`${proxy.url}/`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(seen?.headers['x-forwarded-proto'], 'http');
  });

  test('appends to Via', async () => {
    await httpRequest(`${proxy.url}/`, { headers: { via: '1.0 fred, 1.1 p.example' } });
    assert.match(
      String(seen?.headers.via),
      /^1\.0 fred, 1\.1 p\.example, 1\.1 breakwater \([0-9a-f]{8}\)$/,
    );
  });

  test("keeps the client's Host by default", async () => {
    await httpRequest(`${proxy.url}/`, { headers: { host: 'api.example.com' } });
    assert.equal(seen?.headers.host, 'api.example.com');
  });

  test('adds a generated X-Request-Id, sends the same id upstream and returns it', async () => {
    const response = await httpRequest(`${proxy.url}/`);
    const id = response.headers['x-request-id'];
    assert.match(String(id), UUID);
    assert.equal(seen?.headers['x-request-id'], id);
    const second = await httpRequest(`${proxy.url}/`);
    assert.notEqual(second.headers['x-request-id'], id, 'ids are unique per request');
  });

  test("keeps the client's X-Request-Id and returns it", async () => {
    const response = await httpRequest(`${proxy.url}/`, {
      headers: { 'x-request-id': 'trace-abc-123' },
    });
    assert.equal(seen?.headers['x-request-id'], 'trace-abc-123');
    assert.equal(response.headers['x-request-id'], 'trace-abc-123');
  });
});

describe('preserveHost: false', () => {
  test("sends the target's host:port as Host and keeps the client's in X-Forwarded-Host", async () => {
    let host: string | undefined;
    let forwardedHost: string | string[] | undefined;
    const upstream = await startServer((req, res) => {
      host = req.headers.host;
      forwardedHost = req.headers['x-forwarded-host'];
      res.end('ok');
    });
    const proxy = await startTestProxy(
      proxyYaml([upstream.url], 'preserveHost: false\nlog:\n  level: silent\n'),
    );
    try {
      await httpRequest(`${proxy.url}/`, { headers: { host: 'public.example' } });
      assert.equal(host, `127.0.0.1:${upstream.port}`);
      assert.equal(forwardedHost, 'public.example');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('response headers sent to the client', () => {
  let upstream: TcpTestServer;
  let proxy: TestProxy;

  before(async () => {
    // A raw upstream so header names arrive in odd case, exactly as written.
    upstream = await startTcpServer((socket) => {
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        if (!buffered.includes('\r\n\r\n')) return;
        buffered = '';
        const body = 'hello';
        socket.write(
          'HTTP/1.1 200 OK\r\n' +
            'CONNECTION: X-Secret-Hop, Keep-Alive\r\n' +
            'X-SECRET-HOP: leaked\r\n' +
            'Keep-Alive: timeout=5, max=100\r\n' +
            'Proxy-Connection: keep-alive\r\n' +
            'Upgrade: foo/2\r\n' +
            'Trailer: X-Checksum\r\n' +
            'Via: 1.1 backend\r\n' +
            'Set-Cookie: a=1; Path=/\r\n' +
            'Set-Cookie: b=2; Path=/\r\n' +
            'X-Upstream: yes\r\n' +
            `Content-Length: ${body.length}\r\n\r\n${body}`,
        );
      });
    });
    proxy = await startTestProxy(proxyYaml([upstream.url], 'log:\n  level: silent\n'));
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  test('strips hop-by-hop response headers, including ones named in Connection in any case', async () => {
    const response = await httpRequest(`${proxy.url}/`);
    assert.equal(response.status, 200);
    assert.equal(response.body, 'hello');
    for (const name of ['x-secret-hop', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer']) {
      assert.equal(response.headers[name], undefined, `${name} must not reach the client`);
    }
    assert.equal(response.headers['x-upstream'], 'yes');
  });

  test('appends to the upstream Via, keeps every Set-Cookie and returns X-Request-Id', async () => {
    const response = await httpRequest(`${proxy.url}/`, { headers: { 'x-request-id': 'rid-1' } });
    assert.match(String(response.headers.via), /^1\.1 backend, 1\.1 breakwater \([0-9a-f]{8}\)$/);
    assert.deepEqual(response.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
    assert.equal(response.headers['x-request-id'], 'rid-1');
  });
});

describe('header names with underscores (underscoresInHeaders, as nginx)', () => {
  const send = async (setting: string) => {
    let seen: IncomingHttpHeaders | undefined;
    const upstream = await startServer((req, res) => {
      seen = req.headers;
      res.end('ok');
    });
    const proxy = await startTestProxy(
      proxyYaml([upstream.url], `log:\n  level: silent\n${setting}`),
    );
    try {
      const response = await httpRequest(proxy.url, {
        headers: { x_user_id: '7', 'x-user-role': 'reader' },
      });
      return { status: response.status, seen };
    } finally {
      await proxy.close();
      await upstream.close();
    }
  };

  test('drops them by default, forwarding the rest', async () => {
    const { status, seen } = await send('');
    assert.equal(status, 200);
    assert.equal(seen?.x_user_id, undefined);
    assert.equal(seen?.['x-user-role'], 'reader');
  });

  test('forwards them with underscoresInHeaders: forward', async () => {
    const { status, seen } = await send('underscoresInHeaders: forward\n');
    assert.equal(status, 200);
    assert.equal(seen?.x_user_id, '7');
  });

  test('refuses the request with 400 and forwards nothing with underscoresInHeaders: refuse', async () => {
    const { status, seen } = await send('underscoresInHeaders: refuse\n');
    assert.equal(status, 400);
    assert.equal(seen, undefined);
  });
});
