/** Real loopback servers and a tiny HTTP client for proxy tests. No mocks. */
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type RequestListener,
  type RequestOptions,
  request,
  type Server,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import type { Clock } from 'breakwater';
import { type Logger, pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.ts';
import { type RunningProxy, startProxy } from '../../src/proxy.ts';

export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1 with an OS-chosen port. */
export async function startServer(listener: RequestListener): Promise<TestServer> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A loopback port nothing listens on: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  // Not a port the OS picked and we closed: the next `listen(0)` (often this test's own proxy)
  // may be handed it straight back, and a proxy targeting itself loops. Ports below the
  // ephemeral range (32768+ on Linux) are never handed out for port 0, so one found free there
  // stays refused.
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
}

/** Log lines captured from a proxy under test. */
export interface CapturedLogs {
  readonly lines: Record<string, unknown>[];
}

export interface TestProxy extends RunningProxy {
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  readonly logs: CapturedLogs;
}

/**
 * A pino logger at level info whose JSON lines are parsed into `logs.lines`, for asserting on
 * what the proxy logged.
 *
 * @example
 * const { logger, logs } = capturingLogger();
 * const proxy = await startProxy(config, { logger });
 */
export function capturingLogger(): { logger: Logger; logs: CapturedLogs } {
  const logs: CapturedLogs = { lines: [] };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line !== '') logs.lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, sink), logs };
}

/**
 * Starts a proxy in-process from YAML (listen on port 0), capturing its logs; `clock`, when
 * given, drives its breakers, checks and retry budgets.
 */
export async function startTestProxy(
  yaml: string,
  env: Record<string, string> = {},
  clock?: Clock,
): Promise<TestProxy> {
  const { logger, logs } = capturingLogger();
  const proxy = await startProxy(loadConfig(yaml, env), {
    logger,
    ...(clock ? { clock } : {}),
  });
  const first = proxy.proxyAddresses[0]!;
  return {
    ...proxy,
    url: `http://127.0.0.1:${first.port}`,
    port: first.port,
    adminUrl:
      proxy.adminAddress === undefined ? undefined : `http://127.0.0.1:${proxy.adminAddress.port}`,
    logs,
  };
}

export interface SimpleResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface SimpleRequest {
  readonly method?: string;
  readonly headers?: Record<string, string | string[]>;
  readonly body?: string | Buffer;
}

/** One HTTP request on a fresh connection; resolves with the whole response. */
export function httpRequest(url: string, options: SimpleRequest = {}): Promise<SimpleResponse> {
  return sendRequest(
    url,
    { method: options.method ?? 'GET', headers: options.headers, agent: false },
    options.body,
  );
}

/** A sample's value on the proxy's admin /metrics (the line that starts with `sample`), `undefined` when absent. */
export async function metric(proxy: TestProxy, sample: string): Promise<number | undefined> {
  const text = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** Sends one request with node:http `options` (agent included) and reads the whole response. */
export function sendRequest(
  url: string,
  options: RequestOptions,
  body?: string | Buffer,
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Config YAML with one upstream `app` over the given target URLs, routed every request or, with
 * `pathPrefix`, only the paths under it.
 */
export function proxyYaml(targets: readonly string[], extra = '', pathPrefix?: string): string {
  const route =
    pathPrefix === undefined
      ? '  - upstream: app'
      : `  - match: { pathPrefix: ${pathPrefix} }\n    upstream: app`;
  return `
listen: 127.0.0.1:0
upstreams:
  app:
    targets:
${targets.map((url) => `      - url: ${url}`).join('\n')}
routes:
${route}
${extra}`;
}

/** Writes raw bytes on a new TCP connection and resolves with everything read until it closes. */
export function rawExchange(port: number, bytes: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `connection still open after ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString()}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(bytes);
  });
}
