/**
 * Small real servers (HTTP and raw TCP) on OS-chosen loopback ports: counting ones for
 * health-check tests, and a raw TCP server for wire-level upstreams.
 */
import { once } from 'node:events';
import type { RequestListener } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { closedPort, startServer } from './proxy-harness.ts';

/** A running test server: its URL, how many requests/connections it saw, and `close()`. */
export interface CountingServer {
  readonly url: string;
  readonly port: number;
  hits(): number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that counts requests. */
export async function httpServer(listener: RequestListener): Promise<CountingServer> {
  let hits = 0;
  const server = await startServer((req, res) => {
    hits++;
    listener(req, res);
  });
  return { url: server.url, port: server.port, hits: () => hits, close: server.close };
}

/** A TCP server on 127.0.0.1 that counts connections and closes each one. */
export async function tcpServer(): Promise<CountingServer> {
  let hits = 0;
  const server = await startTcpServer((socket) => {
    hits++;
    socket.end();
  });
  return { url: server.url, port: server.port, hits: () => hits, close: server.close };
}

/** A running raw TCP server; `close()` destroys the connections still open. */
export interface TcpTestServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 with an OS-chosen port that hands each connection to `onSocket`.
 *
 * @example
 * const upstream = await startTcpServer((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\n'));
 */
export async function startTcpServer(onSocket: (socket: Socket) => void): Promise<TcpTestServer> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The URL of a port that was open a moment ago and is now closed: connecting is refused. */
export async function closedPortUrl(): Promise<string> {
  return `http://127.0.0.1:${await closedPort()}`;
}

/**
 * Resolves with the payload of the next `name` event (default `'check'`) from an `on` function,
 * one macrotask later, so work the emitter chains after the event (rescheduling) has run.
 */
export function nextEvent<N extends string, P>(
  on: (name: N, listener: (payload: P) => void) => () => void,
  name: N = 'check' as N,
): Promise<P> {
  return new Promise((resolve) => {
    const unsubscribe = on(name, (payload) => {
      unsubscribe();
      setImmediate(() => resolve(payload));
    });
  });
}

/**
 * Waits until `condition` (which may ask the proxy over HTTP) holds, checking every 20 ms; fails
 * naming `what` after `ms`.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 30_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lets I/O run until `condition` holds; fails instead of hanging when it never does. */
export async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
