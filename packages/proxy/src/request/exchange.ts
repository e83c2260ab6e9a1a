/**
 * One forwarded request: one or more attempts, each an undici dispatch to one target, with
 * response headers, data and end written straight to the client's `ServerResponse`. A client that
 * falls behind gets up to `limits.responseBuffer` held in memory, then the rest through a temp
 * file (`limits.responseSpill`, `response-spill.ts`) so the upstream connection is free when the
 * upstream is done; without spilling (or past its bounds) the upstream waits for the client
 * (backpressure). A failed attempt is retried on another target when the upstream's retry policy
 * allows it and nothing has reached the client yet.
 */
import type { Readable, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import {
  closeAfter,
  isEncrypted,
  isHttp2Response,
  type ProxiedRequest,
  type ProxiedResponse,
} from '../http/client-message.ts';
import { requestHeadersForUpstream, responseHeadersForClient } from '../http/forwarding-headers.ts';
import { type ProxyErrorCode, sendError } from '../http/proxy-error.ts';
import { type AttemptOutcome, type AttemptResult, resultOf } from '../upstream/attempt-result.ts';
import type { BalancedRequest } from '../upstream/balancers/balancer.ts';
import { classifyAttempt } from '../upstream/outlier.ts';
import type { Selection } from '../upstream/selection.ts';
import type { Target } from '../upstream/target.ts';
import {
  type Admission,
  OVERLOADED,
  type OverloadLimit,
  type UpstreamPool,
} from '../upstream/upstream-pool.ts';
import { loggedStatus } from './access-log.ts';
import type { Admitted } from './admission.ts';
import { atLimit, noEligibleTarget, overloaded, type Refusal } from './admission.ts';
import { Attempt, type AttemptOwner } from './attempt.ts';
import { type AttemptFailure, ClientAbortedError, classifyError } from './attempt-failure.ts';
import type { RequestHost } from './host.ts';
import { type BodyFailure, ReplayTee, readAhead } from './request-body.ts';
import type { ResponseSpill, SpillClient, SpillOwner } from './response-spill.ts';

// A retried response's body is read and dropped up to this size, then its connection is closed.
const MAX_DISCARDED_BYTES = 64 * 1024;

/** The client's side of an exchange: its request, the response to write, and its body. */
export interface ClientRequest {
  readonly req: ProxiedRequest;
  readonly res: ProxiedResponse;
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly start: number;
  /** The body to forward: `null` for none, or the (possibly size-limited) stream. */
  readonly body: Readable | null;
}

/**
 * A request in flight, across its attempts. It depends on a {@link RequestHost}, not on the
 * forwarder that creates it.
 *
 * @example
 * new Exchange(host, admitted, { req, res, requestId, start, body }).start();
 */
export class Exchange implements AttemptOwner {
  readonly #host: RequestHost;
  readonly #req: ProxiedRequest;
  readonly #res: ProxiedResponse;
  readonly #pool: UpstreamPool;
  readonly #request: BalancedRequest;
  readonly #requestId: string;
  readonly #start: number;
  readonly #method: string;
  // A stream is sent once; a Buffer (a body read ahead for replay) can be sent again.
  #body: Readable | Buffer | null;
  // A chunked body of a retryable request, streamed at once with a copy kept for a retry.
  #replay: ReplayTee | undefined;
  // Node's parser gave up on the body half-way (bodyFailed).
  #bodyFailed = false;
  #current: Attempt | undefined;
  #attempts = 0;
  #tried: Set<Target> | undefined;
  #lastTarget: Target | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  // A retry decided and counted in pool.retriesInFlight, not yet dispatched (in its backoff).
  #retryReserved = false;
  #done = false;
  #clientGone = false;
  #onDrain: (() => void) | undefined;
  // The rest of a response whose client fell more than responseBuffer behind, through a file.
  #spill: ResponseSpill | undefined;
  // A spill filled up or was refused: the rest of this response keeps to backpressure (as nginx
  // past proxy_max_temp_file_size).
  #spillSpent = false;
  // The upstream's trailers, kept while a spill still feeds the client.
  // Set when the upstream ended while its response was still being fed from a spill file.
  #trailers: Record<string, string | string[] | undefined> | undefined;
  // The selection admission worked out, used by the first attempt when it follows at once.
  #selection: Selection<Target> | undefined;

  constructor(host: RequestHost, admitted: Admitted, client: ClientRequest) {
    this.#host = host;
    this.#req = client.req;
    this.#res = client.res;
    this.#pool = admitted.pool;
    this.#request = admitted.request;
    this.#selection = admitted.selection;
    this.#requestId = client.requestId;
    this.#start = client.start;
    this.#method = client.req.method ?? 'GET';
    this.#body = client.body;
  }

  /** Whether the client has gone away. */
  get clientGone(): boolean {
    return this.#clientGone;
  }

  /**
   * Starts the exchange. A body with a declared length up to `limits.requestBuffer`, or up to
   * `retry.replayBodyUpTo` when it may have to be sent again (retryable method), is read ahead
   * before a target is chosen; a larger one streams and is never retried once sent. A chunked
   * body streams at once, and for a retryable method a copy of up to `replayBodyUpTo` is kept
   * on the side, so a retry can send it again when it all arrived and fit.
   */
  start(): void {
    this.#res.on('close', this.#onClientClose);
    const retry = this.#pool.retry;
    retry?.recordRequest();
    const body = this.#body;
    const length = this.#req.headers['content-length'];
    const replay = retry?.retriesMethod(this.#method) === true ? retry.replayBodyUpTo : 0;
    if (body !== null && !Buffer.isBuffer(body)) {
      if (length !== undefined) {
        // Read before a target is chosen (nginx's request buffering): a slow sender holds no
        // upstream connection, and the body can be sent again.
        const limit = Math.max(replay, this.#host.requestBuffer);
        if (limit > 0 && Number(length) <= limit) {
          this.#readAhead(body, limit);
          return;
        }
      } else if (replay > 0) {
        // A chunked body is never waited for: its client may send a first chunk and wait for
        // the upstream's answer before sending more (a live upload, a gRPC-web-like protocol).
        this.#replay = new ReplayTee(body, replay);
        this.#body = this.#replay.stream;
      }
    }
    this.#next();
  }

  #readAhead(source: Readable, limit: number): void {
    // Reading takes time: the first attempt works out its selection afresh.
    this.#selection = undefined;
    readAhead(source, limit, {
      done: (body) => {
        if (this.#done) return;
        this.#body = body;
        this.#next();
      },
      failed: (error) => {
        if (this.#done || this.#current !== undefined) return;
        const failure = classifyError(error);
        if (failure.outcome === 'rejected') {
          // e.g. a chunked body growing past limits.maxBodySize while being read ahead.
          sendError(this.#res, failure.code, failure.message, this.#requestId, true);
          this.#finish('rejected', 0, failure.code);
        } else {
          this.#res.destroy();
          this.#finish('aborted', 0, undefined);
        }
      },
    });
  }

  /**
   * The client's body failed in node's parser, half-way: malformed, or not received within
   * `limits.requestTimeout`. The attempt that is sending it upstream is aborted at once, so the
   * target is not left waiting on a request that will never complete; the client gets 400
   * `MALFORMED_BODY` or 408 `REQUEST_TIMEOUT`, or a cut connection when the response has begun.
   * False when this exchange has already ended (the caller answers the parser error itself).
   */
  bodyFailed(error: BodyFailure): boolean {
    if (this.#done) return false;
    // The connection's parser has failed: whatever the answer, the connection ends with it.
    this.#bodyFailed = true;
    const current = this.#current;
    // Started by undici: its failure comes back through attemptFailed, which answers.
    if (current?.abort(error) === true) return true;
    // Still reading the body ahead, waiting out a retry's backoff, or queued in undici (aborted
    // when it starts): answer now.
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const failure = classifyError(error);
    if (this.#res.headersSent) {
      this.#res.destroy();
      this.#finish('rejected', current?.status ?? 0, failure.code);
    } else this.#answerFailure(failure);
    return true;
  }

  /** Sends the next attempt to a target the pool admits, or answers when there is none. */
  #next(failure?: AttemptFailure): void {
    if (this.#done) return;
    if (this.#clientGone) {
      this.#finish('aborted', 0, undefined);
      return;
    }
    const pool = this.#pool;
    const selection = this.#selection;
    this.#selection = undefined;
    // Admission checked the limits a moment ago when its selection is still in hand; a retry, or
    // a first attempt after reading the body ahead, checks them again.
    const overload = selection === undefined ? pool.overload() : undefined;
    if (overload !== undefined) {
      pool.overloads[overload]++;
      // A retry turned away leaves the failure that caused it as the answer.
      if (failure !== undefined) this.#answerFailure(failure);
      else this.#answerAtLimit(overload);
      return;
    }
    const admission = pool.admit(this.#request, this.#tried, selection);
    if (admission === OVERLOADED) pool.overloads.adaptiveConcurrency++;
    if (admission === undefined || admission === OVERLOADED) {
      // After a failed attempt, its failure is the answer: it says more than "busy elsewhere".
      if (failure !== undefined) this.#answerFailure(failure);
      else if (admission === OVERLOADED) this.#answerOverloaded();
      else this.#answerNoTarget();
      return;
    }
    this.#dispatch(admission);
  }

  #dispatch({ target, permit, concurrency }: Admission): void {
    const req = this.#req;
    // A chunked body that arrived whole while an earlier attempt ran: send the kept copy.
    const replayed = this.#replay?.body;
    if (replayed !== undefined) this.#body = replayed;
    const headers = requestHeadersForUpstream(req.headers, {
      remoteAddress: req.socket.remoteAddress,
      protocol: isEncrypted(req) ? 'https' : 'http',
      trusted: this.#host.trustedProxies.trusts(req.socket.remoteAddress),
      hostOverride: this.#host.preserveHost ? undefined : target.host,
      requestId: this.#requestId,
      upgrade: false,
      via: this.#host.via,
      dropUnderscoreNames: this.#host.underscoresInHeaders === 'drop',
    });
    this.#attempts++;
    this.#lastTarget = target;
    target.activeRequests++;
    const attempt = new Attempt(this, target, permit, this.#attempts);
    attempt.concurrency = concurrency;
    // A retry was counted when decided (#retryAfterBackoff); the attempt now holds that count.
    if (attempt.number > 1) this.#retryReserved = false;
    if (this.#host.attemptsObserved || this.#pool.timesAttempts) {
      attempt.startedAt = performance.now();
    }
    this.#current = attempt;
    // retry.perTryTimeout is undici's headers timeout for this dispatch (a timer undici arms
    // anyway), so an attempt costs no timer of its own; it fails with UND_ERR_HEADERS_TIMEOUT,
    // classified 'timeout' (504, retried when `on` lists timeout). It runs from the moment the
    // request is written: connecting is bounded by timeouts.connect.
    const perTryTimeout = this.#pool.retry?.perTryTimeout;
    try {
      target.pool.dispatch(
        {
          path: req.url ?? '/',
          method: this.#method,
          headers,
          body: this.#body,
          headersTimeout:
            perTryTimeout === undefined ? null : Math.min(perTryTimeout, target.timeouts.response),
        },
        attempt,
      );
    } catch (error) {
      // undici validates synchronously (e.g. a header value it refuses).
      this.attemptFailed(attempt, error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Response headers of `attempt` arrived: relay them, or drop the response for a retry. */
  responseStarted(
    attempt: Attempt,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage: string | undefined,
  ): void {
    if (attempt !== this.#current) return;
    attempt.status = statusCode;
    if (attempt.startedAt !== 0) {
      attempt.answeredAfter = performance.now() - attempt.startedAt;
      this.#pool.attemptAnswered(attempt.target, attempt.answeredAfter);
    }
    const result: AttemptResult = { kind: 'response', status: statusCode };
    this.#settlePermit(attempt, result);
    const retry = this.#pool.retry;
    // retriesResult first: decide() spends retry budget, which a plain 200 must not.
    if (retry?.retriesResult(result) === true && this.#shouldRetry(attempt, result)) {
      // The body is read and dropped so the connection stays reusable; the retry follows its end.
      attempt.discarding = true;
      return;
    }
    const res = this.#res;
    // Answered while the client is still sending its body: the connection lingers and closes
    // after this response (lingering-close.ts), which says so while it still can.
    if (this.#host.closing || this.#bodyStillArriving()) closeAfter(res);
    try {
      const out = responseHeadersForClient(headers, this.#requestId, this.#host.via);
      // HTTP/2 has no reason phrase (RFC 9113 §8.3.2).
      if (isHttp2Response(res)) res.writeHead(statusCode, out);
      else res.writeHead(statusCode, statusMessage || undefined, out);
    } catch (error) {
      attempt.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  responseData(attempt: Attempt, controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (attempt !== this.#current) return;
    if (attempt.discarding) {
      attempt.discarded += chunk.length;
      // Reading a large error body just to keep a connection costs more than a new connection.
      if (attempt.discarded > MAX_DISCARDED_BYTES) attempt.abort(new Error('discarded enough'));
      return;
    }
    const spill = this.#spill;
    if (spill !== undefined) {
      if (!spill.push(chunk)) controller.pause();
      return;
    }
    const res = this.#res;
    const out: Writable = res;
    const host = this.#host;
    // A client already behind holds at most responseBuffer here: what of the chunk does not fit
    // goes to a spill file, and what fits is copied (a slice would hold the whole read off the
    // upstream, up to 64 KB, as long as the client takes to read the slice).
    // The spill feeds the client from its 'drain', which comes only after a write said false:
    // so the buffer is filled to at least the connection's high-water mark (as the path below
    // never spills short of it), and a responseBuffer smaller than that cannot leave the spill
    // waiting for a 'drain' that no write asked for.
    const behind = out.writableLength;
    const limit = Math.max(host.responseBuffer, out.writableHighWaterMark);
    if (behind > 0 && behind + chunk.length > limit && this.#startSpill()) {
      const room = Math.max(0, limit - behind);
      if (room > 0) out.write(Buffer.from(chunk.subarray(0, room)));
      if (!this.#spill!.push(room > 0 ? chunk.subarray(room) : chunk)) controller.pause();
      return;
    }
    // A pipelined request starts only in its turn (pipeline-turns.ts), so its response always
    // has its connection here: nothing waits in memory behind an earlier response.
    if (!out.write(chunk)) {
      // An HTTP/2 stream is measured on its connection: held by its own flow-control window
      // while the connection takes bytes for other streams, it is not cut (slow-readers.ts).
      host.slowReaders.watch(res);
      // Up to responseBuffer bytes wait here for a slow client while the upstream goes on
      // sending, so a response that fits leaves the upstream connection free at once; beyond,
      // the rest goes to a spill file, or the upstream waits.
      if (out.writableLength > host.responseBuffer) {
        if (this.#startSpill()) return;
        controller.pause();
        this.#onDrain ??= () => this.#current?.resume();
        res.once('drain', this.#onDrain);
      }
    }
  }

  responseEnded(attempt: Attempt, trailers: Record<string, string | string[] | undefined>): void {
    if (attempt !== this.#current) return;
    if (attempt.discarding) {
      this.#endAttempt(attempt, 'response');
      this.#retryAfterBackoff(attempt, undefined);
      return;
    }
    const spill = this.#spill;
    if (spill !== undefined) {
      // The upstream is done: the attempt ends now (its connection is back in the pool, its
      // target no longer busy), the exchange once the client has read the file.
      this.#trailers = trailers;
      this.#endAttempt(attempt, 'response');
      spill.end();
      return;
    }
    this.#endResponse(trailers);
    this.#finish('response', attempt.status, undefined);
  }

  #endResponse(trailers: Record<string, string | string[] | undefined>): void {
    const res = this.#res;
    // Trailers survive only on a chunked response; node drops them otherwise, as it must.
    for (const _name in trailers) {
      if (!res.hasHeader('content-length')) res.addTrailers(trailers as Record<string, string>);
      break;
    }
    res.end();
  }

  /**
   * Sends the rest of the response through a spill file; false when spilling is off or full.
   * Feeding the client begins at the response's next `'drain'`.
   */
  #startSpill(): boolean {
    const spills = this.#host.responseSpills;
    // After the end (client gone, data still arriving before the abort lands) nothing would
    // close a new spill's file.
    if (spills === undefined || this.#spillSpent || this.#done) return false;
    const res = this.#res;
    const spill = spills.start(res as SpillClient, this.#spillOwner(), 'drain');
    if (spill === undefined) {
      this.#spillSpent = true;
      return false;
    }
    this.#spill = spill;
    // Data waits for this client until the file is read: watched to the end, not to a drain.
    this.#host.slowReaders.watch(res, 'close');
    return true;
  }

  // Built when a response spills, not for every exchange.
  #spillOwner(): SpillOwner {
    return {
      resume: () => this.#current?.resume(),
      handBack: () => {
        this.#spill = undefined;
        this.#spillSpent = true;
        this.#current?.resume();
      },
      delivered: () => {
        this.#spill = undefined;
        this.#endResponse(this.#trailers ?? {});
        this.#finish('response', this.#current?.status ?? 0, undefined);
      },
      failed: (error) => {
        this.#spill = undefined;
        this.#host.logger.warn(
          { requestId: this.#requestId, err: error },
          'response spill failed mid-response; closing client connection',
        );
        // The client's close ends the exchange (and aborts the upstream if it is still sending).
        this.#res.destroy();
      },
    };
  }

  attemptFailed(attempt: Attempt, error: Error): void {
    if (attempt !== this.#current || this.#done) return;
    const res = this.#res;
    const failure = classifyError(this.#clientGone ? new ClientAbortedError() : error);
    if (failure.outcome === 'aborted' || this.#clientGone) {
      res.destroy();
      this.#finish('aborted', attempt.status, undefined);
      return;
    }
    if (attempt.discarding) {
      // A response being dropped for a retry broke (or was cut short past MAX_DISCARDED_BYTES):
      // the retry was decided on its status, which stays the answer if no target takes it.
      const cutShort = attempt.discarded > MAX_DISCARDED_BYTES;
      this.#endAttempt(attempt, cutShort ? 'response' : failure.outcome);
      this.#retryAfterBackoff(attempt, undefined);
      return;
    }
    if (attempt.status !== 0 || res.headersSent) {
      // Headers already went out: the only honest signal left is a broken connection.
      this.#host.logger.warn(
        { requestId: this.#requestId, target: attempt.target.id, err: error },
        this.#bodyFailed
          ? 'request body failed mid-response; closing client connection'
          : 'upstream failed mid-response; closing client connection',
      );
      res.destroy();
      this.#finish(failure.outcome, attempt.status, failure.code);
      return;
    }
    const result = resultOf(failure.outcome, 0);
    this.#settlePermit(attempt, result, failure);
    const replay = this.#replay;
    // A chunked body still arriving may yet fit its replay copy: the retry decision waits for it
    // with no upstream connection held (the attempt is over). Not after a refused connection:
    // nothing was read of the stream, which goes to the next target as it is. Nor when no retry
    // could follow anyway (no attempt left…): the client, perhaps waiting for this answer
    // before it sends more, gets it now.
    if (
      replay?.reading === true &&
      failure.outcome !== 'connect-error' &&
      this.#pool.retry?.mayRetry({ ...this.#question(attempt, result), bodyReplayable: true }) ===
        true
    ) {
      this.#endAttempt(attempt, failure.outcome);
      this.#current = undefined;
      replay.stream.destroy();
      replay.whenSettled(() => {
        if (this.#done) return;
        if (replay.body !== undefined) this.#body = replay.body;
        this.#retryOrAnswer(attempt, result, failure);
      });
      return;
    }
    this.#retryOrAnswer(attempt, result, failure);
  }

  #retryOrAnswer(attempt: Attempt, result: AttemptResult, failure: AttemptFailure): void {
    if (this.#shouldRetry(attempt, result)) {
      this.#endAttempt(attempt, failure.outcome);
      this.#retryAfterBackoff(attempt, failure);
      return;
    }
    this.#answerFailure(failure);
  }

  /** Asks the retry policy; a retry refused by `limits.maxRetries` is counted as an overload. */
  #shouldRetry(attempt: Attempt, result: AttemptResult): boolean {
    const retry = this.#pool.retry;
    if (retry === undefined) return false;
    const verdict = retry.decide(this.#question(attempt, result));
    if (verdict === 'max-retries') this.#pool.overloads.maxRetries++;
    return verdict === 'retry';
  }

  #question(attempt: Attempt, result: AttemptResult) {
    const pool = this.#pool;
    // A retry deciding on the next one counts itself, but the next one would replace it.
    const others = pool.retriesInFlight - (attempt.number > 1 && !attempt.ended ? 1 : 0);
    return {
      retriesAtLimit: others >= pool.limits.maxRetries,
      method: this.#method,
      attempt: attempt.number,
      result,
      responseStarted: this.#res.headersSent,
      bodyReplayable:
        this.#body === null || Buffer.isBuffer(this.#body) || this.#replay?.body !== undefined,
    };
  }

  #retryAfterBackoff(attempt: Attempt, failure: AttemptFailure | undefined): void {
    const retry = this.#pool.retry;
    if (retry === undefined) return;
    this.#tried ??= new Set();
    this.#tried.add(attempt.target);
    this.#current = undefined;
    // Counted from the decision, so retries waiting out their backoff count against maxRetries.
    this.#pool.retriesInFlight++;
    this.#retryReserved = true;
    this.#host.accessLog.metrics.observeRetry(this.#pool.name);
    // Nothing was sent to a target that refused the connection, and another target is not
    // made busier by waiting: go there at once, as nginx and HAProxy do. The backoff stays
    // for a retry that lands on the same target (the only one left) or follows other failures.
    if (failure?.outcome === 'connect-error') {
      const admission = this.#pool.admit(this.#request, this.#tried);
      if (typeof admission === 'object' && !this.#tried.has(admission.target)) {
        this.#dispatch(admission);
        return;
      }
      // The same target again: give back its permits (a half-open trial slot) and wait.
      if (typeof admission === 'object') {
        admission.permit?.ignore();
        admission.concurrency?.ignore();
      }
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#next(failure ?? gatewayFailure(attempt.status));
    }, retry.delay(attempt.number));
  }

  #answerFailure(failure: AttemptFailure): void {
    // After a streamed body upload failed, the connection's framing is unknown; don't reuse it
    // (nor one whose parser has given up on the body).
    sendError(
      this.#res,
      failure.code,
      failure.message,
      this.#requestId,
      (this.#body !== null && !Buffer.isBuffer(this.#body)) || this.#bodyFailed,
    );
    this.#finish(failure.outcome, 0, failure.code);
  }

  #answerOverloaded(): void {
    this.#answerRefusal(overloaded(this.#pool));
  }

  #answerAtLimit(limit: OverloadLimit): void {
    this.#answerRefusal(atLimit(this.#pool, limit));
  }

  #answerNoTarget(): void {
    this.#answerRefusal(noEligibleTarget(this.#pool));
  }

  #answerRefusal(refused: Refusal): void {
    const headers = refused.headers;
    if (headers !== undefined && !this.#res.headersSent) {
      for (const name in headers) this.#res.setHeader(name, headers[name]!);
    }
    sendError(
      this.#res,
      refused.code,
      refused.message,
      this.#requestId,
      this.#body !== null && !Buffer.isBuffer(this.#body),
    );
    this.#finish('rejected', 0, refused.code);
  }

  #bodyStillArriving(): boolean {
    const body = this.#body;
    return (
      body !== null && !Buffer.isBuffer(body) && !isHttp2Response(this.#res) && !this.#req.complete
    );
  }

  readonly #onClientClose = (): void => {
    if (this.#done) return;
    this.#clientGone = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const current = this.#current;
    // Between attempts (backoff) or still reading the body: nothing upstream to cancel. Or the
    // upstream is done and a spill file was feeding the client: #finish closes it.
    if (current === undefined || current.ended)
      this.#finish('aborted', current?.status ?? 0, undefined);
    // Not started yet by undici: it is aborted from onRequestStart.
    else current.abort(new ClientAbortedError());
  };

  /**
   * Settles the attempt's breaker permit once, with how the outcome counts against its target. A
   * failure carries what went wrong (`failure`, or the status) into the breaker's trip reason.
   */
  #settlePermit(attempt: Attempt, result: AttemptResult, failure?: AttemptFailure): void {
    const permit = attempt.permit;
    if (permit === undefined) return;
    attempt.permit = undefined;
    const verdict = classifyAttempt(result, this.#pool.failOn);
    if (verdict === 'success') permit.success();
    else if (verdict === 'failure') permit.failure(failure ?? failureOf(result));
    else permit.ignore();
  }

  /** Ends one attempt: one report per attempt, for breakers, metrics and attempt listeners. */
  #endAttempt(attempt: Attempt, outcome: AttemptOutcome): void {
    if (attempt.ended) return;
    attempt.ended = true;
    if (attempt.number > 1) this.#pool.retriesInFlight--;
    this.#settlePermit(attempt, resultOf(outcome, attempt.status));
    const target = attempt.target;
    target.activeRequests--;
    // A timeout is an answer too, as slow as they come; a refused or reset connection says
    // nothing about latency (outlier detection deals with those).
    if (outcome === 'timeout' && attempt.startedAt !== 0) {
      this.#pool.attemptAnswered(target, performance.now() - attempt.startedAt);
    }
    const concurrency = attempt.concurrency;
    if (concurrency !== undefined) {
      attempt.concurrency = undefined;
      // The slot is held until the attempt ends (the target is busy until its body is sent);
      // the latency sample is the time to response headers. A timeout is the overload signal.
      if (attempt.answeredAfter >= 0) concurrency.complete(attempt.answeredAfter);
      else if (outcome === 'timeout') concurrency.drop();
      else concurrency.ignore();
    }
    const host = this.#host;
    if (!host.attemptsObserved) return;
    host.reportAttempt(
      this.#pool,
      target,
      outcome,
      attempt.status,
      // A listener added while this attempt ran: its start was not timed.
      attempt.startedAt === 0 ? 0 : performance.now() - attempt.startedAt,
    );
  }

  /** Ends the request: access log, metrics, in-flight accounting. */
  #finish(outcome: AttemptOutcome, upstreamStatus: number, code: ProxyErrorCode | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#spill?.destroy();
    this.#spill = undefined;
    const current = this.#current;
    if (current !== undefined) this.#endAttempt(current, outcome);
    // A retry decided but never sent (client gone, refused, no target left).
    if (this.#retryReserved) {
      this.#retryReserved = false;
      this.#pool.retriesInFlight--;
    }
    const host = this.#host;
    try {
      host.accessLog.record({
        req: this.#req,
        status: loggedStatus(outcome, upstreamStatus, code),
        upstream: this.#pool.name,
        target: this.#lastTarget?.id,
        requestId: this.#requestId,
        start: this.#start,
        code,
        retries: Math.max(0, this.#attempts - 1),
      });
    } catch (error) {
      host.logger.error({ err: error, requestId: this.#requestId }, 'access log failed');
    } finally {
      // Whatever logging does, shutdown must not wait for an exchange that has ended.
      host.exchangeFinished();
    }
  }
}

/** A failed attempt in the words of a trip reason (`HTTP_503`; the rest have an AttemptFailure). */
function failureOf(result: AttemptResult): { code: string; message: string } {
  return result.kind === 'response'
    ? { code: `HTTP_${result.status}`, message: `the target answered ${result.status}` }
    : { code: result.kind, message: '' };
}

// What the client gets when a retried status (e.g. 503) was the last word and no target is left.
function gatewayFailure(status: number): AttemptFailure {
  return {
    outcome: 'response',
    code: status === 504 ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_ERROR',
    message: `Upstream answered ${status} and no other target could take the retry`,
  };
}
