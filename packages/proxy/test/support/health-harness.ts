/**
 * Helpers for health and failover tests: a proxy started with an injectable clock, attempt
 * counting per target, a keep-alive client, and an HTTP server that can stop and start again on
 * the same port.
 */
import { once } from 'node:events';
import { Agent, createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Clock } from 'breakwater';
import {
  type SimpleResponse,
  sendRequest,
  startTestProxy,
  type TestProxy,
} from './proxy-harness.ts';

/** Starts a proxy from YAML with `clock` driving breakers, checks and retry budgets. */
export function startClockedProxy(yaml: string, clock?: Clock): Promise<TestProxy> {
  return startTestProxy(yaml, {}, clock);
}

/** Counts attempts per target URL (every try, retries included) as the forwarder reports them. */
export function countAttempts(proxy: TestProxy): Map<string, number> {
  const counts = new Map<string, number>();
  proxy.forwarder.onAttempt((_pool, target) => {
    counts.set(target.id, (counts.get(target.id) ?? 0) + 1);
  });
  return counts;
}

/** A keep-alive client with at most `sockets` connections. */
export function keepAliveClient(sockets: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  return {
    get(url: string, method = 'GET', body?: string): Promise<SimpleResponse> {
      return sendRequest(url, { method, agent }, body);
    },
    close: () => agent.destroy(),
  };
}

/** An HTTP server on 127.0.0.1 that can be stopped and started again on the same port. */
export interface RestartableServer {
  readonly url: string;
  readonly port: number;
  /** Requests received since the start. */
  hits(): number;
  /** Closes the listener and every connection (in-flight requests are reset). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

export async function restartableServer(
  listener: RequestListener,
  port = 0,
): Promise<RestartableServer> {
  let hits = 0;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const listen = async (at: number): Promise<number> => {
    const next = createServer((req, res) => {
      hits++;
      listener(req, res);
    });
    next.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    next.listen(at, '127.0.0.1');
    await once(next, 'listening');
    server = next;
    return (next.address() as AddressInfo).port;
  };
  const bound = await listen(port);
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    hits: () => hits,
    stop: () =>
      new Promise((resolve) => {
        const current = server;
        server = undefined;
        if (current === undefined) return resolve();
        current.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
    restart: async () => {
      if (server === undefined) await listen(bound);
    },
  };
}

/** GETs a JSON document. */
export async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  return (await response.json()) as T;
}
