import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { CLOSE_DEADLINE_MS, endWithDeadline } from '../../src/http/close-deadline.ts';

/** A loopback connection: the server's side (answered here) and the client's. */
async function connection(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return { server, client, close: () => listener.close() };
}

/** Whether `socket` closes within `ms`: a regression fails the test instead of hanging it. */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

test('answers, ends, and destroys the socket of a client that does not close in time', async () => {
  const { server, client, close } = await connection();
  try {
    // The client reads the answer but never ends its side: the half-open socket would stay.
    client.allowHalfOpen = true;
    let received = '';
    client.on('data', (chunk: Buffer) => {
      received += chunk.toString();
    });
    const began = performance.now();
    endWithDeadline(server, 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    assert.ok(await closesWithin(server, CLOSE_DEADLINE_MS + 1_000), 'the socket stayed open');
    const waited = performance.now() - began;
    assert.match(received, /^HTTP\/1\.1 400/);
    assert.ok(waited >= CLOSE_DEADLINE_MS - 50, `destroyed after ${waited} ms`);
  } finally {
    server.destroy();
    client.destroy();
    close();
  }
});

test('a client that closes at once leaves nothing to wait for', async () => {
  const { server, client, close } = await connection();
  try {
    client.resume();
    const began = performance.now();
    endWithDeadline(server, 'HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n');
    assert.ok(await closesWithin(server, CLOSE_DEADLINE_MS), 'the socket waited for the deadline');
    assert.ok(performance.now() - began < CLOSE_DEADLINE_MS);
  } finally {
    server.destroy();
    client.destroy();
    close();
  }
});
