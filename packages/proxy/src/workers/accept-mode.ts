/**
 * Whether `cluster.accept` can be honoured here, checked when a cluster starts: `reuse-port`
 * needs `SO_REUSEPORT` spread over sockets (Linux; Node ≥ 23.1 passes `reusePort` through), and
 * fixed ports, because a worker binding port 0 gets a random port of its own and the workers
 * would no longer share one. Refused with a config error naming `cluster.accept` rather than
 * falling back to round robin silently.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from '../config/config-error.ts';
import type { ProxyConfig } from '../config/schema.ts';

/** Where the check runs; the defaults are this process's. */
export interface AcceptPlatform {
  readonly platform: NodeJS.Platform;
  /** `process.versions.node`, e.g. `24.21.0`. */
  readonly nodeVersion: string;
}

const REUSE_PORT_SINCE: readonly [number, number] = [23, 1];

function nodeHasReusePort(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [wantMajor, wantMinor] = REUSE_PORT_SINCE;
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

/**
 * What stops `config.cluster.accept` from working on `platform`; empty when nothing does.
 *
 * @example
 * ```ts
 * acceptIssues(config, { platform: 'darwin', nodeVersion: '24.0.0' });
 * // [{ path: 'cluster.accept', message: 'reuse-port needs Linux …' }]
 * ```
 */
export function acceptIssues(
  config: Pick<ProxyConfig, 'cluster' | 'listen'>,
  platform: AcceptPlatform = { platform: process.platform, nodeVersion: process.versions.node },
): ConfigIssue[] {
  if (config.cluster.accept !== 'reuse-port') return [];
  const issues: ConfigIssue[] = [];
  const path = 'cluster.accept';
  if (platform.platform !== 'linux') {
    issues.push({
      path,
      message: `reuse-port needs Linux (SO_REUSEPORT spreading connections over sockets); this is ${platform.platform}: use round-robin`,
    });
  }
  if (!nodeHasReusePort(platform.nodeVersion)) {
    issues.push({
      path,
      message: `reuse-port needs Node ${REUSE_PORT_SINCE.join('.')} or later; this is ${platform.nodeVersion}: use round-robin`,
    });
  }
  config.listen.forEach((address, index) => {
    if (address.port !== 0) return;
    issues.push({
      path: config.listen.length === 1 ? 'listen' : `listen[${index}]`,
      message:
        'port 0 cannot be shared with cluster.accept: reuse-port (each worker would bind a different random port); give a port or use round-robin',
    });
  });
  return issues;
}

/**
 * Throws a {@link ConfigError} listing {@link acceptIssues}, if any.
 *
 * @example
 * ```ts
 * assertAcceptSupported(config); // before forking workers
 * ```
 */
export function assertAcceptSupported(
  config: Pick<ProxyConfig, 'cluster' | 'listen'>,
  platform?: AcceptPlatform,
): void {
  const issues = acceptIssues(config, platform);
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Why a worker stopping under `reuse-port` (rolling restart, reload failure, shutdown) may reset
 * connections, or `undefined` when it will not: the kernel queues each new connection on one
 * worker's socket, and when that socket closes, the connections still queued on it are reset —
 * unless `net.ipv4.tcp_migrate_req` is 1 (Linux ≥ 5.14), which moves them to another socket of
 * the group. Round robin has no such window: the primary's socket never closes.
 *
 * @example
 * ```ts
 * const caveat = reusePortCaveat(config);
 * if (caveat !== undefined) logger.warn(caveat);
 * ```
 */
export function reusePortCaveat(
  config: Pick<ProxyConfig, 'cluster'>,
  readMigrateSetting: () => string | undefined = readTcpMigrateReq,
): string | undefined {
  if (config.cluster.accept !== 'reuse-port') return undefined;
  if (readMigrateSetting()?.trim() === '1') return undefined;
  return 'cluster.accept is reuse-port and net.ipv4.tcp_migrate_req is not 1: when a worker stops (rolling restart, shutdown), connections the kernel had queued on its socket are reset; set the sysctl to 1 (Linux 5.14+) or use round-robin';
}

function readTcpMigrateReq(): string | undefined {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8');
  } catch {
    return undefined;
  }
}
