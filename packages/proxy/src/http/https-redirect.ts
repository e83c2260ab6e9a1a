/**
 * Where a plain-HTTP listener with `redirectToHttps` sends a client: the same host and request
 * target on the TLS listener, with 308 so the method and body are kept (RFC 9110 §15.4.9). The
 * Host header is the client's, so it is checked to be a host name or address (and an optional
 * port) before it goes into a Location: anything else is a 400, never a redirect elsewhere.
 */

// A reg-name or IPv4 address (RFC 3986 §3.2.2), or a bracketed IPv6 literal, then an optional port.
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The Location for `host` and `target` on an HTTPS listener at `httpsPort`, or `undefined` when
 * the Host header is not a host (the caller answers 400).
 *
 * @example
 * httpsLocation('api.example.com:8080', '/v1/items?x=1', 8443); // 'https://api.example.com:8443/v1/items?x=1'
 * httpsLocation('api.example.com', '/', 443); // 'https://api.example.com/'
 */
export function httpsLocation(
  host: string | undefined,
  target: string,
  httpsPort: number,
): string | undefined {
  if (host === undefined || !HOST.test(host)) return undefined;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  // An absolute-form target (a proxy-style request) keeps only its path and query.
  const path = target.startsWith('/') ? target : pathOf(target);
  return `https://${name}${port}${path}`;
}

function pathOf(target: string): string {
  try {
    const url = new URL(target);
    return `${url.pathname}${url.search}`;
  } catch {
    return '/';
  }
}
