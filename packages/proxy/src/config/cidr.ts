/**
 * An address range written `address/prefix` (`10.0.0.0/8`, `fd00::/8`) or a single address (a
 * range of one), as `trustedProxies` lists them.
 */
import { isIP } from 'node:net';

/** One parsed range. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/**
 * Parses `address/prefix` or a bare address, or returns `undefined`.
 *
 * @example
 * parseCidr('10.0.0.0/8'); // { address: '10.0.0.0', prefix: 8, family: 'ipv4' }
 * parseCidr('::1'); // { address: '::1', prefix: 128, family: 'ipv6' }
 * parseCidr('10.0.0.0/33'); // undefined
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return undefined;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= max ? { address, prefix, family } : undefined;
}
