/**
 * The proxy's listeners, one per `listen` entry: plain HTTP/1.1 (with HTTP/2 by prior knowledge
 * beside it when `h2c` is set); HTTPS with HTTP/2 and HTTP/1.1 on one port (ALPN), certificates
 * picked by SNI and followed on disk; or a plain listener that only redirects to HTTPS. Each hands requests to the same handlers, so an HTTP/2 request goes
 * through the same admission, retries, breakers and errors as an HTTP/1.1 one. A listener also
 * counts what it serves (connections by protocol, TLS versions negotiated) for the admin API and
 * metrics.
 */
import type { EventEmitter } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import {
  constants,
  createServer as createHttp2Server,
  createSecureServer,
  type Http2SecureServer,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Clock } from 'breakwater';
import type { ListenerEntry } from '../config/listen-schema.ts';
import type { Http2Config, ProxyConfig } from '../config/schema.ts';
import type { ProxiedRequest, ProxiedResponse } from '../http/client-message.ts';
import { httpsLocation } from '../http/https-redirect.ts';
import { sendError } from '../http/proxy-error.ts';
import { requestIdOf } from '../http/request-id.ts';
import { afterResponses } from '../http/responses-in-flight.ts';
import type { Logger } from '../logger.ts';
import { CertificateStore } from '../tls/certificate-store.ts';
import { acceptH2cPriorKnowledge } from './h2c-sniffer.ts';
import { guardControlFrames, http2ServerOptions } from './http2-defences.ts';

/** What a listener hands its traffic to (the forwarder and the upgrade tunnels). */
export interface ListenerHandlers {
  request(req: ProxiedRequest, res: ProxiedResponse): void;
  checkContinue(req: ProxiedRequest, res: ProxiedResponse): void;
  checkExpectation(req: ProxiedRequest, res: ProxiedResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  connect(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  clientError(error: Error, socket: Duplex): void;
}

/** What every listener needs besides its own entry. */
export interface ListenerContext {
  readonly limits: ProxyConfig['limits'];
  readonly http2: Http2Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly handlers: ListenerHandlers;
  /** The port HTTPS is served on, for `redirectToHttps` (known once the TLS listener is bound). */
  readonly httpsPort: () => number | undefined;
}

/** What a listener has served, for the admin API and metrics. */
export interface ListenerStats {
  /** Connections open now, by protocol (`http/1.1`, `h2`). */
  readonly open: Map<string, number>;
  /** Connections accepted since start, by protocol. */
  readonly accepted: Map<string, number>;
  /** TLS handshakes completed, by version (`TLSv1.3`). */
  readonly tlsVersions: Map<string, number>;
  /** TLS handshakes that failed or timed out. */
  tlsFailures: number;
}

/** A bound listener. */
export interface Listener {
  /** Its config entry; a reload that changes only certificates updates it. */
  entry: ListenerEntry;
  readonly server: NetServer;
  /** `https`, `http` or `redirect`. */
  readonly kind: 'https' | 'http' | 'redirect';
  /** Protocols offered (ALPN order on TLS). */
  readonly protocols: readonly string[];
  readonly certificates: CertificateStore | undefined;
  readonly stats: ListenerStats;
  /** Shutdown, first step: idle HTTP/1.1 connections close, HTTP/2 ones get GOAWAY. */
  closeIdle(): void;
  /** Shutdown, last step: every connection still open is dropped. */
  closeAll(): void;
  /** Stops following the certificate files. */
  stopWatching(): void;
}

/**
 * The connections of a listener that node:http does not track for us: TLS sockets (an HTTP/2
 * server has no `closeAllConnections`) and HTTP/2 sessions (closed with GOAWAY on shutdown).
 */
class OpenConnections {
  readonly sockets = new Set<Socket>();
  readonly sessions = new Set<ServerHttp2Session>();

  addSocket(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  addSession(session: ServerHttp2Session): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
  }

  closeIdle(server: NetServer): void {
    (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    for (const session of this.sessions) session.close();
  }

  closeAll(server: NetServer): void {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * The node:http options shared by every HTTP/1.1 path, TLS or not.
 *
 * @example
 * http.createServer(http1Options(config.limits), forwarder.handle);
 */
export function http1Options(limits: ProxyConfig['limits']) {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // node checks header/request timeouts on this interval (30 s by default), which would
    // let a slowloris client hold a socket far past headersTimeout.
    connectionsCheckingInterval: Math.max(250, Math.min(2_000, limits.headersTimeout / 2)),
    // h2c upgrades are never passed upstream: such a request is forwarded as plain HTTP/1.1
    // with the Upgrade header stripped.
    shouldUpgradeCallback: (req: IncomingMessage) => !isH2cUpgrade(req.headers.upgrade),
    // The forwarder refuses a missing Host itself, with the proxy's JSON error.
    requireHostHeader: false,
  };
}

/**
 * Creates the server for `entry` (not yet listening). Throws a `ConfigError` naming the
 * certificate at fault when a TLS entry's files cannot be served.
 *
 * @example
 * const listener = await createListener(config.listen[0], context);
 * listener.server.listen(config.listen[0].port, config.listen[0].host);
 */
export async function createListener(
  entry: ListenerEntry,
  context: ListenerContext,
): Promise<Listener> {
  const stats: ListenerStats = {
    open: new Map(),
    accepted: new Map(),
    tlsVersions: new Map(),
    tlsFailures: 0,
  };
  if (entry.tls !== undefined) return createTlsListener(entry, entry.tls, context, stats);
  const { handlers } = context;
  if (entry.redirectToHttps) {
    const server = createHttpServer(http1Options(context.limits), (req, res) =>
      redirect(req, res, context),
    );
    server.on('clientError', handlers.clientError);
    countPlain(server, stats);
    return plainListener(entry, server, 'redirect', stats, new OpenConnections());
  }
  const server = createHttpServer(http1Options(context.limits), handlers.request);
  attachHttp1(server, handlers);
  const open = new OpenConnections();
  if (!entry.h2c) {
    countPlain(server, stats);
    return plainListener(entry, server, 'http', stats, open);
  }
  const where = `${entry.host}:${entry.port}`;
  const h2 = createHttp2Server(http2ServerOptions(context.http2, context.limits), handlers.request);
  h2.on('session', (session: ServerHttp2Session) => {
    open.addSession(session);
    defendSession(session, where, context);
  });
  h2.on('checkContinue', handlers.checkContinue);
  acceptH2cPriorKnowledge(server, h2, context.limits.headersTimeout, (socket, protocol) =>
    track(stats, protocol, socket),
  );
  return {
    entry,
    server,
    kind: 'http',
    protocols: ['http/1.1', 'h2c'],
    certificates: undefined,
    stats,
    closeIdle: () => open.closeIdle(server),
    closeAll: () => open.closeAll(server),
    stopWatching() {},
  };
}

async function createTlsListener(
  entry: ListenerEntry,
  tls: NonNullable<ListenerEntry['tls']>,
  context: ListenerContext,
  stats: ListenerStats,
): Promise<Listener> {
  const { logger, handlers } = context;
  const where = `${entry.host}:${entry.port}`;
  const certificates = await CertificateStore.load({
    certificates: tls.certificates,
    settings: { minVersion: tls.minVersion },
    checkInterval: tls.checkInterval === false ? 0 : tls.checkInterval,
    clock: context.clock,
    onRotate: ({ previous, current }) =>
      logger.info(
        {
          listener: where,
          certificate: current.source.path,
          names: current.names,
          validTo: current.validTo.toISOString(),
          previousValidTo: previous.validTo.toISOString(),
        },
        'certificate rotated',
      ),
    onError: (error) =>
      logger.error(
        {
          listener: where,
          path: error.path,
          file: error.file,
          code: error.code,
          reason: error.message,
        },
        'certificate not reloaded; still serving the previous one',
      ),
  });
  const h2 = tls.alpn.includes('h2');
  const h1 = tls.alpn.includes('http/1.1');
  const open = new OpenConnections();
  let server: NetServer;
  if (h2) {
    const secure: Http2SecureServer = createSecureServer(
      {
        ...http1Options(context.limits),
        ...http2ServerOptions(context.http2, context.limits),
        ...certificates.serverOptions(),
        ALPNProtocols: [...tls.alpn],
        allowHTTP1: h1,
        handshakeTimeout: tls.handshakeTimeout,
        // A client that negotiated no protocol we speak is cut off as fast as a slow handshake.
        unknownProtocolTimeout: tls.handshakeTimeout,
      },
      handlers.request,
    );
    secure.on('session', (session: ServerHttp2Session) => {
      open.addSession(session);
      defendSession(session, where, context);
    });
    // Node's http2 server hands HTTP/1.1 connections to node:http's machinery, events included.
    attachHttp1(secure as unknown as EventEmitter, handlers);
    secure.on('checkContinue', handlers.checkContinue);
    server = secure;
  } else {
    server = createHttpsServer(
      {
        ...http1Options(context.limits),
        ...certificates.serverOptions(),
        ALPNProtocols: ['http/1.1'],
        handshakeTimeout: tls.handshakeTimeout,
      },
      handlers.request,
    );
    attachHttp1(server, handlers);
  }
  certificates.attach(server as unknown as { setSecureContext(options: object): void });
  server.on('secureConnection', (socket: TLSSocket) => {
    const version = socket.getProtocol() ?? 'unknown';
    stats.tlsVersions.set(version, (stats.tlsVersions.get(version) ?? 0) + 1);
    const protocol = socket.alpnProtocol === 'h2' ? 'h2' : 'http/1.1';
    track(stats, protocol, socket);
    open.addSocket(socket);
  });
  server.on('tlsClientError', (error: Error & { code?: string }, socket: Socket) => {
    stats.tlsFailures++;
    logger.debug(
      { listener: where, code: error.code, reason: error.message },
      'TLS handshake failed',
    );
    socket.destroy();
  });
  return {
    entry,
    server,
    kind: 'https',
    protocols: [...tls.alpn],
    certificates,
    stats,
    closeIdle: () => open.closeIdle(server),
    closeAll: () => open.closeAll(server),
    stopWatching: () => certificates.close(),
  };
}

function plainListener(
  entry: ListenerEntry,
  server: NetServer,
  kind: 'http' | 'redirect',
  stats: ListenerStats,
  open: OpenConnections,
): Listener {
  return {
    entry,
    server,
    kind,
    protocols: ['http/1.1'],
    certificates: undefined,
    stats,
    closeIdle: () => open.closeIdle(server),
    closeAll: () => open.closeAll(server),
    stopWatching() {},
  };
}

function attachHttp1(server: EventEmitter, handlers: ListenerHandlers): void {
  // An upgrade (or CONNECT) pipelined behind requests still being answered: node hands over the
  // socket at once, and a tunnel's answer would land ahead of or inside their responses.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    afterResponses(socket, () => handlers.upgrade(req, socket, head)),
  );
  server.on('clientError', handlers.clientError);
  // Checks run before 100 Continue goes out; other expectations get a JSON 417.
  server.on('checkContinue', handlers.checkContinue);
  server.on('checkExpectation', handlers.checkExpectation);
  server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    afterResponses(socket, () => handlers.connect(req, socket, head)),
  );
}

function countPlain(server: NetServer, stats: ListenerStats): void {
  server.on('connection', (socket: Socket) => track(stats, 'http/1.1', socket));
}

function track(stats: ListenerStats, protocol: string, socket: Socket): void {
  stats.accepted.set(protocol, (stats.accepted.get(protocol) ?? 0) + 1);
  stats.open.set(protocol, (stats.open.get(protocol) ?? 0) + 1);
  socket.once('close', () => stats.open.set(protocol, (stats.open.get(protocol) ?? 1) - 1));
}

/**
 * Per HTTP/2 connection: the PING/SETTINGS budget, `requestTimeout` per request body, and an
 * idle connection (no stream open for `keepAliveTimeout`) closed with GOAWAY, as HTTP/1.1
 * keep-alive connections are.
 */
function defendSession(session: ServerHttp2Session, where: string, context: ListenerContext): void {
  const { logger } = context;
  session.on('error', (error: Error & { code?: string }) =>
    logger.debug(
      { listener: where, code: error.code, reason: error.message },
      'HTTP/2 session error',
    ),
  );
  guardControlFrames(session, context.http2.controlFrames, context.clock, () =>
    logger.warn(
      { listener: where, remoteAddress: session.socket?.remoteAddress },
      'HTTP/2 client sent PING/SETTINGS beyond http2.controlFrames; closing its connection',
    ),
  );
  let streams = 0;
  const requestTimeout = context.limits.requestTimeout;
  session.on('stream', (stream: ServerHttp2Stream) => {
    streams++;
    // limits.requestTimeout, as node:http applies it to HTTP/1.1: the whole request must have
    // arrived in time, or the stream is cancelled (the exchange sees its client gone).
    const timer = stream.endAfterHeaders
      ? undefined
      : setTimeout(() => {
          logger.debug({ listener: where, stream: stream.id }, 'HTTP/2 request body too slow');
          stream.close(constants.NGHTTP2_CANCEL);
        }, requestTimeout);
    const received = (): void => clearTimeout(timer);
    stream.once('end', received);
    stream.once('close', () => {
      received();
      streams--;
    });
  });
  session.setTimeout(context.limits.keepAliveTimeout, () => {
    if (streams === 0 && !session.closed) session.close();
  });
}

function redirect(req: IncomingMessage, res: ServerResponse, context: ListenerContext): void {
  const port = context.httpsPort();
  const location =
    port === undefined ? undefined : httpsLocation(req.headers.host, req.url ?? '/', port);
  if (location === undefined) {
    sendError(
      res,
      'BAD_REQUEST',
      'Cannot redirect: the Host header is not a host',
      requestIdOf(req),
    );
    return;
  }
  // The body, if any, is not read: the client sends it again to the new location.
  res.shouldKeepAlive =
    req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  res.writeHead(308, { location, 'content-length': 0 });
  res.end();
}

function isH2cUpgrade(upgrade: string | undefined): boolean {
  return upgrade?.toLowerCase().includes('h2c') === true;
}
