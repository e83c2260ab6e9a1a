/**
 * Request smuggling defence (RFC 9112 §6.1, §6.3). node's parser already refuses most ambiguous
 * framings (duplicate or malformed Content-Length, Transfer-Encoding whose last coding is not
 * chunked); those arrive as `clientError`. What it lets through is checked here: the proxy only
 * forwards bodies it frames exactly like the upstream will.
 */
import type { IncomingHttpHeaders } from 'node:http';

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
