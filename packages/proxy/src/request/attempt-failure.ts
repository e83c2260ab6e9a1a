/**
 * Turns an error from undici (or from the request body stream) into an attempt outcome, in the
 * vocabulary of `upstream/attempt-result.ts`, plus the error code and message the client gets.
 * "What happened to this attempt?" is kept apart from "what do we do about it?".
 */

import type { ProxyErrorCode } from '../http/proxy-error.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';
import { BodyTimeoutError, BodyTooLargeError, MalformedBodyError } from './request-body.ts';

/** An attempt that failed before or during the response, with what the client should get. */
export interface AttemptFailure {
  readonly outcome: AttemptOutcome;
  readonly code: ProxyErrorCode;
  readonly message: string;
}

/** A client disconnected while its request was in flight. */
export class ClientAbortedError extends Error {
  readonly code = 'ERR_CLIENT_ABORTED';
  constructor() {
    super('Client closed the connection');
  }
}

/**
 * Classifies an error from undici (or the request body stream) into an {@link AttemptFailure}.
 *
 * @example
 * classifyError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })).code; // 'UPSTREAM_CONNECT_FAILED'
 */
export function classifyError(error: unknown): AttemptFailure {
  if (error instanceof BodyTooLargeError) {
    return { outcome: 'rejected', code: 'BODY_TOO_LARGE', message: error.message };
  }
  if (error instanceof MalformedBodyError) {
    return { outcome: 'rejected', code: 'MALFORMED_BODY', message: error.message };
  }
  if (error instanceof BodyTimeoutError) {
    return { outcome: 'rejected', code: 'REQUEST_TIMEOUT', message: error.message };
  }
  if (error instanceof ClientAbortedError) {
    return { outcome: 'aborted', code: 'BAD_REQUEST', message: error.message };
  }
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return {
        outcome: 'connect-error',
        code: 'UPSTREAM_CONNECT_FAILED',
        message: `Cannot connect to upstream (${code})`,
      };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return {
        outcome: 'connect-error',
        code: 'UPSTREAM_CONNECT_FAILED',
        message: 'Upstream connect timed out',
      };
    case 'UND_ERR_HEADERS_TIMEOUT':
      return {
        outcome: 'timeout',
        code: 'UPSTREAM_TIMEOUT',
        message: 'Upstream did not respond in time',
      };
    case 'UND_ERR_BODY_TIMEOUT':
      return {
        outcome: 'timeout',
        code: 'UPSTREAM_TIMEOUT',
        message: 'Upstream response body stalled',
      };
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return { outcome: 'reset', code: 'UPSTREAM_RESET', message: 'Upstream connection was reset' };
    case 'UND_ERR_INVALID_ARG':
    case 'UND_ERR_NOT_SUPPORTED':
      // undici refused the request as given (a header or target it will not send).
      return {
        outcome: 'rejected',
        code: 'BAD_REQUEST',
        message: `Request cannot be forwarded: ${error instanceof Error ? error.message : code}`,
      };
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    case 'ERR_STREAM_PREMATURE_CLOSE':
    case 'UND_ERR_ABORTED':
      return { outcome: 'aborted', code: 'BAD_REQUEST', message: 'Request body ended early' };
    default: {
      const message = error instanceof Error ? error.message : String(error);
      return { outcome: 'reset', code: 'UPSTREAM_ERROR', message: `Upstream error: ${message}` };
    }
  }
}
