/**
 * Upgrade requests (WebSocket and friends): the handshake goes to a target over a fresh
 * connection; on 101 the two sockets are piped together and close together. Upgrades are rare
 * next to plain requests, so this uses node:http rather than the pooled hot path.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isEncrypted } from '../http/client-message.ts';
import { endWithDeadline } from '../http/close-deadline.ts';
import { requestHeadersForUpstream, responseHeadersForClient } from '../http/forwarding-headers.ts';
import { type ProxyErrorCode, rawErrorResponse, statusOf } from '../http/proxy-error.ts';
import { requestIdOf } from '../http/request-id.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';
import type { RouteTable } from '../upstream/router.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { loggedStatus } from './access-log.ts';
import {
  ALLOWED_METHODS,
  admitRequest,
  noEligibleTarget,
  type Refusal,
  refusal,
} from './admission.ts';
import { classifyError } from './attempt-failure.ts';
import type { RequestHost } from './host.ts';

/** The client's side of an upgrade: its request, socket, the bytes read past the head. */
interface UpgradeRequest {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly start: number;
}

/**
 * Relays upgrade requests. `tunnels` holds the open client sockets so shutdown can close them.
 *
 * @example
 * const tunnels = new UpgradeTunnels(forwarder, routes);
 * server.on('upgrade', tunnels.handle);
 */
export class UpgradeTunnels {
  readonly #host: RequestHost;
  readonly #routes: RouteTable;
  readonly open = new Set<Duplex>();

  constructor(host: RequestHost, routes: RouteTable) {
    this.#host = host;
    this.#routes = routes;
  }

  /** The `upgrade` listener for the proxy's HTTP servers. */
  readonly handle = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const start = performance.now();
    const requestId = requestIdOf(req);
    socket.on('error', (error) => {
      this.#host.logger.debug({ requestId, err: error }, 'upgrade client socket error');
    });
    // node skips its own Host check for upgrades; the same admission as for plain requests.
    const admission = admitRequest(req, this.#routes, this.#host.via);
    if (admission.refused) {
      this.#refuse(req, socket, admission, requestId, start);
      return;
    }
    const { pool, request, selection } = admission;
    // Tunnels take no breaker permit: the breaker does not judge their outcome.
    const target = pool.pick(request, selection);
    if (target === undefined) {
      this.#refuse(req, socket, noEligibleTarget(pool), requestId, start);
      return;
    }
    this.#connect({ req, socket, head, requestId, start }, pool, target);
  };

  /**
   * The `connect` listener: the proxy is a reverse proxy, so CONNECT (a tunnel to any
   * host) is refused with a JSON 405 and never tunnelled.
   */
  readonly refuseConnect = (req: IncomingMessage, socket: Duplex): void => {
    const start = performance.now();
    const requestId = requestIdOf(req);
    socket.on('error', (error) => {
      this.#host.logger.debug({ requestId, err: error }, 'CONNECT client socket error');
    });
    const refused = refusal('METHOD_NOT_ALLOWED', 'CONNECT is not supported', '', true, {
      allow: ALLOWED_METHODS,
    });
    this.#refuse(req, socket, refused, requestId, start);
  };

  /** Destroys every open tunnel. */
  closeAll(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
  }

  #connect(client: UpgradeRequest, pool: UpstreamPool, target: Target): void {
    const { req, socket, head, requestId, start } = client;
    const host = this.#host;
    const headers = requestHeadersForUpstream(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      protocol: isEncrypted(req) ? 'https' : 'http',
      trusted: host.trustedProxies.trusts(req.socket.remoteAddress),
      hostOverride: host.preserveHost ? undefined : target.host,
      requestId,
      upgrade: true,
      via: host.via,
      dropUnderscoreNames: host.underscoresInHeaders === 'drop',
    });
    target.activeRequests++;
    let settled = false;
    const settle = (outcome: AttemptOutcome, status: number, code?: ProxyErrorCode) => {
      if (settled) return;
      settled = true;
      target.activeRequests--;
      host.reportAttempt(pool, target, outcome, status, performance.now() - start);
      host.accessLog.record({
        req,
        status: loggedStatus(outcome, status, code),
        upstream: pool.name,
        target: target.id,
        requestId,
        start,
        code,
      });
    };
    const upstream = httpRequest({
      host: target.url.hostname,
      port: target.url.port,
      method: req.method,
      path: req.url,
      headers,
      agent: false,
    });
    const timeouts = target.timeouts;
    upstream.on('socket', (connection) => {
      // Connecting is bounded by timeouts.connect, as for plain requests; waiting for the
      // handshake's answer (and a refusal's body) by timeouts.response once connected.
      const connected = () => {
        clearTimeout(connectTimer);
        upstream.setTimeout(timeouts.response);
      };
      const connectTimer = setTimeout(() => {
        upstream.destroy(
          Object.assign(new Error('upgrade connect timed out'), {
            code: 'UND_ERR_CONNECT_TIMEOUT',
          }),
        );
      }, timeouts.connect);
      if (connection.connecting) connection.once('connect', connected);
      else connected();
      connection.once('close', () => clearTimeout(connectTimer));
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
    let tunnelled = false;
    socket.on('close', () => {
      if (tunnelled) return;
      clientGone = true;
      // Before an answer, and also while a refusal's body is still being relayed: the target
      // must not keep streaming to a client that has gone.
      upstream.destroy();
    });
    upstream.on('response', (response) => {
      // A refusal cut short (by either side) ends the client's connection; never unhandled.
      response.on('error', () => socket.destroy());
      // Nothing the client sends now is forwarded; reading it is how its leaving is noticed.
      socket.resume();
      socket.once('end', () => socket.destroy());
      // The target declined the upgrade: relay its answer and close.
      socket.write(
        statusBlock(
          response.statusCode ?? 502,
          response.statusMessage,
          responseHeadersForClient(response.headers, requestId, host.via),
          true,
        ),
      );
      response.pipe(socket);
      settle('response', response.statusCode ?? 502);
    });
    upstream.on('upgrade', (response, upstreamSocket, upstreamHead) => {
      tunnelled = true;
      const headers = responseHeadersForClient(response.headers, requestId, host.via);
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
    refused: Refusal,
    requestId: string,
    start: number,
  ): void {
    let extraHeaders = '';
    const headers = refused.headers;
    if (headers !== undefined)
      for (const name in headers) extraHeaders += `${name}: ${headers[name]}\r\n`;
    const code = refused.code;
    endWithDeadline(socket, rawErrorResponse(code, refused.message, requestId, extraHeaders));
    this.#host.accessLog.record({
      req,
      status: statusOf[code],
      upstream: refused.upstream,
      requestId,
      start,
      code,
    });
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
