/**
 * Starting and stopping a proxy from a validated config: listeners, upstream pools, the admin
 * listener, and graceful shutdown.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { type Clock, type SyncTransport, systemClock } from 'breakwater';
import { DashboardAssets } from './admin/dashboard-assets.ts';
import { DashboardFeed, describeReload } from './admin/dashboard-feed.ts';
import { registerListenerMetrics } from './admin/listener-metrics.ts';
import { ProxyMetrics } from './admin/metrics.ts';
import { createAdminServer } from './admin/server.ts';
import { type BoundAddress, boundAddresses } from './config/bound-addresses.ts';
import { ConfigError, type ConfigIssue } from './config/config-error.ts';
import type { ConfigEnv } from './config/load-config.ts';
import type { ProxyConfig } from './config/schema.ts';
import { clientErrorListener } from './http/client-error.ts';
import { viaEntry } from './http/forwarding-headers.ts';
import { TrustedProxies } from './http/trusted-proxies.ts';
import { ListenError } from './listen-error.ts';
import { createLogger, type Logger } from './logger.ts';
import { upstreamLifecycle } from './reload/lifecycle.ts';
import { listenShape } from './reload/plan.ts';
import { ConfigReloader, type ReloadResult } from './reload/reload.ts';
import { Forwarder } from './request/forwarder.ts';
import { createListener, type Listener, type ListenerContext } from './request/listeners.ts';
import { checkSpillDirectory, ResponseSpills } from './request/response-spills.ts';
import { SlowReaders } from './request/slow-readers.ts';
import { UpgradeTunnels } from './request/upgrade.ts';
import { Router, RouteTable } from './upstream/router.ts';
import { UpstreamPool } from './upstream/upstream-pool.ts';
import { redisBreakerSync } from './workers/redis-breaker-sync.ts';

/** Options for {@link startProxy}. */
export interface StartProxyOptions {
  /** Where logs go; default a pino logger on stdout at `config.log.level`. */
  readonly logger?: Logger;
  /**
   * Time for outlier-detection breakers (ejection time), health-check schedules and retry
   * budgets. Default: the system clock. Tests pass a `ManualClock` to advance ejections by hand;
   * I/O timeouts always run on real time.
   */
  readonly clock?: Clock;
  /** The file the config came from: `reloadFile()` and `POST /api/reload` re-read it. */
  readonly configFile?: string;
  /** Where `${VAR}` in `configFile` expands from on reload. Default: `process.env`. */
  readonly env?: ConfigEnv;
  /**
   * Shares each target's breaker transitions with other processes (a cluster worker passes
   * `clusterSync()`): an ejection seen by one process ejects the target in all of them.
   */
  readonly sync?: SyncTransport;
  /**
   * Called once the upstreams are built and before any listener accepts a connection: a cluster
   * worker applies the primary's view of target health and drains here.
   */
  readonly prepare?: (upstreams: ReadonlyMap<string, UpstreamPool>) => void;
  /**
   * Binds the proxy listeners with `SO_REUSEPORT` in this process (a cluster worker under
   * `cluster.accept: reuse-port`): every worker owns a socket on the same port and the kernel
   * spreads connections among them. Default: false (node:cluster's hand-off in a worker).
   */
  readonly reusePort?: boolean;
}

/** A running proxy. */
export interface RunningProxy {
  /** The addresses the proxy listeners are bound to (ports resolved when the config said 0). */
  readonly proxyAddresses: readonly AddressInfo[];
  /** The admin listener's address, or `undefined` when the config has no `admin` section. */
  readonly adminAddress: AddressInfo | undefined;
  /** Upstreams by name. */
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  /** The listeners, in config order: certificates, protocols and connection counts. */
  readonly listeners: readonly Listener[];
  readonly forwarder: Forwarder;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /**
   * Applies a validated config (from `loadConfig`) without a restart: upstreams, targets and
   * routes change, kept targets keep their health and breaker, removed ones finish their
   * in-flight requests. Listen addresses and other restart-only settings come back as
   * `warnings`. Never rejects; reloads run one at a time.
   */
  reload(nextConfig: ProxyConfig): Promise<ReloadResult>;
  /**
   * Re-reads and validates `configFile`, then reloads. An invalid file changes nothing: the
   * result is `rejected` with the issues, and they are logged.
   */
  reloadFile(): Promise<ReloadResult>;
  /**
   * Stops accepting connections and keeps the open ones, idle or not: a cluster worker being
   * replaced does this first, so a connection the primary had just handed it is served rather
   * than closed as idle by `close()`. Call `close()` afterwards.
   */
  stopAccepting(): void;
  /**
   * Stops accepting connections, lets in-flight requests finish (up to `shutdownTimeout`),
   * closes idle keep-alive connections and upstream pools. Safe to call more than once.
   */
  close(): Promise<void>;
}

/**
 * Starts a proxy. Listening errors (port in use…) reject with a {@link ListenError} naming the
 * config path and address, after undoing what was started.
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
  // Before anything starts: a spill directory it cannot write is a config error, not a surprise
  // under load.
  await checkSpillDirectory(config.limits);
  const logger = options.logger ?? createLogger(config.log.level);
  // cluster.redis: breakers shared with other proxy instances, unless the caller brought a sync.
  const shared =
    options.sync === undefined && config.cluster.redis !== undefined
      ? redisBreakerSync(config.cluster.redis, logger)
      : undefined;
  const sync = options.sync ?? shared?.sync;
  const upstreams = new Map<string, UpstreamPool>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    upstreams.set(
      name,
      UpstreamPool.fromConfig(name, upstream, {
        clock: options.clock,
        logger,
        sync,
      }),
    );
  }
  const metrics = new ProxyMetrics(() => upstreams.values());
  const routes = new RouteTable(new Router(config.routes, upstreams));
  const slowReaders = new SlowReaders({
    minResponseRate: config.limits.minResponseRate,
    sendTimeout: config.limits.sendTimeout,
  });
  metrics.countSlowReaders(slowReaders);
  const spillConfig = config.limits.responseSpill;
  const responseSpills =
    spillConfig === false ? undefined : new ResponseSpills(spillConfig, logger);
  if (responseSpills !== undefined) metrics.countResponseSpills(responseSpills);
  const forwarder = new Forwarder({
    routes,
    // Unique per proxy, so a request that comes back to this proxy is recognised as a loop.
    via: viaEntry(randomBytes(4).toString('hex')),
    preserveHost: config.preserveHost,
    underscoresInHeaders: config.underscoresInHeaders,
    maxBodySize: config.limits.maxBodySize,
    requestBuffer: config.limits.requestBuffer,
    responseBuffer: config.limits.responseBuffer,
    responseSpills,
    slowReaders,
    maxHeaderSize: config.limits.maxHeaderSize,
    requestTimeout: config.limits.requestTimeout,
    trustedProxies: new TrustedProxies(config.trustedProxies),
    logger,
    accessLog: config.log.access,
    metrics,
  });
  const listeners: Listener[] = [];
  const reloader = new ConfigReloader({
    config,
    upstreams,
    routes,
    logger,
    lifecycle: upstreamLifecycle({ clock: options.clock, logger, sync }),
    configFile: options.configFile,
    env: options.env,
    certificates: (next) => prepareCertificates(listeners, next),
  });
  // The dashboard comes with the admin listener; without one nothing samples traffic.
  const dashboard =
    config.admin === undefined
      ? undefined
      : {
          assets: new DashboardAssets(),
          feed: new DashboardFeed({
            pools: () => upstreams.values(),
            onAttempt: (listener) => forwarder.onAttempt(listener),
            reloadable: options.configFile !== undefined,
            logger,
          }),
        };
  /** Every reload, whoever asked (SIGHUP, the admin API, code), lands on the timeline. */
  const reported = async (reloading: Promise<ReloadResult>): Promise<ReloadResult> => {
    const result = await reloading;
    if (result.status === 'applied') metrics.adoptTargets();
    dashboard?.feed.note(describeReload(result));
    return result;
  };
  const tunnels = new UpgradeTunnels(forwarder, routes);
  const onClientError = clientErrorListener(logger, {
    answered: forwarder.answeredSockets,
    bodyFailed: forwarder.bodyFailed,
    timedOutWaiting: forwarder.timedOutWaiting,
    waitingBodyFailed: forwarder.waitingBodyFailed,
    // Refused before any route matched: counted under upstream "" as NO_ROUTE is.
    refused: (code) => metrics.observeError('', code),
  });
  let admin: Server | undefined;
  registerListenerMetrics(metrics.registry, () => listeners, Date.now);

  const stopAll = async (): Promise<void> => {
    for (const listener of listeners) {
      listener.stopWatching();
      listener.server.close();
      listener.closeAll();
    }
    dashboard?.feed.stop();
    admin?.close();
    admin?.closeAllConnections();
    await Promise.all([...upstreams.values()].map((pool) => pool.destroy()));
    await shared?.close();
  };

  const context: ListenerContext = {
    limits: config.limits,
    http2: config.http2,
    clock: options.clock ?? systemClock,
    logger,
    handlers: {
      request: forwarder.handle,
      checkContinue: forwarder.handleContinue,
      checkExpectation: forwarder.handleExpectation,
      upgrade: tunnels.handle,
      connect: tunnels.refuseConnect,
      clientError: onClientError,
    },
    // The first TLS listener, once bound (port 0 in tests is known only then).
    httpsPort: () => {
      const tls = listeners.find((listener) => listener.kind === 'https');
      return (tls?.server.address() as AddressInfo | null)?.port;
    },
  };

  try {
    options.prepare?.(upstreams);
    // Where each address is in the config, so a failed bind names its path.
    const addresses = boundAddresses(config);
    // TLS listeners first, so a redirecting listener knows the HTTPS port before it serves.
    const order = [...config.listen.keys()].sort(
      (a, b) =>
        Number(config.listen[b]!.tls !== undefined) - Number(config.listen[a]!.tls !== undefined),
    );
    const bound = new Map<number, Listener>();
    for (const index of order) {
      const entry = config.listen[index]!;
      const listener = await createListener(entry, context);
      listeners.push(listener);
      bound.set(index, listener);
      await listen(listener.server, addresses[index]!, options.reusePort === true);
    }
    // Back in config order, for proxyAddresses and the admin API.
    listeners.splice(0, listeners.length, ...[...config.listen.keys()].map((i) => bound.get(i)!));
    if (config.admin !== undefined) {
      admin = createAdminServer({
        token: config.admin.token,
        pools: () => upstreams.values(),
        listeners: () => listeners,
        reload: () => reported(reloader.reloadFile()),
        metrics,
        logger,
        dashboard,
      });
      await listen(admin, addresses[addresses.length - 1]!);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  // Probing starts once the proxy is up; stopped by each pool's close()/destroy().
  for (const pool of upstreams.values()) pool.start();
  dashboard?.feed.start();

  // After listening, a server error (e.g. EMFILE on accept) is logged, never a crash.
  const onServerError = (error: Error) => logger.error({ err: error }, 'listener error');
  for (const listener of listeners) listener.server.on('error', onServerError);
  admin?.on('error', onServerError);

  const proxyAddresses = listeners.map((listener) => listener.server.address() as AddressInfo);
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
      // No reload may start now; this also waits for removed targets' pools to close.
      const reloadsStopped = reloader.stop();
      const serversClosed = listeners.map(
        (listener) => new Promise<void>((resolve) => listener.server.close(() => resolve())),
      );
      for (const listener of listeners) {
        listener.stopWatching();
        listener.closeIdle();
      }
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        forwarder.whenIdle().then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), reloader.config.shutdownTimeout);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut)
        logger.warn(
          { inFlight: forwarder.inFlight },
          'shutdown timeout; dropping in-flight requests',
        );
      tunnels.closeAll();
      slowReaders.close();
      for (const listener of listeners) listener.closeAll();
      await Promise.all(serversClosed);
      await Promise.all(
        [...upstreams.values()].map((pool) => (timedOut ? pool.destroy() : pool.close())),
      );
      if (timedOut) await reloader.destroyRetiring();
      await reloadsStopped;
      dashboard?.feed.stop();
      if (admin !== undefined) {
        const adminClosed = new Promise<void>((resolve) => admin?.close(() => resolve()));
        admin.closeAllConnections();
        await adminClosed;
      }
      await shared?.close();
      logger.info('stopped');
    })();
    return closing;
  };

  return {
    proxyAddresses,
    adminAddress,
    upstreams,
    listeners,
    forwarder,
    metrics,
    logger,
    reload: (nextConfig) => reported(reloader.reload(nextConfig)),
    reloadFile: () => reported(reloader.reloadFile()),
    stopAccepting: () => {
      // net.Server's own close: http.Server's would also close the idle connections at once.
      for (const listener of listeners) {
        if (listener.server.listening) NetServer.prototype.close.call(listener.server);
      }
    },
    close,
  };
}

/**
 * A reload's certificates: every TLS listener's pairs read and checked again (from `next` when
 * the listeners are the same, else the running entries, which need a restart to change), all
 * before any is served. Resolves with the swap; throws a `ConfigError` naming every bad pair.
 */
async function prepareCertificates(
  listeners: readonly Listener[],
  next: ProxyConfig,
): Promise<() => void> {
  const same = isDeepStrictEqual(
    listenShape(listeners.map((listener) => listener.entry)),
    listenShape(next.listen),
  );
  const issues: ConfigIssue[] = [];
  const swaps: (() => void)[] = [];
  for (const [index, listener] of listeners.entries()) {
    const store = listener.certificates;
    const entry = same ? next.listen[index]! : listener.entry;
    if (store === undefined || entry.tls === undefined) continue;
    try {
      const prepared = await store.prepare(entry.tls.certificates, {
        minVersion: entry.tls.minVersion,
      });
      swaps.push(() => {
        store.commit(prepared);
        listener.entry = entry;
      });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      issues.push(...error.issues);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return () => {
    for (const swap of swaps) swap();
  };
}

function formatAddress(address: AddressInfo): string {
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}

/** Binds `server` to `bound`; a failure becomes a {@link ListenError} naming the config path. */
async function listen(server: NetServer, bound: BoundAddress, reusePort = false): Promise<void> {
  if (reusePort) {
    // `exclusive` binds here instead of asking the primary for its handle; Node 24 also does so
    // for any reusePort listen in a worker, but the intent should not rest on that detail.
    server.listen({
      port: bound.address.port,
      host: bound.address.host,
      reusePort: true,
      exclusive: true,
    });
  } else {
    server.listen(bound.address.port, bound.address.host);
  }
  try {
    await once(server, 'listening');
  } catch (error) {
    throw new ListenError(bound, error);
  }
}
