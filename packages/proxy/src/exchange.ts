/**
 * One forwarded request as an undici dispatch handler: response headers, data and end are
 * written straight to the client's `ServerResponse`, with backpressure both ways and no buffering.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type AttemptOutcome, ClientAbortedError, classifyError } from './attempt-outcome.ts';
import type { Forwarder } from './forwarder.ts';
import { requestHeadersForUpstream, responseHeadersForClient } from './forwarding-headers.ts';
import { type ProxyErrorCode, sendError, statusOf } from './proxy-error.ts';
import type { Target } from './target.ts';
import type { UpstreamPool } from './upstream-pool.ts';

// nginx's convention for "client closed the connection before the response".
const CLIENT_CLOSED = 499;

/** A request in flight to one target. Internal to the forwarder. */
export class Exchange implements Dispatcher.DispatchHandler {
  readonly #forwarder: Forwarder;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #pool: UpstreamPool;
  // Mutable so a retry can send the request to another target.
  #target: Target;
  #attemptStart: number;
  #attemptOpen = false;
  readonly #requestId: string;
  readonly #start: number;
  readonly #body: Readable | null;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #done = false;
  #clientGone = false;
  #onDrain: (() => void) | undefined;

  constructor(
    forwarder: Forwarder,
    req: IncomingMessage,
    res: ServerResponse,
    pool: UpstreamPool,
    target: Target,
    requestId: string,
    start: number,
    body: Readable | null,
  ) {
    this.#forwarder = forwarder;
    this.#req = req;
    this.#res = res;
    this.#pool = pool;
    this.#target = target;
    this.#requestId = requestId;
    this.#start = start;
    this.#attemptStart = start;
    this.#body = body;
  }

  dispatch(): void {
    const req = this.#req;
    const target = this.#target;
    const headers = requestHeadersForUpstream(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      protocol: 'http',
      hostOverride: this.#forwarder.options.preserveHost ? undefined : target.host,
      requestId: this.#requestId,
      upgrade: false,
    });
    target.activeRequests++;
    this.#attemptOpen = true;
    this.#res.on('close', this.#onClientClose);
    try {
      target.pool.dispatch(
        { path: req.url ?? '/', method: req.method ?? 'GET', headers, body: this.#body },
        this,
      );
    } catch (error) {
      // undici validates synchronously (e.g. a header value it refuses).
      this.onResponseError(undefined, error instanceof Error ? error : new Error(String(error)));
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new ClientAbortedError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    // 1xx interim responses: node:http already answered Expect: 100-continue itself.
    if (statusCode < 200) return;
    this.#status = statusCode;
    const res = this.#res;
    if (this.#forwarder.closing) res.shouldKeepAlive = false;
    try {
      res.writeHead(
        statusCode,
        statusMessage || undefined,
        responseHeadersForClient(headers, this.#requestId),
      );
    } catch (error) {
      this.#controller?.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#onDrain ??= () => this.#controller?.resume();
      this.#res.once('drain', this.#onDrain);
    }
  }

  onResponseEnd(
    _controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[] | undefined>,
  ): void {
    const res = this.#res;
    // Trailers survive only on a chunked response; node drops them otherwise, as it must.
    for (const _name in trailers) {
      if (!res.hasHeader('content-length')) res.addTrailers(trailers as Record<string, string>);
      break;
    }
    res.end();
    this.#finish('response', this.#status, undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    if (this.#done) return;
    const res = this.#res;
    const failure = this.#clientGone
      ? classifyError(new ClientAbortedError())
      : classifyError(error);
    if (failure.outcome === 'aborted' || this.#clientGone) {
      res.destroy();
      this.#finish('aborted', this.#status, undefined);
      return;
    }
    if (this.#status !== 0 || res.headersSent) {
      // Headers already went out: the only honest signal left is a broken connection.
      this.#forwarder.options.logger.warn(
        { requestId: this.#requestId, target: this.#target.id, err: error },
        'upstream failed mid-response; closing client connection',
      );
      res.destroy();
      this.#finish(failure.outcome, this.#status, failure.code);
      return;
    }
    // Nothing reached the client yet: this is where a retry policy may send the request to
    // another target instead of answering with the error.
    // After a failed body upload the connection's framing is unknown; don't reuse it.
    sendError(res, failure.code, failure.message, this.#requestId, this.#body !== null);
    this.#finish(failure.outcome, 0, failure.code);
  }

  readonly #onClientClose = (): void => {
    if (this.#done) return;
    this.#clientGone = true;
    this.#controller?.abort(new ClientAbortedError());
  };

  /** Ends the current attempt: one report per attempt, for breakers, retries and metrics. */
  #endAttempt(outcome: AttemptOutcome, upstreamStatus: number): void {
    if (!this.#attemptOpen) return;
    this.#attemptOpen = false;
    const target = this.#target;
    target.activeRequests--;
    this.#forwarder.reportAttempt(
      this.#pool,
      target,
      outcome,
      upstreamStatus,
      performance.now() - this.#attemptStart,
    );
  }

  /** Ends the request: access log, metrics, in-flight accounting. */
  #finish(outcome: AttemptOutcome, upstreamStatus: number, code: ProxyErrorCode | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#endAttempt(outcome, upstreamStatus);
    const status =
      outcome === 'aborted'
        ? CLIENT_CLOSED
        : upstreamStatus !== 0
          ? upstreamStatus
          : code !== undefined
            ? statusOf[code]
            : 502;
    const forwarder = this.#forwarder;
    try {
      forwarder.logRequest(
        this.#req,
        status,
        this.#pool.name,
        this.#target.id,
        this.#requestId,
        this.#start,
        code,
      );
    } catch (error) {
      forwarder.options.logger.error(
        { err: error, requestId: this.#requestId },
        'access log failed',
      );
    } finally {
      // Whatever logging does, shutdown must not wait for an exchange that has ended.
      forwarder.exchangeFinished();
    }
  }
}
