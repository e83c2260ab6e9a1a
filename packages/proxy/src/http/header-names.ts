/**
 * Header names that a later hop may read differently from this proxy. Many frameworks (CGI,
 * PHP, Rails, WSGI servers) map `_` to `-` and fold case, so `Content_Length` or
 * `Transfer_Encoding` can become framing there while the proxy saw an ordinary field, and a few
 * parsers collapse repeated dashes (`Transfer---Encoding`). A look-alike of a framing field is
 * always refused: no client has a reason to send one. Other names with underscores follow
 * `underscoresInHeaders`, nginx's `underscores_in_headers`: dropped by default, as nginx does.
 */

import type { UnderscoreRule } from '../config/choices.ts';

const FRAMING = ['contentlength', 'transferencoding'];

/**
 * Whether `name` is a look-alike of Content-Length or Transfer-Encoding: the same letters with
 * other separators (`_`, several dashes, none, dots…), but not the field itself.
 *
 * @example
 * isFramingLookAlike('Content_Length'); // true
 * isFramingLookAlike('Transfer---Encoding'); // true
 * isFramingLookAlike('content-length'); // false
 */
export function isFramingLookAlike(name: string): boolean {
  // Cheap rejections first: this runs on every header of every request.
  if (name.length < 13) return false;
  const first = name.charCodeAt(0) | 0x20;
  if (first !== 0x63 /* c */ && first !== 0x74 /* t */) return false;
  const lower = name.toLowerCase();
  if (lower === 'content-length' || lower === 'transfer-encoding') return false;
  return FRAMING.includes(lower.replace(/[^a-z]/g, ''));
}

/**
 * Why a request's header names make it unsafe to forward, or `undefined`. `rawHeaders` is node's
 * flat `[name, value, name, value…]` list, so each field is seen as the client wrote it.
 *
 * @example
 * headerNameProblem(['Host', 'a', 'Content_Length', '5'], 'drop');
 * // 'look-alike of a framing header field: "Content_Length"'
 */
export function headerNameProblem(
  rawHeaders: readonly string[],
  underscores: UnderscoreRule,
): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (isFramingLookAlike(name)) {
      return `look-alike of a framing header field: ${JSON.stringify(name)}`;
    }
    if (underscores === 'refuse' && name.includes('_')) {
      return `header name with an underscore: ${JSON.stringify(name)} (underscoresInHeaders: refuse)`;
    }
  }
  return undefined;
}
