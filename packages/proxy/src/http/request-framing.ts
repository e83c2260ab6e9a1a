/**
 * Request smuggling defence (RFC 9112 §6.1, §6.3, §3.2). node's parser already refuses most
 * ambiguous framings (duplicate or malformed Content-Length, Transfer-Encoding whose last coding
 * is not chunked); those arrive as `clientError`. What it lets through is checked here: the proxy
 * only forwards bodies it frames exactly like the upstream will, and only requests whose Host
 * every later hop reads the same way.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * Returns why a request's framing is unsafe to forward, or `undefined` when it is fine.
 *
 * @example
 * framingProblem({ 'transfer-encoding': 'chunked', 'content-length': '5' });
 * // 'both Content-Length and Transfer-Encoding'
 */
export function framingProblem(headers: IncomingHttpHeaders): string | undefined {
  const transferEncoding = headers['transfer-encoding'];
  if (transferEncoding === undefined) return undefined;
  if (headers['content-length'] !== undefined) return 'both Content-Length and Transfer-Encoding';
  if (transferEncoding !== 'chunked' && transferEncoding.toLowerCase() !== 'chunked') {
    return `unsupported Transfer-Encoding "${transferEncoding}" (only chunked is accepted)`;
  }
  return undefined;
}

/**
 * Returns why a request's protocol version makes its framing faulty, or `undefined`. HTTP/1.0
 * has no Transfer-Encoding: RFC 9112 §6.1 says to treat an HTTP/1.0 message carrying one as
 * faulty framing. HTTP/0.9 has neither a version in the request line nor header fields, so a
 * request line claiming `HTTP/0.9` (which is how a header-carrying one arrives) is malformed.
 *
 * @example
 * versionProblem({ httpVersionMajor: 1, httpVersionMinor: 0, headers: { 'transfer-encoding': 'chunked' } });
 * // 'Transfer-Encoding on an HTTP/1.0 request'
 */
export function versionProblem(
  req: Pick<IncomingMessage, 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>,
): string | undefined {
  if (req.httpVersionMajor === 0)
    return `HTTP/0.${req.httpVersionMinor} request line with header fields`;
  if (
    req.httpVersionMajor === 1 &&
    req.httpVersionMinor === 0 &&
    req.headers['transfer-encoding'] !== undefined
  ) {
    return 'Transfer-Encoding on an HTTP/1.0 request';
  }
  return undefined;
}

/**
 * Returns why a request's Host is unusable, or `undefined` when it is fine: an HTTP/1.1 request
 * must carry exactly one Host field (RFC 9112 §3.2). node keeps the first of several Host
 * fields and drops the rest, while another hop may take the last one, so routing would differ.
 * The node servers run with `requireHostHeader: false` so that the missing case gets the
 * proxy's JSON error instead of node's bare 400.
 *
 * @example
 * hostProblem(req); // 'more than one Host header field' for `Host: a` + `Host: b`
 */
export function hostProblem(
  req: Pick<IncomingMessage, 'headers' | 'rawHeaders' | 'httpVersionMajor' | 'httpVersionMinor'>,
): string | undefined {
  if (req.headers.host === undefined) {
    return req.httpVersionMajor === 1 && req.httpVersionMinor === 0
      ? undefined
      : 'HTTP/1.1 request without a Host header field';
  }
  // Runs on every request: compares lengths first, allocates nothing for the usual names.
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (
      name.length === 4 &&
      (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')
    ) {
      if (++hosts > 1) return 'more than one Host header field';
    }
  }
  return undefined;
}
