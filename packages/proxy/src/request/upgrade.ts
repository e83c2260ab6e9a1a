/**
 * Upgrade requests (WebSocket and friends): the handshake goes to a target over a fresh
 * connection; on 101 the two sockets are piped together and close together. Upgrades are rare
 * next to plain requests, so this uses node:http rather than the pooled hot path.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { requestHeadersForUpstream, responseHeadersForClient } from '../http/forwarding-headers.ts';
import { type ProxyErrorCode, rawErrorResponse, statusOf } from '../http/proxy-error.ts';
import { hostProblem } from '../http/request-framing.ts';
import { requestIdOf } from '../http/request-id.ts';
import { toOriginFormRequest } from '../http/request-target.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { classifyError } from './attempt-outcome.ts';
import { ALLOWED_METHODS, type Forwarder } from './forwarder.ts';

/**
 * Relays upgrade requests. `tunnels` holds the open client sockets so shutdown can close them.
 *
 * @example
 * const tunnels = new UpgradeTunnels(forwarder);
 * server.on('upgrade', tunnels.handle);
 */
export class UpgradeTunnels {
  readonly #forwarder: Forwarder;
  readonly open = new Set<Duplex>();

  constructor(forwarder: Forwarder) {
    this.#forwarder = forwarder;
  }

  /** The `upgrade` listener for the proxy's HTTP servers. */
  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const start = performance.now();
    const forwarder = this.#forwarder;
    const requestId = requestIdOf(req);
    socket.on('error', (error) => {
      forwarder.options.logger.debug({ requestId, err: error }, 'upgrade client socket error');
    });
    // node skips its own Host check for upgrades; the same rules as for plain requests apply.
    const hostIssue = hostProblem(req);
    if (hostIssue !== undefined) {
      this.#refuse(req, socket, 'BAD_REQUEST', hostIssue, requestId, start, '');
      return;
    }
    if (req.method === 'TRACE') {
      this.#refuse(
        req,
        socket,
        'METHOD_NOT_ALLOWED',
        'TRACE is not forwarded',
        requestId,
        start,
        '',
        `allow: ${ALLOWED_METHODS}\r\n`,
      );
      return;
    }
    const path = toOriginFormRequest(req);
    if (path === undefined) {
      this.#refuse(
        req,
        socket,
        'BAD_REQUEST',
        `Unsupported request target ${req.url ?? ''}`,
        requestId,
        start,
        '',
      );
      return;
    }
    const pool = forwarder.router.match(req.headers.host, path);
    if (pool === undefined) {
      this.#refuse(
        req,
        socket,
        'NO_ROUTE',
        `No route for ${req.headers.host ?? ''}${path}`,
        requestId,
        start,
        '',
      );
      return;
    }
    const target = pool.pick({
      method: req.method ?? 'GET',
      path,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
    });
    if (target === undefined) {
      this.#refuse(
        req,
        socket,
        'NO_HEALTHY_TARGET',
        `No eligible target in upstream ${pool.name}`,
        requestId,
        start,
        pool.name,
      );
      return;
    }
    this.#connect(req, socket, head, pool, target, requestId, start);
  };

  /**
   * The `connect` listener: the proxy is a reverse proxy, so CONNECT (a tunnel to any
   * host) is refused with a JSON 405 and never tunnelled.
   */
  readonly refuseConnect = (req: IncomingMessage, socket: Duplex): void => {
    const start = performance.now();
    const requestId = requestIdOf(req);
    socket.on('error', (error) => {
      this.#forwarder.options.logger.debug(
        { requestId, err: error },
        'CONNECT client socket error',
      );
    });
    this.#refuse(
      req,
      socket,
      'METHOD_NOT_ALLOWED',
      'CONNECT is not supported',
      requestId,
      start,
      '',
      `allow: ${ALLOWED_METHODS}\r\n`,
    );
  };

  /** Destroys every open tunnel. */
  closeAll(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }

  #connect(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    pool: UpstreamPool,
    target: Target,
    requestId: string,
    start: number,
  ): void {
    const forwarder = this.#forwarder;
    const headers = requestHeadersForUpstream(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      protocol: 'http',
      hostOverride: forwarder.options.preserveHost ? undefined : target.host,
      requestId,
      upgrade: true,
      dropUnderscoreNames: forwarder.options.underscoresInHeaders === 'drop',
    });
    target.activeRequests++;
    let settled = false;
    const settle = (
      outcome: Parameters<Forwarder['reportAttempt']>[2],
      status: number,
      code?: ProxyErrorCode,
    ) => {
      if (settled) return;
      settled = true;
      target.activeRequests--;
      forwarder.reportAttempt(pool, target, outcome, status, performance.now() - start);
      const logged =
        outcome === 'aborted'
          ? 499
          : status !== 0
            ? status
            : code !== undefined
              ? statusOf[code]
              : 502;
      forwarder.logRequest(req, logged, pool.name, target.id, requestId, start, code);
    };
    const upstream = httpRequest({
      host: target.url.hostname,
      port: target.url.port,
      method: req.method,
      path: req.url,
      headers,
      agent: false,
      timeout: target.timeouts.response,
    });
    upstream.on('timeout', () => {
      upstream.destroy(
        Object.assign(new Error('upgrade response timed out'), { code: 'UND_ERR_HEADERS_TIMEOUT' }),
      );
    });
    let clientGone = false;
    upstream.on('error', (error) => {
      if (clientGone) {
        settle('aborted', 0);
        return;
      }
      const failure = classifyError(error);
      if (!socket.destroyed && socket.writable) {
        socket.end(rawErrorResponse(failure.code, failure.message, requestId));
      }
      settle(failure.outcome, 0, failure.code);
    });
    socket.on('close', () => {
      if (settled) return;
      clientGone = true;
      upstream.destroy();
    });
    upstream.on('response', (response) => {
      // The target declined the upgrade: relay its answer and close.
      socket.write(
        statusBlock(
          response.statusCode ?? 502,
          response.statusMessage,
          responseHeadersForClient(response.headers, requestId),
          true,
        ),
      );
      response.pipe(socket);
      settle('response', response.statusCode ?? 502);
    });
    upstream.on('upgrade', (response, upstreamSocket, upstreamHead) => {
      const headers = responseHeadersForClient(response.headers, requestId);
      if (response.headers.upgrade !== undefined) {
        headers.connection = 'Upgrade';
        headers.upgrade = response.headers.upgrade;
      }
      // The handshake timeout must not idle out a quiet WebSocket.
      upstreamSocket.setTimeout(0);
      socket.write(statusBlock(101, response.statusMessage, headers, false));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      this.open.add(socket);
      upstreamSocket.on('error', () => socket.destroy());
      socket.on('error', () => upstreamSocket.destroy());
      upstreamSocket.on('close', () => socket.destroy());
      socket.on('close', () => {
        this.open.delete(socket);
        upstreamSocket.destroy();
      });
      upstreamSocket.pipe(socket);
      socket.pipe(upstreamSocket);
      settle('response', 101);
    });
    upstream.end();
  }

  #refuse(
    req: IncomingMessage,
    socket: Duplex,
    code: ProxyErrorCode,
    message: string,
    requestId: string,
    start: number,
    upstream: string,
    extraHeaders?: string,
  ): void {
    socket.end(rawErrorResponse(code, message, requestId, extraHeaders));
    // A client that never reads or closes must not pin the socket.
    if (socket instanceof Socket) socket.setTimeout(2_000, () => socket.destroy());
    this.#forwarder.logRequest(req, statusOf[code], upstream, undefined, requestId, start, code);
  }
}

function statusBlock(
  status: number,
  message: string | undefined,
  headers: Record<string, string | string[]>,
  close: boolean,
): string {
  let text = `HTTP/1.1 ${status} ${message ?? ''}\r\n`;
  for (const name in headers) {
    if (close && name === 'connection') continue;
    const value = headers[name]!;
    if (Array.isArray(value)) for (const item of value) text += `${name}: ${item}\r\n`;
    else text += `${name}: ${value}\r\n`;
  }
  if (close) text += 'connection: close\r\n';
  return `${text}\r\n`;
}
