/**
 * Starting and stopping a proxy from a validated config: listeners, upstream pools, the admin
 * listener, and graceful shutdown.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdminServer } from './admin-server.ts';
import { clientErrorListener } from './client-error.ts';
import type { ProxyConfig } from './config/schema.ts';
import { Forwarder } from './forwarder.ts';
import { createLogger, type Logger } from './logger.ts';
import { ProxyMetrics } from './metrics.ts';
import { Router } from './router.ts';
import { UpgradeTunnels } from './upgrade-tunnel.ts';
import { UpstreamPool } from './upstream-pool.ts';

/** Options for {@link startProxy}. */
export interface StartProxyOptions {
  /** Where logs go; default a pino logger on stdout at `config.log.level`. */
  readonly logger?: Logger;
}

/** A running proxy. */
export interface RunningProxy {
  /** The addresses the proxy listeners are bound to (ports resolved when the config said 0). */
  readonly proxyAddresses: readonly AddressInfo[];
  /** The admin listener's address, or `undefined` when the config has no `admin` section. */
  readonly adminAddress: AddressInfo | undefined;
  /** Upstreams by name. */
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  readonly forwarder: Forwarder;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `shutdownTimeout`),
   * closes idle keep-alive connections and upstream pools. Safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Starts a proxy. Listening errors (port in use…) reject after undoing what was started.
 *
 * @example
 * const proxy = await startProxy(loadConfig(text, process.env));
 * console.log(proxy.proxyAddresses[0].port);
 * await proxy.close();
 */
export async function startProxy(
  config: ProxyConfig,
  options: StartProxyOptions = {},
): Promise<RunningProxy> {
  const logger = options.logger ?? createLogger(config.log.level);
  const upstreams = new Map<string, UpstreamPool>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    upstreams.set(name, UpstreamPool.fromConfig(name, upstream));
  }
  const metrics = new ProxyMetrics(() => upstreams.values());
  const forwarder = new Forwarder({
    router: new Router(config.routes, upstreams),
    preserveHost: config.preserveHost,
    maxBodySize: config.limits.maxBodySize,
    logger,
    accessLog: config.log.access,
    metrics,
  });
  const tunnels = new UpgradeTunnels(forwarder);
  const limits = config.limits;
  const onClientError = clientErrorListener(logger, forwarder.answeredSockets);
  const servers: Server[] = [];
  let admin: Server | undefined;

  const stopAll = async (): Promise<void> => {
    for (const server of servers) server.close();
    for (const server of servers) server.closeAllConnections();
    admin?.close();
    admin?.closeAllConnections();
    await Promise.all([...upstreams.values()].map((pool) => pool.destroy()));
  };

  try {
    for (const address of config.listen) {
      const server = createServer(
        {
          maxHeaderSize: limits.maxHeaderSize,
          headersTimeout: limits.headersTimeout,
          requestTimeout: limits.requestTimeout,
          keepAliveTimeout: limits.keepAliveTimeout,
          // node checks header/request timeouts on this interval (30 s by default), which would
          // let a slowloris client hold a socket far past headersTimeout.
          connectionsCheckingInterval: Math.max(250, Math.min(2_000, limits.headersTimeout / 2)),
          // h2c is never passed upstream: such a request is forwarded as plain HTTP/1.1 with the
          // Upgrade header stripped.
          shouldUpgradeCallback: (req) => !isH2c(req.headers.upgrade),
        },
        forwarder.handle,
      );
      server.on('upgrade', tunnels.handle);
      server.on('clientError', onClientError);
      servers.push(server);
      server.listen(address.port, address.host);
      await once(server, 'listening');
    }
    if (config.admin !== undefined) {
      admin = createAdminServer({
        token: config.admin.token,
        pools: () => upstreams.values(),
        metrics,
        logger,
      });
      admin.listen(config.admin.listen.port, config.admin.listen.host);
      await once(admin, 'listening');
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  // After listening, a server error (e.g. EMFILE on accept) is logged, never a crash.
  const onServerError = (error: Error) => logger.error({ err: error }, 'listener error');
  for (const server of servers) server.on('error', onServerError);
  admin?.on('error', onServerError);

  const proxyAddresses = servers.map((server) => server.address() as AddressInfo);
  const adminAddress = admin === undefined ? undefined : (admin.address() as AddressInfo);
  logger.info(
    {
      listen: proxyAddresses.map(formatAddress),
      admin: adminAddress === undefined ? undefined : formatAddress(adminAddress),
      upstreams: [...upstreams.keys()],
    },
    'breakwater proxy started',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({ inFlight: forwarder.inFlight }, 'shutting down');
      forwarder.closing = true;
      const serversClosed = servers.map(
        (server) => new Promise<void>((resolve) => server.close(() => resolve())),
      );
      for (const server of servers) server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        forwarder.whenIdle().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), config.shutdownTimeout);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut)
        logger.warn(
          { inFlight: forwarder.inFlight },
          'shutdown timeout; dropping in-flight requests',
        );
      tunnels.closeAll();
      for (const server of servers) server.closeAllConnections();
      await Promise.all(serversClosed);
      await Promise.all(
        [...upstreams.values()].map((pool) => (timedOut ? pool.destroy() : pool.close())),
      );
      if (admin !== undefined) {
        const adminClosed = new Promise<void>((resolve) => admin?.close(() => resolve()));
        admin.closeAllConnections();
        await adminClosed;
      }
      logger.info('stopped');
    })();
    return closing;
  };

  return { proxyAddresses, adminAddress, upstreams, forwarder, metrics, logger, close };
}

function isH2c(upgrade: string | undefined): boolean {
  return upgrade?.toLowerCase().includes('h2c') === true;
}

function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
