/**
 * Requests node's HTTP parser refuses (malformed or ambiguous framing, oversized headers, a
 * request that took too long) never reach the forwarder. They get the same JSON error shape as
 * everything else and the connection is closed, so nothing ambiguous is ever forwarded.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../logger.ts';
import { destroyUnlessClosed, endWithDeadline } from './close-deadline.ts';
import { type ProxyErrorCode, rawErrorResponse } from './proxy-error.ts';
import { afterResponses, responseInFlight } from './responses-in-flight.ts';

/** What a `clientError` listener works with besides the logger. */
export interface ClientErrorOptions {
  /** Client sockets already answered with an error and `Connection: close`. */
  readonly answered: WeakSet<object>;
  /**
   * Hands a parser error in the middle of a request body (`code`: node's) to the request it
   * belongs to, which has perhaps been forwarded already and must abort its upstream request;
   * true when that request answers the client itself.
   */
  readonly bodyFailed?: ((socket: Duplex, code: string) => boolean) | undefined;
  /**
   * True when node's request timeout hit a request that waits its turn behind a response on its
   * connection (pipelined): the wait is not the client's doing, and the timeout is ignored.
   */
  readonly timedOutWaiting?: ((socket: Duplex, code: string) => boolean) | undefined;
  /**
   * True when the parser error is in the body of a request that waits its turn behind a
   * response (pipelined): that request answers the client itself in its turn.
   */
  readonly waitingBodyFailed?: ((socket: Duplex, code: string) => boolean) | undefined;
  /** Told of each request this listener refuses with an error response (for the metrics). */
  readonly refused?: ((code: ProxyErrorCode) => void) | undefined;
}

/**
 * Builds a `clientError` listener.
 *
 * @example
 * server.on('clientError', clientErrorListener(logger, { answered, bodyFailed, refused }));
 */
export function clientErrorListener(
  logger: Logger,
  {
    answered,
    bodyFailed = () => false,
    timedOutWaiting,
    waitingBodyFailed,
    refused,
  }: ClientErrorOptions,
): (error: Error, socket: Duplex) => void {
  // Sockets whose error response waits for the responses in flight before it (see below).
  const deferred = new WeakSet<object>();
  return (error, socket) => {
    const code = 'code' in error ? String(error.code) : '';
    if (code === 'ECONNRESET' || !socket.writable) {
      // The connection is gone; a request reading its body fails with it (its stream aborts).
      socket.destroy();
      return;
    }
    // The parser stays failed and reports again for every later read: answered once already.
    if (deferred.has(socket)) return;
    if (timedOutWaiting?.(socket, code) === true) {
      logger.info(
        { code, remoteAddress: socketAddress(socket) },
        'request timeout ignored: the request waits its turn behind a pipelined response',
      );
      return;
    }
    if (waitingBodyFailed?.(socket, code) === true) {
      // No timer here: the responses ahead may take their time; the 400 closes the connection.
      // The parser reports again on later reads: that request answers, once.
      deferred.add(socket);
      logger.warn(
        { code, remoteAddress: socketAddress(socket), reason: error.message },
        'request body failed while the request waits its turn; answered 400 in its turn',
      );
      return;
    }
    if (bodyFailed(socket, code)) {
      logger.warn(
        { code, remoteAddress: socketAddress(socket), reason: error.message },
        'request body failed; upstream request aborted',
      );
      // The request answers the client; the socket still must not stay pinned after it.
      destroyUnlessClosed(socket);
      return;
    }
    // The parser may fail after the forwarder already answered this connection (it sees the
    // head first, then the framing error); a second response would corrupt the stream. That
    // answer, and those of requests pipelined before it, still go out whole before the close.
    if (answered.has(socket)) {
      logger.debug({ code, reason: error.message }, 'parser error after a response; closing');
      deferred.add(socket);
      afterResponses(socket, () => socket.end());
      return;
    }
    let errorCode: ProxyErrorCode = 'BAD_REQUEST';
    let message = 'Malformed request';
    switch (code) {
      case 'HPE_HEADER_OVERFLOW':
        errorCode = 'HEADERS_TOO_LARGE';
        message = 'Request headers exceed limits.maxHeaderSize';
        break;
      case 'ERR_HTTP_REQUEST_TIMEOUT':
        errorCode = 'REQUEST_TIMEOUT';
        message = 'Request was not received within limits.headersTimeout / limits.requestTimeout';
        break;
      case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      case 'HPE_INVALID_CONTENT_LENGTH':
      case 'HPE_INVALID_TRANSFER_ENCODING':
        message = `Rejected request framing (${code})`;
        break;
      default:
        if (code !== '') message = `Malformed request (${code})`;
    }
    logger.warn(
      { code, remoteAddress: socketAddress(socket), reason: error.message },
      'rejected malformed request',
    );
    refused?.(errorCode);
    const answer = () => endWithDeadline(socket, rawErrorResponse(errorCode, message));
    // Requests pipelined before this one are still being answered: their responses go out
    // whole and in order first (as nginx does); written now, the error would reach the client
    // as the answer to one of them, or in the middle of one.
    if (responseInFlight(socket) === undefined) answer();
    else {
      deferred.add(socket);
      afterResponses(socket, answer);
    }
  };
}

function socketAddress(socket: Duplex): string | undefined {
  return 'remoteAddress' in socket && typeof socket.remoteAddress === 'string'
    ? socket.remoteAddress
    : undefined;
}
