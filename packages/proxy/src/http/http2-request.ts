/**
 * What an HTTP/2 request must look like before the proxy forwards it as HTTP/1.1 (RFC 9113
 * §8.3.1): `:authority` becomes Host, and a Host that names another server than `:authority` is
 * malformed. Its header list is measured the way HTTP/2 measures it (name + value + 32 per field,
 * §6.5.2) against the listener's `maxHeaderSize`, because nghttp2 enforces our advertised limit
 * only from clients that have acknowledged our SETTINGS. Connection-specific fields and a `te`
 * other than `trailers` never get here: nghttp2 resets such a stream itself (§8.2.2).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Why an HTTP/2 request cannot be forwarded. */
export type Http2RequestProblem =
  | { readonly code: 'HEADERS_TOO_LARGE'; readonly message: string }
  | { readonly code: 'BAD_REQUEST'; readonly message: string };

/**
 * Gives `headers` the Host an HTTP/1.1 upstream and the router expect, or says why it cannot be
 * forwarded. `rawHeaders` is the flat name/value list of the request, pseudo-headers included.
 *
 * @example
 * const problem = adoptAuthority(req.headers, req.rawHeaders, 16_384);
 * if (problem) sendError(res, problem.code, problem.message, requestId);
 * else req.headers.host; // the :authority
 */
export function adoptAuthority(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  maxHeaderSize: number,
): Http2RequestProblem | undefined {
  let size = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    size += rawHeaders[i]!.length + (rawHeaders[i + 1]?.length ?? 0) + 32;
  }
  if (size > maxHeaderSize) {
    return {
      code: 'HEADERS_TOO_LARGE',
      message: `Request header list of ${size} bytes exceeds ${maxHeaderSize}`,
    };
  }
  const authority = headers[':authority'];
  const host = headers.host;
  if (typeof authority === 'string') {
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase()) {
      return {
        code: 'BAD_REQUEST',
        message: `Host ${JSON.stringify(host)} differs from :authority ${JSON.stringify(authority)}`,
      };
    }
    headers.host = authority;
  }
  return undefined;
}
