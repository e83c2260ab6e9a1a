/**
 * One element of the `Forwarded` header (RFC 7239): `for=…;proto=…;host=…`. Values that are not
 * a plain token are quoted (§4), and an IPv6 address is bracketed inside the quotes (§6), so
 * `for="[2001:db8::1]"`. A port or a colon in the host always needs quotes.
 */

/** What this hop says about the request it received. */
export interface ForwardedHop {
  /** The address the connection came from. */
  readonly for: string | undefined;
  /** `http` or `https`: how the request reached this hop. */
  readonly proto: string;
  /** The Host the client asked for. */
  readonly host: string | undefined;
}

// RFC 9110 §5.6.2 tchar.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Formats one `Forwarded` element.
 *
 * @example
 * forwardedElement({ for: '192.0.2.60', proto: 'http', host: 'example.com' }); // 'for=192.0.2.60;proto=http;host=example.com'
 * forwardedElement({ for: '::1', proto: 'https', host: 'api.test:8443' }); // 'for="[::1]";proto=https;host="api.test:8443"'
 */
export function forwardedElement(hop: ForwardedHop): string {
  const node = hop.for === undefined ? 'unknown' : hop.for.includes(':') ? `[${hop.for}]` : hop.for;
  const parts = [`for=${value(node)}`, `proto=${value(hop.proto)}`];
  if (hop.host !== undefined) parts.push(`host=${value(hop.host)}`);
  return parts.join(';');
}

function value(text: string): string {
  return TOKEN.test(text) ? text : `"${text.replace(/["\\]/g, '\\$&')}"`;
}
