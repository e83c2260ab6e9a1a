/**
 * A listen address is written `host:port` (`127.0.0.1:8080`, `[::1]:8080`, `:8080` for every
 * interface). Port 0 asks the OS for a free port, which is what tests use.
 */

/** A parsed `host:port`. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `host:port`, or returns `undefined` when it is not one.
 *
 * @example
 * parseListenAddress('127.0.0.1:8080'); // { host: '127.0.0.1', port: 8080 }
 * parseListenAddress('[::1]:0'); // { host: '::1', port: 0 }
 */
export function parseListenAddress(text: string): ListenAddress | undefined {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return undefined;
  let host = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65_535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else if (host.includes(':')) return undefined;
  if (host === '') host = '0.0.0.0';
  return { host, port };
}

/** Whether `host` can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
