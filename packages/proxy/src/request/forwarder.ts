/**
 * The proxy's HTTP `request` listeners: a pipelined HTTP/1.1 request waits its turn
 * (`pipeline-turns.ts`), then framing checks, admission (`admission.ts`), the body size limit,
 * and an `Exchange` per admitted request. Also what requests in flight need of the
 * proxy (`RequestHost`): in-flight counting for shutdown, the access log, attempt listeners.
 */

import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UnderscoreRule } from '../config/choices.ts';
import {
  closeAfter,
  isHttp2,
  type ProxiedRequest,
  type ProxiedResponse,
} from '../http/client-message.ts';
import { headerNameProblem } from '../http/header-names.ts';
import { adoptAuthority } from '../http/http2-request.ts';
import { type ProxyErrorCode, sendError, statusOf } from '../http/proxy-error.ts';
import { framingProblem, versionProblem } from '../http/request-framing.ts';
import { requestIdOf } from '../http/request-id.ts';
import { TrustedProxies } from '../http/trusted-proxies.ts';
import type { Logger } from '../logger.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';
import type { RouteTable } from '../upstream/router.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { AccessLog, type RequestMetrics } from './access-log.ts';
import { admitRequest, type Refusal, refusal } from './admission.ts';
import { Exchange } from './exchange.ts';
import type { AttemptListener, RequestHost } from './host.ts';
import { isLingering, lingerIfBodyUnread } from './lingering-close.ts';
import { PIPELINE_DEPTH, PipelineTurns } from './pipeline-turns.ts';
import { BodyTimeoutError, limitBody, MalformedBodyError } from './request-body.ts';
import type { ResponseSpills } from './response-spills.ts';
import type { SlowReaders } from './slow-readers.ts';
import { stopReading } from './stop-reading.ts';

/** Settings the forwarder reads on every request. */
export interface ForwarderOptions {
  /** The route table; a config reload swaps its router. */
  readonly routes: RouteTable;
  /** Keep the client's Host header (default) or send the target's. */
  readonly preserveHost: boolean;
  /** This proxy's Via entry, unique per proxy so that a request loop is recognised. */
  readonly via: string;
  /** Request headers whose names contain `_`: dropped, forwarded or refused (400). */
  readonly underscoresInHeaders: UnderscoreRule;
  /** Largest request body accepted, in bytes; `undefined` for no limit. */
  readonly maxBodySize: number | undefined;
  /** Request bodies up to this size are read whole before a target is chosen. */
  readonly requestBuffer: number;
  /** Response bytes held for a client that is behind before the rest spills (or the upstream is paused). */
  readonly responseBuffer: number;
  /** Where responses of clients more than `responseBuffer` behind go; absent: spilling is off. */
  readonly responseSpills?: ResponseSpills;
  /** Cuts off clients that read too slowly; told of every response whose client is behind. */
  readonly slowReaders: SlowReaders;
  /** Largest request head; node:http enforces it for HTTP/1.1, the forwarder for HTTP/2. */
  readonly maxHeaderSize: number;
  /**
   * limits.requestTimeout, in ms: node applies it to HTTP/1.1, the forwarder again to the body of
   * a pipelined request whose timeout node reported while it waited its turn (node reports a
   * connection's timeout once). Absent: such a body is not timed again.
   */
  readonly requestTimeout?: number;
  /** Peers whose X-Forwarded-* and Forwarded fields are believed; nobody when absent. */
  readonly trustedProxies?: TrustedProxies;
  readonly logger: Logger;
  /** Write an access-log line per request. */
  readonly accessLog: boolean;
  readonly metrics: RequestMetrics;
}

/**
 * Handles proxied HTTP requests. One per proxy; `handle` is the `request` listener.
 *
 * @example
 * const forwarder = new Forwarder({
 *   routes, preserveHost: true, via: viaEntry('5f3a9c01'), underscoresInHeaders: 'drop',
 *   maxBodySize: undefined, maxHeaderSize: 16_384, requestBuffer: 65_536, responseBuffer: 65_536,
 *   slowReaders, logger, accessLog: true, metrics,
 * });
 * http.createServer(forwarder.handle);
 */
export class Forwarder implements RequestHost {
  readonly routes: RouteTable;
  readonly preserveHost: boolean;
  readonly via: string;
  readonly underscoresInHeaders: UnderscoreRule;
  readonly maxBodySize: number | undefined;
  readonly requestBuffer: number;
  readonly responseBuffer: number;
  readonly responseSpills: ResponseSpills | undefined;
  readonly slowReaders: SlowReaders;
  readonly maxHeaderSize: number;
  readonly trustedProxies: TrustedProxies;
  readonly logger: Logger;
  readonly accessLog: AccessLog;
  /** Exchanges in flight (forwarded and not finished). */
  inFlight = 0;
  /** Once set, responses close their connections so keep-alive clients go away. */
  closing = false;
  /** Client sockets already answered with an error and `Connection: close`. */
  readonly answeredSockets = new WeakSet<object>();
  // The exchange whose body node's parser is still reading, by client socket (HTTP/1.1): a
  // parser error on that socket (malformed chunk, requestTimeout) is that body's failure.
  readonly #bodies = new WeakMap<object, { req: ProxiedRequest; exchange: Exchange }>();
  readonly #attemptListeners: AttemptListener[] = [];
  readonly #turns = new PipelineTurns();
  // Waiting requests whose body failed node's parser (the code): refused 400 in their turn.
  readonly #failedWhileWaiting = new WeakMap<object, string>();
  // Waiting requests whose body node's requestTimeout hit (ignored then): timed from their turn.
  readonly #timedOutWhileWaiting = new WeakSet<object>();
  readonly #requestTimeout: number | undefined;
  #onIdle: (() => void) | undefined;

  constructor(options: ForwarderOptions) {
    this.routes = options.routes;
    this.preserveHost = options.preserveHost;
    this.via = options.via;
    this.underscoresInHeaders = options.underscoresInHeaders;
    this.maxBodySize = options.maxBodySize;
    this.#requestTimeout = options.requestTimeout;
    this.requestBuffer = options.requestBuffer;
    this.responseBuffer = options.responseBuffer;
    this.responseSpills = options.responseSpills;
    this.slowReaders = options.slowReaders;
    this.maxHeaderSize = options.maxHeaderSize;
    this.trustedProxies = options.trustedProxies ?? new TrustedProxies([]);
    this.logger = options.logger;
    this.accessLog = new AccessLog(options.logger, options.metrics, options.accessLog);
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
  readonly handle = (req: ProxiedRequest, res: ProxiedResponse, expectsContinue = false): void => {
    const start = performance.now();
    if (isHttp2(req)) {
      // HTTP/2 streams are concurrent by design, each with its own flow control.
      this.#serve(req, res, expectsContinue, start);
      return;
    }
    const socket = req.socket;
    // A request parsed after a body whose response is out: the connection is closing, and the
    // body it lingers for has all arrived. Read on, node would make objects of every request the
    // client sends (megabytes of tiny ones grew the heap by hundreds of MB); the linger's
    // deadline closes the connection.
    if (isLingering(socket)) {
      stopReading(socket);
      return;
    }
    const turn = this.#turns.admit(req, res as ServerResponse);
    if (turn === 'now') {
      this.#serve(req, res, expectsContinue, start);
      return;
    }
    // Refused with the one past the limit: the connection closes after its answer.
    if (turn === 'ignored') return;
    const tooMany = turn === 'too-many';
    this.#turns.wait(req, res as ServerResponse, {
      serve: () => {
        this.inFlight--;
        const failed = this.#failedWhileWaiting.get(req);
        if (tooMany) this.#refuseTooMany(req, res, start);
        else if (failed !== undefined) this.#refuseMalformedBody(req, res, failed, start);
        else {
          this.#serve(req, res, expectsContinue, start);
          if (this.#timedOutWhileWaiting.has(req)) this.#timeBody(req);
        }
        this.#checkIdle();
      },
      dropped: () => {
        this.inFlight--;
        // Sent, then given up by its client before its turn: never routed, nothing upstream.
        this.accessLog.record({
          req,
          status: 499,
          upstream: '',
          requestId: requestIdOf(req),
          start,
        });
        this.#checkIdle();
      },
    });
    // Waiting requests count as in flight: a graceful shutdown waits for them (the response
    // ahead then says Connection: close, and they are dropped, logged 499, when it closes).
    this.inFlight++;
  };

  #serve(req: ProxiedRequest, res: ProxiedResponse, expectsContinue: boolean, start: number): void {
    const headers = req.headers;
    const requestId = requestIdOf(req);
    if (this.closing) closeAfter(res);

    const http2 = isHttp2(req);
    if (http2) {
      const problem = adoptAuthority(headers, req.rawHeaders, this.maxHeaderSize);
      if (problem !== undefined) {
        this.#refuse(req, res, refusal(problem.code, problem.message, ''), requestId, start);
        return;
      }
    }
    const framing =
      framingProblem(headers) ??
      versionProblem(req) ??
      headerNameProblem(req.rawHeaders, this.underscoresInHeaders);
    if (framing !== undefined) {
      const refused = refusal('BAD_REQUEST', `Rejected request framing: ${framing}`, '', true);
      this.#refuse(req, res, refused, requestId, start);
      return;
    }
    const admission = admitRequest(req, this.routes, this.via);
    if (admission.refused) {
      this.#refuse(req, res, admission, requestId, start);
      return;
    }
    const maxBodySize = this.maxBodySize;
    let body: Readable | null = null;
    const contentLength = headers['content-length'];
    if (contentLength !== undefined) {
      if (maxBodySize !== undefined && Number(contentLength) > maxBodySize) {
        const tooLarge = refusal(
          'BODY_TOO_LARGE',
          `Request body exceeds ${maxBodySize} bytes`,
          admission.pool.name,
          true,
        );
        this.#refuse(req, res, tooLarge, requestId, start);
        return;
      }
      if (contentLength !== '0') body = req;
    } else if (
      headers['transfer-encoding'] !== undefined ||
      (http2 && !req.stream.endAfterHeaders)
    ) {
      // HTTP/2 frames its body itself (DATA frames up to END_STREAM): with no content-length it
      // streams like a chunked HTTP/1.1 body, and is sent upstream chunked.
      body = maxBodySize === undefined ? req : limitBody(req, maxBodySize);
    }
    if (expectsContinue) res.writeContinue();
    this.inFlight++;
    const exchange = new Exchange(this, admission, { req, res, requestId, start, body });
    if (body !== null && !http2) {
      this.#watchBody(req, exchange);
      lingerIfBodyUnread(req, res);
    }
    exchange.start();
  }

  #refuseTooMany(req: ProxiedRequest, res: ProxiedResponse, start: number): void {
    const refused = refusal(
      'TOO_MANY_PIPELINED',
      `More than ${PIPELINE_DEPTH} requests pipelined on one connection`,
      '',
      true,
    );
    this.#refuse(req, res, refused, requestIdOf(req), start);
  }

  // Its body failed while it waited: never forwarded (the upstream would get half a body).
  #refuseMalformedBody(
    req: ProxiedRequest,
    res: ProxiedResponse,
    code: string,
    start: number,
  ): void {
    // The code a body found malformed after forwarding began gets too (classifyError).
    const refused = refusal('MALFORMED_BODY', `Malformed request body (${code})`, '', true);
    this.#refuse(req, res, refused, requestIdOf(req), start);
  }

  /**
   * The `clientError` hook for a parser error in the body of a request that waits its turn
   * (pipelined): true when there is one; it is then answered 400 in its turn, with the
   * connection closed, after the responses ahead of it, and never forwarded.
   */
  readonly waitingBodyFailed = (socket: object, code: string): boolean => {
    const waiting = this.#turns.bodyArriving(socket);
    if (waiting === undefined || this.#failedWhileWaiting.has(waiting)) return false;
    this.#failedWhileWaiting.set(waiting, code);
    return true;
  };

  /**
   * The `clientError` hook for a parser error in the middle of a body (`code`: node's, e.g.
   * `HPE_INVALID_CHUNK_SIZE`, or `ERR_HTTP_REQUEST_TIMEOUT` for limits.requestTimeout): the
   * exchange reading that body aborts its upstream request and answers. False when no exchange
   * is reading a body on `socket` (the caller answers the parser error itself), or when that
   * exchange has answered already (`socket` is then in {@link answeredSockets}).
   */
  readonly bodyFailed = (socket: object, code: string): boolean => {
    const reading = this.#bodies.get(socket);
    if (reading === undefined) return false;
    this.#bodies.delete(socket);
    // The parser finished this body (its 'end' event comes later, once it has been read): the
    // error is in what follows it, a pipelined request's head, and not this request's fault.
    if (reading.req.complete) return false;
    const error =
      code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new BodyTimeoutError() : new MalformedBodyError(code);
    if (reading.exchange.bodyFailed(error)) return true;
    // Its request was answered already (the upstream did not wait for the whole body): the
    // connection closes after that answer, with no second response for the same request.
    this.answeredSockets.add(socket);
    return false;
  };

  /**
   * The `clientError` hook for node's request timeout: true when it hit a request whose body
   * waits its turn behind a response (its time waiting is the proxy's doing, not the client's);
   * node reports a connection's timeout once, so that body is then not timed.
   */
  readonly timedOutWaiting = (socket: object, code: string): boolean => {
    if (code !== 'ERR_HTTP_REQUEST_TIMEOUT') return false;
    const waiting = this.#turns.bodyArriving(socket);
    if (waiting === undefined) return false;
    this.#timedOutWhileWaiting.add(waiting);
    return true;
  };

  /**
   * Gives the body of a request node timed out while it waited a fresh limits.requestTimeout
   * from its turn: node will not time it again, and a body that stalls would hold the
   * connection and its upstream request for ever.
   */
  #timeBody(req: ProxiedRequest): void {
    const timeout = this.#requestTimeout;
    if (timeout === undefined || req.complete) return;
    const socket = req.socket;
    const timer = setTimeout(() => {
      if (req.complete || socket.destroyed) return;
      // The exchange reading it answers 408; answered already, the connection is cut.
      if (!this.bodyFailed(socket, 'ERR_HTTP_REQUEST_TIMEOUT')) socket.destroy();
    }, timeout);
    const stop = (): void => clearTimeout(timer);
    req.once('end', stop);
    req.once('close', stop);
    socket.once('close', stop);
  }

  #watchBody(req: ProxiedRequest, exchange: Exchange): void {
    const socket = req.socket;
    this.#bodies.set(socket, { req, exchange });
    // Once the body has been read, the entry has no more use (bodyFailed checks req.complete for
    // the moment between the parser's end of the body and this event).
    req.once('end', () => {
      if (this.#bodies.get(socket)?.exchange === exchange) this.#bodies.delete(socket);
    });
  }

  /**
   * The `checkContinue` listener: a request with `Expect: 100-continue` is checked (framing,
   * route, body size) before the client is invited to send its body, so a request refused
   * anyway (413…) never uploads it.
   */
  readonly handleContinue = (req: ProxiedRequest, res: ProxiedResponse): void => {
    this.handle(req, res, true);
  };

  /**
   * The `checkExpectation` listener: any expectation other than 100-continue cannot be met
   * (RFC 9110 §10.1.1), answered with the proxy's JSON 417.
   */
  readonly handleExpectation = (req: ProxiedRequest, res: ProxiedResponse): void => {
    const start = performance.now();
    if (this.closing) closeAfter(res);
    const refused = refusal(
      'EXPECTATION_FAILED',
      `Unsupported expectation ${String(req.headers.expect)}`,
      '',
    );
    this.#refuse(req, res, refused, requestIdOf(req), start);
  };

  /** Whether any attempt listener is registered: without one, attempts are not timed. */
  get attemptsObserved(): boolean {
    return this.#attemptListeners.length > 0;
  }

  /** Reports an attempt's outcome to every listener. Called once per attempt. */
  readonly reportAttempt = (
    pool: UpstreamPool,
    target: Target,
    outcome: AttemptOutcome,
    status: number,
    durationMs: number,
  ): void => {
    const listeners = this.#attemptListeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(pool, target, outcome, status, durationMs);
      } catch (error) {
        this.logger.error({ err: error }, 'attempt listener threw');
      }
    }
  };

  /** Called by an exchange when it has finished, successfully or not. */
  exchangeFinished(): void {
    this.inFlight--;
    this.#checkIdle();
  }

  #checkIdle(): void {
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

  #refuse(
    req: ProxiedRequest,
    res: ProxiedResponse,
    refused: Refusal,
    requestId: string,
    start: number,
  ): void {
    // An unread body left on a keep-alive connection would be parsed as the next request.
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const close = refused.close || hasBody;
    if (close && !isHttp2(req)) this.answeredSockets.add(req.socket);
    const headers = refused.headers;
    if (headers !== undefined) for (const name in headers) res.setHeader(name, headers[name]!);
    const code: ProxyErrorCode = refused.code;
    sendError(res, code, refused.message, requestId, close);
    this.accessLog.record({
      req,
      status: statusOf[code],
      upstream: refused.upstream,
      requestId,
      start,
      code,
    });
  }
}
