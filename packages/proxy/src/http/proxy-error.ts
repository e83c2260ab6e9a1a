/**
 * Every response the proxy makes up itself is a small JSON body with a stable `code`, so clients
 * and dashboards branch on codes, and the request id ties it to the access log.
 */
import { isHttp2Response, type ProxiedResponse } from './client-message.ts';

/** Stable codes of proxy-generated error responses. */
export type ProxyErrorCode =
  | 'NO_ROUTE'
  | 'NO_HEALTHY_TARGET'
  | 'UPSTREAM_CONNECT_FAILED'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_RESET'
  | 'UPSTREAM_ERROR'
  | 'BODY_TOO_LARGE'
  | 'BAD_REQUEST'
  | 'MALFORMED_BODY'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'EXPECTATION_FAILED'
  | 'LOOP_DETECTED'
  | 'SHUTTING_DOWN'
  | 'OVERLOADED'
  | 'TOO_MANY_PIPELINED';

/** The HTTP status each code is answered with. */
export const statusOf: Readonly<Record<ProxyErrorCode, number>> = {
  NO_ROUTE: 404,
  NO_HEALTHY_TARGET: 503,
  UPSTREAM_CONNECT_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_RESET: 502,
  UPSTREAM_ERROR: 502,
  BODY_TOO_LARGE: 413,
  BAD_REQUEST: 400,
  MALFORMED_BODY: 400,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  EXPECTATION_FAILED: 417,
  // RFC 5842 §7.2: the request came back to a proxy that had already forwarded it.
  LOOP_DETECTED: 508,
  SHUTTING_DOWN: 503,
  OVERLOADED: 503,
  // More HTTP/1.1 requests pipelined on one connection than wait their turn there.
  TOO_MANY_PIPELINED: 429,
};

/**
 * The JSON body of a proxy-generated error.
 *
 * @example
 * errorBody('NO_ROUTE', 'No route for GET /x', 'b1c…');
 * // '{"error":{"code":"NO_ROUTE","message":"No route for GET /x","requestId":"b1c…"}}'
 */
export function errorBody(
  code: ProxyErrorCode,
  message: string,
  requestId: string | undefined,
): string {
  return JSON.stringify({ error: { code, message, requestId } });
}

/**
 * Sends a proxy-generated error. `close` asks the client to drop the connection (after framing
 * errors or an unread body, reusing it would be unsafe or wasteful).
 */
export function sendError(
  res: ProxiedResponse,
  code: ProxyErrorCode,
  message: string,
  requestId: string | undefined,
  close = false,
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = errorBody(code, message, requestId);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  // HTTP/2 has no Connection header (RFC 9113 §8.2.2): one stream's error never closes the
  // connection its neighbours share.
  if (close && !isHttp2Response(res)) {
    headers.connection = 'close';
    res.shouldKeepAlive = false;
  }
  if (isHttp2Response(res)) res.writeHead(statusOf[code], headers);
  else res.writeHead(statusOf[code], headers);
  res.end(body);
}

/**
 * A raw HTTP/1.1 error response for a socket that has no `ServerResponse` (parser errors,
 * refused upgrades and CONNECT). Always closes the connection. `extraHeaders` are complete
 * header lines, each ending in CRLF.
 *
 * @example
 * socket.end(rawErrorResponse('METHOD_NOT_ALLOWED', 'CONNECT is not supported', id, 'allow: GET\r\n'));
 */
export function rawErrorResponse(
  code: ProxyErrorCode,
  message: string,
  requestId?: string,
  extraHeaders = '',
): string {
  const body = errorBody(code, message, requestId);
  const status = statusOf[code];
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    (requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`) +
    extraHeaders +
    'connection: close\r\n\r\n' +
    body
  );
}

function reasonPhrase(status: number): string {
  switch (status) {
    case 400:
      return 'Bad Request';
    case 404:
      return 'Not Found';
    case 405:
      return 'Method Not Allowed';
    case 408:
      return 'Request Timeout';
    case 413:
      return 'Content Too Large';
    case 417:
      return 'Expectation Failed';
    case 431:
      return 'Request Header Fields Too Large';
    case 502:
      return 'Bad Gateway';
    case 503:
      return 'Service Unavailable';
    case 504:
      return 'Gateway Timeout';
    case 508:
      return 'Loop Detected';
    default:
      return 'Error';
  }
}
