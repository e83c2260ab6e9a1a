import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { connect, createServer as createH2Server } from 'node:http2';
import { type AddressInfo, connect as connectTcp } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { acceptH2cPriorKnowledge } from '../../src/request/h2c-sniffer.ts';

describe('acceptH2cPriorKnowledge', () => {
  const handle = (req: { httpVersion: string }, res: { end(body: string): void }) =>
    res.end(`over ${req.httpVersion}`);
  const h1 = createServer({ headersTimeout: 300, connectionsCheckingInterval: 100 }, handle);
  const h2 = createH2Server({}, handle);
  const closeSessions = acceptH2cPriorKnowledge(h1, h2, 300);
  let port = 0;
  before(async () => {
    h1.listen(0, '127.0.0.1');
    await once(h1, 'listening');
    port = (h1.address() as AddressInfo).port;
  });
  after(() => {
    closeSessions();
    h1.close();
    h1.closeAllConnections();
  });

  test('a client with prior knowledge speaks HTTP/2 on the plain port', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ':path': '/' });
      stream.setEncoding('utf8');
      let body = '';
      for await (const chunk of stream) body += chunk;
      assert.equal(body, 'over 2.0');
    } finally {
      session.close();
    }
  });

  test('an HTTP/1.1 client on the same port is served as before', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      request({ port, host: '127.0.0.1', agent: false }, (res) => {
        res.setEncoding('utf8');
        let text = '';
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(body, 'over 1.1');
  });

  test('a request split before the preface length is still told apart', async () => {
    const socket = connectTcp(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GE');
    await new Promise((r) => setTimeout(r, 20));
    socket.write('T / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 200 OK[\s\S]*over 1\.1$/);
  });

  test('a client that sends nothing is closed after headersTimeout', async () => {
    const socket = connectTcp(port, '127.0.0.1');
    const started = performance.now();
    await once(socket, 'close');
    const waited = performance.now() - started;
    assert.ok(waited >= 250 && waited < 2_000, `closed after ${Math.round(waited)} ms`);
  });

  test('the HTTP/1.1 server still enforces its own timeouts after the sniff', async () => {
    const socket = connectTcp(port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // never finishes its head
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(socket, 'close');
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 408/);
  });
});
