/**
 * The request path: route → admit an eligible target → stream the exchange through undici's
 * `dispatch`, retrying on another target when the upstream's retry policy allows. Requests the proxy cannot forward get a JSON error with a stable code.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ProxyMetrics } from '../admin/metrics.ts';
import type { UnderscoreRule } from '../config/choices.ts';
import { headerNameProblem } from '../http/header-names.ts';
import { type ProxyErrorCode, sendError, statusOf } from '../http/proxy-error.ts';
import { framingProblem, hostProblem, versionProblem } from '../http/request-framing.ts';
import { requestIdOf } from '../http/request-id.ts';
import { toOriginFormRequest } from '../http/request-target.ts';
import type { Logger } from '../logger.ts';
import type { BalancedRequest } from '../upstream/balancers/balancer.ts';
import type { Router } from '../upstream/router.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import type { AttemptOutcome } from './attempt-outcome.ts';
import { BodyLimit } from './body-limit.ts';
import { Exchange } from './exchange.ts';
import type { SlowReaders } from './slow-readers.ts';

/** Settings the forwarder reads on every request. */
export interface ForwarderOptions {
  readonly router: Router;
  /** Keep the client's Host header (default) or send the target's. */
  readonly preserveHost: boolean;
  /** Request headers whose names contain `_`: dropped, forwarded or refused (400). */
  readonly underscoresInHeaders: UnderscoreRule;
  /** Largest request body accepted, in bytes; `undefined` for no limit. */
  readonly maxBodySize: number | undefined;
  /** Request bodies up to this size are read whole before a target is chosen. */
  readonly requestBuffer: number;
  /** Response bytes held for a client that is behind before the upstream is paused. */
  readonly responseBuffer: number;
  /** Cuts off clients that read too slowly; told of every response whose client is behind. */
  readonly slowReaders: SlowReaders;
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
 * const forwarder = new Forwarder({
 *   router, preserveHost: true, underscoresInHeaders: 'drop', maxBodySize: undefined,
 *   requestBuffer: 65_536, responseBuffer: 65_536, slowReaders, logger, accessLog: true, metrics,
 * });
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

  /**
   * The `request` listener for the proxy's HTTP servers. `expectsContinue` is set by
   * {@link handleContinue}: `100 Continue` goes out only once the request passed every check.
   */
  readonly handle = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    const start = performance.now();
    const headers = req.headers;
    const requestId = requestIdOf(req);
    if (this.closing) res.shouldKeepAlive = false;

    const framing =
      framingProblem(headers) ??
      versionProblem(req) ??
      headerNameProblem(req.rawHeaders, this.options.underscoresInHeaders);
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
    const hostIssue = hostProblem(req);
    if (hostIssue !== undefined) {
      this.reject(req, res, 'BAD_REQUEST', hostIssue, requestId, start, '', true);
      return;
    }
    if (req.method === 'TRACE') {
      // Like nginx: TRACE would echo the request, including what this proxy adds, to anyone.
      res.setHeader('allow', ALLOWED_METHODS);
      this.reject(req, res, 'METHOD_NOT_ALLOWED', 'TRACE is not forwarded', requestId, start, '');
      return;
    }
    const path = toOriginFormRequest(req);
    if (path === undefined) {
      this.reject(
        req,
        res,
        'BAD_REQUEST',
        `Unsupported request target ${req.url ?? ''}`,
        requestId,
        start,
        '',
      );
      return;
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
    if (pool.candidates().length === 0) {
      // Nothing to try: answer before reading any body. Retry-After says when a breaker will
      // let a trial through (or when the next health check may bring a target back).
      const retryAfter = pool.retryAfter();
      if (retryAfter !== undefined) {
        res.setHeader('retry-after', Math.max(1, Math.ceil(retryAfter / 1000)));
      }
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
    const overload = pool.overload();
    if (overload !== undefined) {
      // At a threshold (limits.maxRequests, maxPending): refuse before reading any body.
      pool.overloads[overload]++;
      res.setHeader('retry-after', 1);
      this.reject(
        req,
        res,
        'OVERLOADED',
        `Upstream ${pool.name} is at limits.${overload} (${pool.limits[overload]})`,
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
    if (expectsContinue) res.writeContinue();
    this.inFlight++;
    new Exchange(this, req, res, pool, new RequestView(req, path), requestId, start, body).start();
  };

  /**
   * The `checkContinue` listener: a request with `Expect: 100-continue` is checked (framing,
   * route, body size) before the client is invited to send its body, so a request refused
   * anyway (413…) never uploads it.
   */
  readonly handleContinue = (req: IncomingMessage, res: ServerResponse): void => {
    this.handle(req, res, true);
  };

  /**
   * The `checkExpectation` listener: any expectation other than 100-continue cannot be met
   * (RFC 9110 §10.1.1), answered with the proxy's JSON 417.
   */
  readonly handleExpectation = (req: IncomingMessage, res: ServerResponse): void => {
    const start = performance.now();
    if (this.closing) res.shouldKeepAlive = false;
    this.reject(
      req,
      res,
      'EXPECTATION_FAILED',
      `Unsupported expectation ${String(req.headers.expect)}`,
      requestIdOf(req),
      start,
      '',
    );
  };

  /** Whether any attempt listener is registered: without one, attempts are not timed. */
  get attemptsObserved(): boolean {
    return this.#attemptListeners.length > 0;
  }

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
    retries?: number,
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
        retries,
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

/** The `Allow` value of the proxy's 405 answers: it forwards every method but TRACE and CONNECT. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH';

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
