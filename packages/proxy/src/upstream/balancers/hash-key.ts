/**
 * Where a consistent-hash balancer finds a request's key: the `hashOn` option.
 *
 * - `header:NAME` — the first value of request header NAME (case-insensitive).
 * - `cookie:NAME` — the value of cookie NAME (case-sensitive, as cookies are).
 * - `ip` — the client address the listener saw.
 * - `path` — the request path without its query string, so `/img/1.png?v=2` and
 *   `/img/1.png?v=3` land on the same cache.
 */
import { InvalidOptionError } from 'breakwater';
import type { BalancedRequest } from './balancer.ts';

/** A parsed `hashOn` value. */
export type HashOn =
  | { readonly source: 'header'; readonly name: string }
  | { readonly source: 'cookie'; readonly name: string }
  | { readonly source: 'ip' }
  | { readonly source: 'path' };

// RFC 9110 token characters: what a header name may contain.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Cookie names seen in the wild stray outside the token grammar; only what would break the
// Cookie header's own syntax is refused.
const COOKIE_NAME = /^[^\s;=,]+$/;
const EXPECTED = '"header:NAME", "cookie:NAME", "ip" or "path"';

/**
 * Parses a `hashOn` option, throwing an {@link InvalidOptionError} (code `ERR_INVALID_OPTION`)
 * that names the option and the bad value.
 *
 * @example
 * ```ts
 * parseHashOn('header:X-User-Id'); // { source: 'header', name: 'x-user-id' }
 * parseHashOn('cookie:session');   // { source: 'cookie', name: 'session' }
 * ```
 */
export function parseHashOn(text: string, option = 'hashOn'): HashOn {
  if (text === 'ip') return { source: 'ip' };
  if (text === 'path') return { source: 'path' };
  const colon = typeof text === 'string' ? text.indexOf(':') : -1;
  if (colon > 0) {
    const source = text.slice(0, colon);
    const name = text.slice(colon + 1);
    if (source === 'header' && TOKEN.test(name)) return { source, name: name.toLowerCase() };
    if (source === 'cookie' && COOKIE_NAME.test(name)) return { source, name };
  }
  throw new InvalidOptionError(option, EXPECTED, text);
}

/**
 * The request's key for `hashOn`, or `undefined` when the request has none (no such header or
 * cookie, an empty value, or no known client address).
 *
 * @example
 * ```ts
 * hashKeyOf({ source: 'path' }, request); // '/img/1.png'
 * ```
 */
export function hashKeyOf(hashOn: HashOn, request: BalancedRequest): string | undefined {
  switch (hashOn.source) {
    case 'ip':
      return request.remoteAddress || undefined;
    case 'path': {
      const query = request.path.indexOf('?');
      return query === -1 ? request.path : request.path.slice(0, query);
    }
    case 'header': {
      const value = request.headers[hashOn.name];
      const first = Array.isArray(value) ? value[0] : value;
      return first || undefined;
    }
    case 'cookie':
      return cookieValue(request.headers.cookie, hashOn.name);
  }
}

/** Finds one cookie in a `Cookie` header without splitting the whole header into an array. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let at = 0;
  while (at < header.length) {
    while (header.charCodeAt(at) === 0x20 || header.charCodeAt(at) === 0x3b) at++;
    let end = header.indexOf(';', at);
    if (end === -1) end = header.length;
    if (
      header.charCodeAt(at + name.length) === 0x3d &&
      header.startsWith(name, at) &&
      at + name.length < end
    ) {
      let value = header.slice(at + name.length + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      return value || undefined;
    }
    at = end + 1;
  }
  return undefined;
}
