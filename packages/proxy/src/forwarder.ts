/**
 * The request path: route → pick an eligible target → stream the exchange through undici's
 * `dispatch`. Requests the proxy cannot forward get a JSON error with a stable code.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { AttemptOutcome } from './attempt-outcome.ts';
import type { BalancedRequest } from './balancers/balancer.ts';
import { BodyLimit } from './body-limit.ts';
import { Exchange } from './exchange.ts';
import type { Logger } from './logger.ts';
import type { ProxyMetrics } from './metrics.ts';
import { type ProxyErrorCode, sendError, statusOf } from './proxy-error.ts';
import { framingProblem } from './request-framing.ts';
import { toOriginForm } from './request-target.ts';
import type { Router } from './router.ts';
import type { Target } from './target.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/** Settings the forwarder reads on every request. */
export interface ForwarderOptions {
  readonly router: Router;
  /** Keep the client's Host header (default) or send the target's. */
  readonly preserveHost: boolean;
  /** Largest request body accepted, in bytes; `undefined` for no limit. */
  readonly maxBodySize: number | undefined;
  readonly logger: Logger;
  /** Write an access-log line per request. */
  readonly accessLog: boolean;
  readonly metrics: ProxyMetrics;
}

/**
 * Called once per attempt with how it ended; outlier detection (breakers) and retries hook in
 * here. `status` is 0 when no response arrived.
 */
export type AttemptListener = (
  pool: UpstreamPool,
  target: Target,
  outcome: AttemptOutcome,
  status: number,
  durationMs: number,
) => void;

/**
 * Handles proxied HTTP requests. One per proxy; `handle` is the `request` listener.
 *
 * @example
 * const forwarder = new Forwarder({ router, preserveHost: true, maxBodySize: undefined, logger, accessLog: true, metrics });
 * http.createServer(forwarder.handle);
 */
export class Forwarder {
  readonly options: ForwarderOptions;
  /** Routes requests to upstreams; replaced as a whole by a config reload. */
  router: Router;
  /** Exchanges in flight (forwarded and not finished). */
  inFlight = 0;
  /** Once set, responses close their connections so keep-alive clients go away. */
  closing = false;
  /** Client sockets already answered with an error and `Connection: close`. */
  readonly answeredSockets = new WeakSet<object>();
  readonly #attemptListeners: AttemptListener[] = [];
  #onIdle: (() => void) | undefined;

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.router = options.router;
  }

  /** Adds a listener for attempt outcomes; returns a function that removes it. */
  onAttempt(listener: AttemptListener): () => void {
    this.#attemptListeners.push(listener);
    return () => {
      const index = this.#attemptListeners.indexOf(listener);
      if (index >= 0) this.#attemptListeners.splice(index, 1);
    };
  }

  /** The `request` listener for the proxy's HTTP servers. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const start = performance.now();
    const headers = req.headers;
    const givenId = headers['x-request-id'];
    const requestId =
      typeof givenId === 'string' && givenId.length > 0 && givenId.length <= 200
        ? givenId
        : randomUUID();
    if (this.closing) res.shouldKeepAlive = false;

    const framing = framingProblem(headers);
    if (framing !== undefined) {
      this.reject(
        req,
        res,
        'BAD_REQUEST',
        `Rejected request framing: ${framing}`,
        requestId,
        start,
        '',
        true,
      );
      return;
    }
    let path = req.url ?? '/';
    if (path.charCodeAt(0) !== 47 /* '/' */) {
      const originForm = toOriginForm(path);
      if (originForm === undefined) {
        this.reject(
          req,
          res,
          'BAD_REQUEST',
          `Unsupported request target ${path}`,
          requestId,
          start,
          '',
        );
        return;
      }
      path = originForm.path;
      req.url = path;
      headers.host = originForm.host;
    }
    const pool = this.router.match(headers.host, path);
    if (pool === undefined) {
      this.reject(
        req,
        res,
        'NO_ROUTE',
        `No route for ${headers.host ?? ''}${path}`,
        requestId,
        start,
        '',
      );
      return;
    }
    const target = pool.pick(new RequestView(req, path));
    if (target === undefined) {
      this.reject(
        req,
        res,
        'NO_HEALTHY_TARGET',
        `No eligible target in upstream ${pool.name}`,
        requestId,
        start,
        pool.name,
      );
      return;
    }
    const maxBodySize = this.options.maxBodySize;
    let body: Readable | null = null;
    const contentLength = headers['content-length'];
    if (contentLength !== undefined) {
      if (maxBodySize !== undefined && Number(contentLength) > maxBodySize) {
        this.reject(
          req,
          res,
          'BODY_TOO_LARGE',
          `Request body exceeds ${maxBodySize} bytes`,
          requestId,
          start,
          pool.name,
          true,
        );
        return;
      }
      if (contentLength !== '0') body = req;
    } else if (headers['transfer-encoding'] !== undefined) {
      body = maxBodySize === undefined ? req : limitBody(req, maxBodySize);
    }
    this.inFlight++;
    new Exchange(this, req, res, pool, target, requestId, start, body).dispatch();
  };

  /** Reports an attempt's outcome to every listener. Called once per attempt by the exchange. */
  reportAttempt(
    pool: UpstreamPool,
    target: Target,
    outcome: AttemptOutcome,
    status: number,
    durationMs: number,
  ): void {
    const listeners = this.#attemptListeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(pool, target, outcome, status, durationMs);
      } catch (error) {
        this.options.logger.error({ err: error }, 'attempt listener threw');
      }
    }
  }

  /** Called by an exchange when it has finished, successfully or not. */
  exchangeFinished(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.#onIdle !== undefined) this.#onIdle();
  }

  /** Resolves once no exchange is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onIdle = () => {
        this.#onIdle = undefined;
        resolve();
      };
    });
  }

  /** Writes the access-log line and metrics for a finished request. */
  logRequest(
    req: IncomingMessage,
    status: number,
    upstream: string,
    target: string | undefined,
    requestId: string,
    start: number,
    code: ProxyErrorCode | undefined,
  ): void {
    const durationMs = performance.now() - start;
    const metrics = this.options.metrics;
    metrics.observe(upstream, status, durationMs / 1000);
    if (code !== undefined) metrics.observeError(upstream, code);
    if (!this.options.accessLog) return;
    this.options.logger.info(
      {
        requestId,
        method: req.method,
        path: req.url,
        status,
        upstream: upstream === '' ? undefined : upstream,
        target,
        durationMs: Math.round(durationMs * 1000) / 1000,
        code,
        // node detaches the socket from a request whose connection has closed.
        remoteAddress: (req.socket as Socket | null)?.remoteAddress,
      },
      'request',
    );
  }

  private reject(
    req: IncomingMessage,
    res: ServerResponse,
    code: ProxyErrorCode,
    message: string,
    requestId: string,
    start: number,
    upstream: string,
    close = false,
  ): void {
    // An unread body left on a keep-alive connection would be parsed as the next request.
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const closeConnection = close || hasBody;
    if (closeConnection) this.answeredSockets.add(req.socket);
    sendError(res, code, message, requestId, closeConnection);
    this.logRequest(req, statusOf[code], upstream, undefined, requestId, start, code);
  }
}

// The balancer's view of a request, without copying headers.
class RequestView implements BalancedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly #req: IncomingMessage;

  constructor(req: IncomingMessage, path: string) {
    this.method = req.method ?? 'GET';
    this.path = path;
    this.headers = req.headers;
    this.#req = req;
  }

  get remoteAddress(): string | undefined {
    return (this.#req.socket as Socket | null)?.remoteAddress;
  }
}

function limitBody(req: IncomingMessage, limit: number): Readable {
  const limited = new BodyLimit(limit);
  req.on('error', (error) => limited.destroy(error));
  return req.pipe(limited);
}
