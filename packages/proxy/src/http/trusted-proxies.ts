/**
 * Which peers may tell us who the client is. A request's `Forwarded` and `X-Forwarded-*` fields
 * are believed only when the connection comes from an address in `trustedProxies` (a load
 * balancer or CDN in front of us); from anyone else they are replaced, so a client cannot spoof
 * its address. The list is CIDR ranges (`10.0.0.0/8`, `fd00::/8`) or single addresses; an IPv4
 * range also covers the IPv4-mapped IPv6 form (`::ffff:10.1.2.3`) a dual-stack socket reports.
 * Matching is Node's `BlockList`, built once per config.
 */
import { BlockList, isIP } from 'node:net';
import type { Cidr } from '../config/cidr.ts';

/**
 * The trusted proxy ranges.
 *
 * @example
 * const trusted = new TrustedProxies([parseCidr('10.0.0.0/8')!]);
 * trusted.trusts('10.1.2.3'); // true
 * trusted.trusts('203.0.113.9'); // false
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #empty: boolean;

  constructor(ranges: readonly Cidr[]) {
    for (const { address, prefix, family } of ranges) this.#list.addSubnet(address, prefix, family);
    this.#empty = ranges.length === 0;
  }

  /** Whether a connection from `address` may speak for the client. */
  trusts(address: string | undefined): boolean {
    if (this.#empty || address === undefined) return false;
    const version = isIP(address);
    if (version === 0) return false;
    return this.#list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}
