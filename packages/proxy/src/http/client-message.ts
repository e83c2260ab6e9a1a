/**
 * A client's request and the response to it, as either protocol delivers them: node:http's
 * `IncomingMessage`/`ServerResponse` for HTTP/1.1, or node:http2's compatibility
 * `Http2ServerRequest`/`Http2ServerResponse` for HTTP/2. They share the members the request path
 * uses (headers, url, method, socket address, writeHead/write/end/destroy, trailers, drain); the
 * few differences (no status message, no `Connection` header, no keep-alive flag in HTTP/2) are
 * handled where they matter, after {@link isHttp2}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A request from a client, HTTP/1.1 or HTTP/2. */
export type ProxiedRequest = IncomingMessage | Http2ServerRequest;
/** The response to a {@link ProxiedRequest}. */
export type ProxiedResponse = ServerResponse | Http2ServerResponse;

/**
 * Whether the request came over HTTP/2.
 *
 * @example
 * if (isHttp2(req)) req.stream.endAfterHeaders; // true when it has no body
 */
export function isHttp2(req: ProxiedRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** Whether the response goes out over HTTP/2 (see {@link isHttp2}). */
export function isHttp2Response(res: ProxiedResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

/**
 * Asks that the connection not be kept alive after this response (shutdown, an unread body).
 * HTTP/2 has no such flag per response: its connections are ended with GOAWAY by the listener.
 */
export function closeAfter(res: ProxiedResponse): void {
  if (!isHttp2Response(res)) res.shouldKeepAlive = false;
}

/** Whether the request arrived over TLS (an HTTPS listener, either protocol). */
export function isEncrypted(req: ProxiedRequest): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}
