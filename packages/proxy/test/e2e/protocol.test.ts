/**
 * Black-box: HTTP protocol rules at the edge (Host, Expect, refused methods, duplicate request
 * ids), each pinned on the wire: raw bytes in, the proxy's answer and what the upstream saw out.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  httpRequest,
  proxyYaml,
  startServer,
  startTestProxy,
  type TestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { raw } from '../support/raw.ts';

let upstream: TestServer;
let proxy: TestProxy;
// What reached the upstream: `METHOD url host=… id=…`, plain requests and upgrades alike.
let seen: string[] = [];

function record(req: { method?: string; url?: string; headers: Record<string, unknown> }): void {
  seen.push(
    `${req.method} ${req.url} host=${String(req.headers.host)} id=${String(req.headers['x-request-id'])}`,
  );
}

before(async () => {
  upstream = await startServer((req, res) => {
    record(req);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  upstream.server.on('upgrade', (req, socket) => {
    record(req);
    socket.end(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
  });
  proxy = await startTestProxy(
    proxyYaml(
      [upstream.url],
      'limits:\n  maxBodySize: 10\nadmin:\n  listen: 127.0.0.1:0\n  token: tok\nlog:\n  level: silent\n',
    ),
  );
});

after(async () => {
  await proxy.close();
  await upstream.close();
});

beforeEach(() => {
  seen = [];
});

function errorCode(text: string): string | undefined {
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return (JSON.parse(body) as { error: { code: string } }).error.code;
}

describe('Host', () => {
  test('a request with two Host fields is answered 400, closed and not forwarded', async () => {
    const reply = await raw(
      proxy.port,
      'GET / HTTP/1.1\r\nHost: public.example\r\nhost: internal.example\r\n\r\n',
    );
    assert.match(reply.text, /^HTTP\/1\.1 400 /);
    assert.equal(errorCode(reply.text), 'BAD_REQUEST');
    assert.match(reply.text, /connection: close/i);
    assert.equal(reply.closed, true);
    assert.deepEqual(seen, []);
  });

  test('an upgrade request with two Host fields is answered 400 and not forwarded', async () => {
    const reply = await raw(
      proxy.port,
      'GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    assert.match(reply.text, /^HTTP\/1\.1 400 /);
    assert.equal(errorCode(reply.text), 'BAD_REQUEST');
    assert.equal(reply.closed, true);
    assert.deepEqual(seen, []);
  });

  test('an HTTP/1.1 request without Host gets a JSON 400 with a code and a request id', async () => {
    const reply = await raw(proxy.port, 'GET / HTTP/1.1\r\nX-Request-Id: no-host\r\n\r\n');
    assert.match(reply.text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(reply.text, /"code":"BAD_REQUEST"/);
    assert.match(reply.text, /"requestId":"no-host"/);
    assert.equal(reply.closed, true);
    assert.deepEqual(seen, []);
  });

  test('an upgrade request without Host is answered 400', async () => {
    const reply = await raw(
      proxy.port,
      'GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    assert.match(reply.text, /^HTTP\/1\.1 400 /);
    assert.deepEqual(seen, []);
  });

  test('an HTTP/1.0 request without Host is still forwarded', async () => {
    const reply = await raw(proxy.port, 'GET /old HTTP/1.0\r\n\r\n');
    assert.match(reply.text, /^HTTP\/1\.1 200 /);
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /^GET \/old /);
  });
});

test('an absolute-form upgrade reaches the upstream in origin-form with the URI authority as Host', async () => {
  await raw(
    proxy.port,
    'GET http://other.example/ws?q=1 HTTP/1.1\r\nHost: public.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Request-Id: abs\r\n\r\n',
    800,
  );
  assert.deepEqual(seen, ['GET /ws?q=1 host=other.example id=abs']);
});

describe('Expect', () => {
  test('answers 413 to an oversized Expect: 100-continue request without sending 100 Continue', async () => {
    const reply = await raw(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n',
      800,
    );
    assert.match(reply.text, /^HTTP\/1\.1 413 /);
    assert.doesNotMatch(reply.text, /100 Continue/);
    assert.equal(errorCode(reply.text), 'BODY_TOO_LARGE');
    assert.deepEqual(seen, []);
  });

  test('sends 100 Continue to an acceptable request, then forwards its body', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    const done = new Promise<void>((resolve, reject) => {
      socket.on('error', reject);
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.startsWith('HTTP/1.1 100 Continue\r\n\r\n') && !text.includes('HTTP/1.1 200')) {
          socket.write('hello');
        }
        if (/HTTP\/1\.1 200 [\s\S]*\r\n\r\nok$/.test(text)) resolve();
      });
    });
    socket.write(
      'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    try {
      await done;
    } finally {
      socket.destroy();
    }
    assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.equal(seen.length, 1);
  });

  test('answers an expectation other than 100-continue with a JSON 417', async () => {
    const reply = await raw(
      proxy.port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: something-else\r\n\r\nhi',
    );
    assert.match(reply.text, /^HTTP\/1\.1 417 /);
    assert.equal(errorCode(reply.text), 'EXPECTATION_FAILED');
    assert.deepEqual(seen, []);
  });
});

describe('methods', () => {
  test('TRACE is answered 405 with Allow and not forwarded', async () => {
    const response = await httpRequest(`${proxy.url}/trace`, { method: 'TRACE' });
    assert.equal(response.status, 405);
    assert.equal(JSON.parse(response.body).error.code, 'METHOD_NOT_ALLOWED');
    assert.doesNotMatch(String(response.headers.allow), /TRACE|CONNECT/);
    assert.match(String(response.headers.allow), /GET/);
    assert.deepEqual(seen, []);
  });

  test('a TRACE upgrade request is answered 405 and not forwarded', async () => {
    const reply = await raw(
      proxy.port,
      'TRACE /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    assert.match(reply.text, /^HTTP\/1\.1 405 /);
    assert.equal(errorCode(reply.text), 'METHOD_NOT_ALLOWED');
    assert.deepEqual(seen, []);
  });
});

test('of two X-Request-Id fields the first is kept, upstream and in the response', async () => {
  const reply = await raw(
    proxy.port,
    'GET /id HTTP/1.1\r\nHost: a\r\nX-Request-Id: first\r\nx-request-id: second\r\nConnection: close\r\n\r\n',
  );
  assert.match(reply.text, /^HTTP\/1\.1 200 /);
  assert.match(reply.text, /\r\nx-request-id: first\r\n/i);
  assert.deepEqual(seen, ['GET /id host=a id=first']);
});

test('the admin API accepts the bearer scheme in any case', async () => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    const response = await httpRequest(`${proxy.adminUrl}/api/upstreams`, {
      headers: { authorization: `${scheme} tok` },
    });
    assert.equal(response.status, 200, `scheme ${scheme}`);
  }
  const wrong = await httpRequest(`${proxy.adminUrl}/api/upstreams`, {
    headers: { authorization: 'bearertok' },
  });
  assert.equal(wrong.status, 401);
});
