/**
 * Header rewriting for a forwarding proxy (RFC 9110 §7.6): hop-by-hop fields are dropped in both
 * directions, including every field the Connection header names; X-Forwarded-*, Forwarded and
 * Via record the hop. What the client says about earlier hops (X-Forwarded-*, Forwarded) is kept
 * and appended to only when the connection comes from a trusted proxy; from anyone else it is
 * replaced, so a client cannot choose the address the upstream sees. HTTP/2 pseudo-headers
 * (`:method`, `:authority`…) never travel upstream. Runs once per request, so it is a switch over
 * lower-case names, not regexes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { forwardedElement } from './forwarded.ts';

/** Header values as undici and node:http accept them. */
export type HeaderMap = Record<string, string | string[]>;

/**
 * A proxy's entry in Via (RFC 9110 §7.6.3): `1.1 breakwater (<instance>)`. The instance id
 * tells this proxy's entry from another Breakwater's, so a request that comes back to the proxy
 * that already forwarded it is recognised (see {@link viaIncludes}).
 *
 * @example
 * viaEntry('5f3a9c01'); // '1.1 breakwater (5f3a9c01)'
 */
export function viaEntry(instance: string): string {
  return `1.1 breakwater (${instance})`;
}

/**
 * Whether a Via header (one field or several) already lists `entry`: the request has passed
 * through this proxy before, so forwarding it again would loop.
 *
 * @example
 * viaIncludes('1.1 edge, 1.1 breakwater (5f3a9c01)', '1.1 breakwater (5f3a9c01)'); // true
 */
export function viaIncludes(via: string | undefined, entry: string): boolean {
  if (via === undefined || !via.includes(entry)) return false;
  for (const part of via.split(',')) if (part.trim() === entry) return true;
  return false;
}

/** What a forwarded request says about where it came from. */
export interface ForwardContext {
  /** The client's address as the listener saw it. */
  readonly remoteAddress: string | undefined;
  /** `'http'` or `'https'`: the listener's protocol. */
  readonly protocol: string;
  /** The connection comes from `trustedProxies`: keep its X-Forwarded-* and Forwarded, append. */
  readonly trusted: boolean;
  /** Host sent upstream; `undefined` keeps the client's. */
  readonly hostOverride: string | undefined;
  readonly requestId: string;
  /** Keep Connection: upgrade and Upgrade (for a WebSocket hand-off). */
  readonly upgrade: boolean;
  /** This proxy's Via entry ({@link viaEntry}). */
  readonly via: string;
  /** Leave out fields whose names contain `_` (`underscoresInHeaders: drop`, see header-names.ts). */
  readonly dropUnderscoreNames: boolean;
}

/**
 * Builds the headers sent upstream from the client's request headers.
 *
 * @example
 * requestHeadersForUpstream(req.headers, {
 *   remoteAddress: '10.0.0.7', protocol: 'https', trusted: false, hostOverride: undefined,
 *   requestId: 'r1', upgrade: false, via: viaEntry('5f3a9c01'), dropUnderscoreNames: true,
 * });
 */
export function requestHeadersForUpstream(
  incoming: IncomingHttpHeaders,
  context: ForwardContext,
): HeaderMap {
  const out: HeaderMap = {};
  const named = connectionNamed(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || isHopByHop(name) || name.charCodeAt(0) === COLON) continue;
    if (context.dropUnderscoreNames && name.includes('_')) continue;
    switch (name) {
      case 'http2-settings':
      // 100-continue was already answered by node:http; undici rejects the header.
      case 'expect':
      case 'host':
      case 'x-forwarded-for':
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'forwarded':
      case 'via':
      case 'x-request-id':
        continue;
      case 'te':
        // Only "trailers" may travel beyond this hop (RFC 9110 §10.1.4).
        if (hasToken(String(value), 'trailers')) out.te = 'trailers';
        continue;
    }
    if (named?.includes(name)) continue;
    out[name] = value;
  }
  const clientHost = incoming.host;
  const host = context.hostOverride ?? clientHost;
  if (host !== undefined) out.host = host;
  const trusted = context.trusted;
  const priorFor = trusted ? joined(incoming['x-forwarded-for']) : undefined;
  const remote = context.remoteAddress ?? 'unknown';
  out['x-forwarded-for'] = priorFor === undefined ? remote : `${priorFor}, ${remote}`;
  const priorProto = trusted ? first(incoming['x-forwarded-proto']) : undefined;
  out['x-forwarded-proto'] = priorProto ?? context.protocol;
  const priorHost = trusted ? first(incoming['x-forwarded-host']) : undefined;
  const forwardedHost = priorHost ?? clientHost;
  if (forwardedHost !== undefined) out['x-forwarded-host'] = forwardedHost;
  // Forwarded (RFC 7239) only for upstreams that read it, i.e. when the client sent one.
  const priorForwarded = joined(incoming.forwarded);
  if (priorForwarded !== undefined) {
    const hop = forwardedElement({
      for: context.remoteAddress,
      proto: context.protocol,
      host: clientHost,
    });
    out.forwarded = trusted ? `${priorForwarded}, ${hop}` : hop;
  }
  const priorVia = incoming.via;
  out.via = priorVia === undefined ? context.via : `${priorVia}, ${context.via}`;
  out['x-request-id'] = context.requestId;
  if (context.upgrade && incoming.upgrade !== undefined) {
    out.connection = 'upgrade';
    out.upgrade = incoming.upgrade;
  }
  return out;
}

/**
 * Filters an upstream response's headers for the client and adds Via and X-Request-Id.
 *
 * @example
 * responseHeadersForClient({ 'content-type': 'text/plain', connection: 'close' }, 'r1', ownVia);
 * // { 'content-type': 'text/plain', via: '1.1 breakwater (…)', 'x-request-id': 'r1' }
 */
export function responseHeadersForClient(
  incoming: Record<string, string | string[] | undefined>,
  requestId: string,
  ownVia: string,
): HeaderMap {
  const out: HeaderMap = {};
  const connection = incoming.connection;
  const named = connectionNamed(Array.isArray(connection) ? connection.join(',') : connection);
  let via: string | string[] | undefined;
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || isHopByHop(name)) continue;
    switch (name) {
      case 'te':
        continue;
      case 'via':
        via = value;
        continue;
    }
    if (named?.includes(name)) continue;
    out[name] = value;
  }
  out.via = via === undefined ? ownVia : `${Array.isArray(via) ? via.join(', ') : via}, ${ownVia}`;
  out['x-request-id'] = requestId;
  return out;
}

const COLON = 0x3a;

/** A list-valued field as one comma-separated value (node joins most, but not unknown ones). */
function joined(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The first value of a singleton field sent more than once. */
function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

// The fields RFC 9110 §7.6.1 defines for one hop only, dropped in both directions; Upgrade is
// put back for a WebSocket hand-off. TE differs per direction, so each caller handles it.
function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'trailer':
      return true;
  }
  return false;
}

// Connection carries options (close, keep-alive) and names of hop-by-hop fields. The common
// values allocate nothing.
function connectionNamed(connection: string | undefined): string[] | undefined {
  if (connection === undefined) return undefined;
  switch (connection) {
    case 'keep-alive':
    case 'close':
    case 'Keep-Alive':
    case 'Close':
    case 'upgrade':
    case 'Upgrade':
      return undefined;
  }
  const names: string[] = [];
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive') names.push(name);
  }
  return names.length === 0 ? undefined : names;
}

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) {
    const trimmed = part.trim().toLowerCase();
    if (trimmed === token || trimmed.startsWith(`${token};`)) return true;
  }
  return false;
}
