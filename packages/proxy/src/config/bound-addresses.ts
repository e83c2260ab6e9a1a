/**
 * The addresses a config binds, each with the config path it came from, so a start failure or a
 * validation finding names the line to fix; and the check `validate` runs on them that needs the
 * network: every listen host must resolve. When DNS itself cannot be reached the answer is
 * unknown, so that is a warning, not an error.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConfigIssue } from './config-error.ts';
import type { ListenAddress } from './listen-address.ts';
import type { ProxyConfig } from './schema.ts';

/** One address the proxy binds and where the config says so (`listen[1]`, `admin.listen`). */
export interface BoundAddress {
  readonly path: string;
  readonly address: ListenAddress;
}

/**
 * Every address `config` binds, listeners first.
 *
 * @example
 * boundAddresses(config); // [{ path: 'listen', address: { host: '0.0.0.0', port: 8080 } }, …]
 */
export function boundAddresses(config: Pick<ProxyConfig, 'listen' | 'admin'>): BoundAddress[] {
  const bound = config.listen.map((address, index) => ({
    path: config.listen.length === 1 ? 'listen' : `listen[${index}]`,
    address,
  }));
  if (config.admin !== undefined)
    bound.push({ path: 'admin.listen', address: config.admin.listen });
  return bound;
}

/** `host:port`, with brackets around an IPv6 host. */
export function formatAddress(address: ListenAddress): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/** Findings of {@link checkListenHosts}: errors fail validation, warnings do not. */
export interface HostCheck {
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/** `lookup` as {@link checkListenHosts} uses it; tests pass their own. */
export type HostLookup = (host: string) => Promise<unknown>;

// Answers that mean "DNS could not be asked", not "the name does not exist".
const DNS_UNREACHABLE = new Set(['EAI_AGAIN', 'ETIMEOUT', 'ECONNREFUSED', 'ESERVFAIL', 'EAI_FAIL']);

/**
 * Resolves every listen host that is a name rather than an address. A name that does not exist
 * is an error; one that could not be checked because DNS is unreachable is a warning.
 *
 * @example
 * const { errors, warnings } = await checkListenHosts(config);
 */
export async function checkListenHosts(
  config: Pick<ProxyConfig, 'listen' | 'admin'>,
  lookup: HostLookup = dnsLookup,
): Promise<HostCheck> {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  await Promise.all(
    boundAddresses(config).map(async ({ path, address }) => {
      if (isIP(address.host) !== 0) return;
      try {
        await lookup(address.host);
      } catch (error) {
        const code =
          typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
        if (DNS_UNREACHABLE.has(code)) {
          warnings.push({
            path,
            message: `could not check that ${address.host} resolves: DNS is unreachable (${code})`,
          });
        } else {
          errors.push({
            path,
            message: `host ${address.host} does not resolve (${code || String(error)}); the proxy could not listen on it`,
          });
        }
      }
    }),
  );
  return { errors, warnings };
}
