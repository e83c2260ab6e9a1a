/**
 * Listen addresses that cannot all be bound, found when the config is validated rather than
 * when the proxy starts: the same address twice in `listen`, or `admin.listen` on a listener's
 * address. A wildcard host (`0.0.0.0`, `::`, or `:8080`) takes the port on every interface, so it
 * collides with any host on that port. Port 0 (a free port chosen by the OS) never collides.
 */

import { formatAddress } from './bound-addresses.ts';
import { type ConfigIssue, formatPath } from './config-error.ts';
import { type ListenAddress, parseListenAddress } from './listen-address.ts';

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

function collide(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host === b.host || WILDCARDS.has(a.host) || WILDCARDS.has(b.host);
}

/**
 * Issues for colliding listen addresses, given the raw (unvalidated) `listen` and `admin` values;
 * anything that does not parse is left to the schema.
 *
 * @example
 * listenConflicts(['127.0.0.1:8080', '127.0.0.1:8080'], undefined);
 * // [{ path: 'listen[1]', message: 'same address as listen[0] (127.0.0.1:8080): …' }]
 */
export function listenConflicts(listen: unknown, admin: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const items: unknown[] = Array.isArray(listen) ? listen : [listen];
  const bound: { path: string; address: ListenAddress }[] = [];
  items.forEach((item, index) => {
    const address = typeof item === 'string' ? parseListenAddress(item) : undefined;
    if (address === undefined) return;
    const path = Array.isArray(listen) ? formatPath(['listen', index]) : 'listen';
    const earlier = bound.find((b) => collide(b.address, address) || collide(address, b.address));
    if (earlier !== undefined) {
      issues.push({
        path,
        message: `${formatAddress(address)} collides with ${earlier.path} (${formatAddress(earlier.address)}): both cannot be bound`,
      });
    } else bound.push({ path, address });
  });
  const adminListen =
    admin !== null && typeof admin === 'object' && !Array.isArray(admin)
      ? ((admin as Record<string, unknown>).listen ?? '127.0.0.1:9901')
      : undefined;
  const adminAddress =
    typeof adminListen === 'string' ? parseListenAddress(adminListen) : undefined;
  if (adminAddress !== undefined) {
    const clash = bound.find(
      (b) => collide(b.address, adminAddress) || collide(adminAddress, b.address),
    );
    if (clash !== undefined) {
      issues.push({
        path: 'admin.listen',
        message: `${formatAddress(adminAddress)} collides with ${clash.path} (${formatAddress(clash.address)}): the admin listener needs an address of its own`,
      });
    }
  }
  return issues;
}
