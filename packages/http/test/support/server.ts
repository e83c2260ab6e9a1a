/**
 * Real HTTP servers on loopback, OS-chosen ports, for tests. Each counts the requests it served
 * and closes every connection when closed, so the test runner can exit.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ManualClock } from 'breakwater';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Requests received so far, by path (without query), and in all. */
  readonly hits: Map<string, number> & { total: number };
  readonly server: Server;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Starts a `node:http` server running `handler` for every request. */
export function startServer(handler: Handler): Promise<TestServer> {
  const hits = Object.assign(new Map<string, number>(), { total: 0 });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    hits.total++;
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      res.statusCode = 599;
      res.end(String(error));
    });
  });
  return listen(server).then((origin) => ({
    origin,
    hits,
    server,
    close: () => close(server),
  }));
}

/** Listens on 127.0.0.1, port 0; resolves with the origin. */
export function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

/** Closes the server and every connection still open on it. */
export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** A port that refuses connections: bound, then released. */
export async function refusedOrigin(): Promise<string> {
  const server = createServer();
  const origin = await listen(server);
  await close(server);
  return origin;
}

/** Resolves once `predicate` holds, checking after each turn of the event loop (max ~5 s). */
export async function until(predicate: () => boolean, what = 'condition'): Promise<void> {
  for (let i = 0; i < 5_000; i++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Fetches `url`, waits until the request has started its one timer, then moves `clock` past
 * `timeoutMs` and resolves with the response.
 *
 * @example
 * const response = await fetchPastTimeout(clock, `${origin}/slow`, 1_000);
 */
export async function fetchPastTimeout(
  clock: ManualClock,
  url: string,
  timeoutMs: number,
  what = 'the request to arrive',
): Promise<Response> {
  const pending = fetch(url);
  await until(() => clock.pendingTimers === 1, what);
  clock.advance(timeoutMs);
  return pending;
}

/** The stable `error.code` of a JSON error body. */
export async function errorCode(response: Response): Promise<string> {
  return ((await response.json()) as { error: { code: string } }).error.code;
}
