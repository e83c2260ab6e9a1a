/**
 * Black-box: the streaming path. Truncated upstream bodies must never look complete,
 * aborts propagate both ways, connections are reused, pipelining and bodiless responses keep
 * framing intact, and large bodies pass without being buffered.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { httpRequest, proxyYaml, startServer, startTestProxy } from '../support/proxy-harness.ts';
import { pumpBody } from '../support/pump.ts';
import { raw } from '../support/raw.ts';
import { startTcpServer, until } from '../support/servers.ts';

const SILENT = 'log:\n  level: silent\n';

/** A raw upstream: `answer` writes whatever bytes it likes for each request head received. */
function rawUpstream(answer: (socket: Socket, head: string) => void) {
  return startTcpServer((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let end = buffered.indexOf('\r\n\r\n');
      while (end >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        answer(socket, head);
        end = buffered.indexOf('\r\n\r\n');
      }
    });
  });
}

describe('truncated upstream responses', () => {
  test('an upstream that closes before its Content-Length is reached breaks the client connection', async () => {
    const upstream = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      socket.end('x'.repeat(400));
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await new Promise<{ complete: boolean; bytes: number }>((resolve) => {
        const req = request(`${proxy.url}/`, { agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on('error', () => {});
          res.on('close', () => resolve({ complete: res.complete, bytes }));
        });
        req.on('error', () => resolve({ complete: false, bytes: -1 }));
        req.end();
      });
      assert.equal(result.complete, false, 'a truncated body must not look complete');
      assert.ok(result.bytes < 1000);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('an upstream chunked body cut before its last chunk never reaches the client as complete', async () => {
    const upstream = await rawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      setTimeout(() => socket.destroy(), 50);
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await raw(proxy.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 3_000);
      assert.match(result.text, /^HTTP\/1\.1 200 /);
      assert.equal(result.closed, true, 'client connection must be closed');
      assert.equal(result.text.endsWith('0\r\n\r\n'), false, 'no terminating chunk');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('client aborts', () => {
  test('a client leaving mid-download aborts the upstream response, and the proxy keeps serving', async () => {
    const { promise: closed, resolve: upstreamClosed } = Promise.withResolvers<void>();
    let timer: NodeJS.Timeout | undefined;
    const upstream = await startServer((req, res) => {
      if (req.url === '/ok') {
        res.end('ok');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      timer = setInterval(() => res.write(Buffer.alloc(16_384)), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed();
      });
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      await new Promise<void>((resolve) => {
        const req = request(`${proxy.url}/stream`, { agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
        req.end();
      });
      await closed;
      assert.equal((await httpRequest(`${proxy.url}/ok`)).body, 'ok');
    } finally {
      clearInterval(timer);
      await proxy.close();
      await upstream.close();
    }
  });

  test('a client leaving mid-upload aborts the upstream request without it looking complete', async () => {
    const outcome: string[] = [];
    const { promise: done, resolve: settled } = Promise.withResolvers<void>();
    const upstream = await startServer((req, res) => {
      if (req.url === '/ok') {
        res.end('ok');
        return;
      }
      req.on('data', () => {});
      req.on('error', () => {});
      req.on('end', () => {
        outcome.push('complete');
        res.end();
        settled();
      });
      req.on('aborted', () => {
        outcome.push('aborted');
        settled();
      });
      req.on('close', () => settled());
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const socket = connect(proxy.port, '127.0.0.1');
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write('POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n');
      socket.write(Buffer.alloc(100_000));
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.destroy();
      await done;
      assert.deepEqual(outcome.includes('complete'), false, `outcome: ${outcome.join(',')}`);
      assert.equal((await httpRequest(`${proxy.url}/ok`)).body, 'ok');
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('connections and framing', () => {
  test('reuses upstream keep-alive connections across sequential requests', async () => {
    let connections = 0;
    const upstream = await startServer((_req, res) => res.end('ok'));
    upstream.server.on('connection', () => connections++);
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      for (let i = 0; i < 20; i++) assert.equal((await httpRequest(`${proxy.url}/`)).body, 'ok');
      assert.ok(connections <= 2, `expected reuse, saw ${connections} upstream connections`);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('answers pipelined requests on one client connection in order', async () => {
    const upstream = await startServer((req, res) => {
      // Answer out of order in time, so ordering is the proxy's job.
      const delay = req.url === '/1' ? 150 : 0;
      setTimeout(() => res.end(`body${req.url}`), delay);
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await raw(
        proxy.port,
        'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        3_000,
      );
      const bodies = result.text.match(/body\/\d/g);
      assert.deepEqual(bodies, ['body/1', 'body/2', 'body/3']);
      assert.equal(result.text.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('HEAD, 204 and 304 responses carry no body and keep the connection framed', async () => {
    const upstream = await startServer((req, res) => {
      if (req.url === '/head') {
        res.writeHead(200, { 'content-length': '123', 'content-type': 'text/plain' });
        res.end();
      } else if (req.url === '/204') {
        res.writeHead(204);
        res.end();
      } else if (req.url === '/304') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
      } else res.end('last');
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const result = await raw(
        proxy.port,
        'HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n' +
          'GET /204 HTTP/1.1\r\nHost: a\r\n\r\n' +
          'GET /304 HTTP/1.1\r\nHost: a\r\nIf-None-Match: "v1"\r\n\r\n' +
          'GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        3_000,
      );
      const responses = result.text.split(/(?=HTTP\/1\.1 \d{3} )/);
      assert.equal(responses.length, 4, result.text);
      assert.match(
        responses[0] ?? '',
        /^HTTP\/1\.1 200 [\s\S]*content-length: 123\r\n[\s\S]*\r\n\r\n$/i,
      );
      assert.match(responses[1] ?? '', /^HTTP\/1\.1 204 [\s\S]*\r\n\r\n$/);
      assert.doesNotMatch(responses[1] ?? '', /transfer-encoding|content-length: [1-9]/i);
      assert.match(responses[2] ?? '', /^HTTP\/1\.1 304 [\s\S]*etag: "v1"[\s\S]*\r\n\r\n$/i);
      assert.doesNotMatch(responses[2] ?? '', /transfer-encoding/i);
      assert.match(responses[3] ?? '', /^HTTP\/1\.1 200 [\s\S]*\r\n\r\nlast$/);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('Expect: 100-continue gets 100 Continue and the body reaches the upstream', async () => {
    const upstream = await startServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.end(`got:${Buffer.concat(chunks).toString()}`));
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    try {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(proxy.port, '127.0.0.1');
        let buffered = '';
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no final response; got ${buffered}`));
        }, 3_000);
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('latin1');
          if (
            buffered.startsWith('HTTP/1.1 100') &&
            buffered.endsWith('\r\n\r\n') &&
            !buffered.includes('got:')
          ) {
            socket.write('hello');
          }
          if (buffered.includes('got:hello')) {
            clearTimeout(timer);
            socket.destroy();
            resolve(buffered);
          }
        });
        socket.write(
          'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
        );
      });
      assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('interactive uploads', () => {
  test('a chunked PUT whose client waits for the answer before sending more reaches the upstream at once', async () => {
    // The upstream answers after the first chunk, as a live stream or a gRPC-web-like protocol
    // would; the client sends nothing more until it has that answer. Reading the body ahead
    // (for a replay, PUT being retryable) would hold the request back from the upstream forever.
    const upstream = await startServer((req, res) => {
      req.once('data', (chunk: Buffer) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write(`got ${chunk.toString()}\n`);
        req.on('end', () => res.end('bye\n'));
      });
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    const socket = connect(proxy.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.write(
        'PUT /live HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
      );
      await until(() => answer.includes('got hello'), 'the answer to the first chunk');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      socket.write('0\r\n\r\n');
      await until(() => answer.includes('bye'), 'the end of the answer');
    } finally {
      socket.destroy();
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('backpressure (nothing is buffered whole)', () => {
  test('an upstream that stops reading stalls the client upload after a few MB', async () => {
    let resumeUpstream: () => void = () => {};
    const upstream = await startServer((req, res) => {
      req.pause();
      resumeUpstream = () => {
        req.resume();
        req.on('end', () => res.end('done'));
      };
    });
    const proxy = await startTestProxy(proxyYaml([upstream.url], SILENT));
    const total = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    let sent = () => 0;
    try {
      const finished = new Promise<string>((resolve, reject) => {
        const req = request(
          `${proxy.url}/`,
          { method: 'POST', agent: false, headers: { 'content-length': String(total) } },
          (res) => {
            let body = '';
            res.on('data', (data: Buffer) => {
              body += data.toString();
            });
            res.on('end', () => resolve(body));
          },
        );
        req.on('error', reject);
        sent = pumpBody(req, total, chunk);
      });
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.ok(sent() < 48 * 1024 * 1024, `client pushed ${sent()} bytes into a stalled upstream`);
      resumeUpstream();
      assert.equal(await finished, 'done');
      assert.equal(sent(), total);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  // With spilling on (the default) the download goes to a temp file instead: response-spill.test.ts.
  test('with responseSpill off, a client that stops reading stalls the upstream download after a few MB', async () => {
    const total = 200 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    let produced = () => 0;
    const upstream = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      produced = pumpBody(res, total, chunk);
    });
    const proxy = await startTestProxy(
      proxyYaml([upstream.url], `${SILENT}limits: { responseSpill: false }\n`),
    );
    try {
      const received = await new Promise<number>((resolve, reject) => {
        const req = request(`${proxy.url}/`, { agent: false }, (res) => {
          res.pause();
          setTimeout(() => {
            try {
              assert.ok(
                produced() < 48 * 1024 * 1024,
                `upstream pushed ${produced()} bytes to a paused client`,
              );
            } catch (error) {
              reject(error);
            }
            let bytes = 0;
            res.on('data', (data: Buffer) => {
              bytes += data.length;
            });
            res.on('end', () => resolve(bytes));
            res.resume();
          }, 800);
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(received, total);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});

describe('timeouts.response bounds the upstream, not a slow client', () => {
  const config = (url: string) => `
listen: 127.0.0.1:0
upstreams:
  app:
    targets: [{ url: ${url} }]
    timeouts: { response: 1s }
routes:
  - upstream: app
${SILENT}`;

  test('a client that pauses its download longer than timeouts.response still gets the whole body', async () => {
    const total = 20 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024);
    const upstream = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      pumpBody(res, total, chunk);
    });
    const proxy = await startTestProxy(config(upstream.url));
    try {
      const result = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
        const req = request(`${proxy.url}/`, { agent: false }, (res) => {
          res.pause();
          setTimeout(() => {
            let bytes = 0;
            res.on('data', (data: Buffer) => {
              bytes += data.length;
            });
            res.on('close', () => resolve({ bytes, complete: res.complete }));
            res.resume();
          }, 2_500);
        });
        req.on('error', reject);
        req.end();
      });
      assert.deepEqual(result, { bytes: total, complete: true });
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });

  test('an upload slower than timeouts.response is not cut while it keeps flowing', async () => {
    const upstream = await startServer((req, res) => {
      let bytes = 0;
      req.on('data', (data: Buffer) => {
        bytes += data.length;
      });
      req.on('end', () => res.end(`got ${bytes}`));
    });
    const proxy = await startTestProxy(config(upstream.url));
    let timer: NodeJS.Timeout | undefined;
    try {
      const parts = 25;
      const size = 64 * 1024;
      const body = await new Promise<string>((resolve, reject) => {
        const req = request(
          `${proxy.url}/`,
          { method: 'POST', agent: false, headers: { 'content-length': String(parts * size) } },
          (res) => {
            let text = '';
            res.on('data', (data: Buffer) => {
              text += data.toString();
            });
            res.on('end', () => resolve(`${res.statusCode} ${text}`));
          },
        );
        req.on('error', reject);
        let sent = 0;
        timer = setInterval(() => {
          req.write(Buffer.alloc(size));
          if (++sent === parts) {
            clearInterval(timer);
            req.end();
          }
        }, 100);
      });
      assert.equal(body, `200 got ${parts * size}`);
    } finally {
      clearInterval(timer);
      await proxy.close();
      await upstream.close();
    }
  });
});
