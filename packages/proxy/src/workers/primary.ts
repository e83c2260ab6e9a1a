/**
 * A proxy on several cores: the node:cluster primary. It owns the config (validated once here),
 * reload, the admin listener and the active health checks, whose results it broadcasts; its
 * workers own the listeners and forwarding, and the primary never forwards a request. Targets'
 * breakers agree across workers through `clusterSync()`, whose hub lives here.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock } from 'breakwater';
import { clusterSync } from 'breakwater/cluster';
import { AggregatorRegistry } from 'prom-client';
import { DashboardAssets } from '../admin/dashboard-assets.ts';
import { DashboardFeed, describeReload } from '../admin/dashboard-feed.ts';
import type { WorkerReport } from '../admin/dashboard-report.ts';
import { ProxyMetrics } from '../admin/metrics.ts';
import { createAdminServer, upstreamsView } from '../admin/server.ts';
import type { ConfigEnv } from '../config/load-config.ts';
import type { ProxyConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { upstreamLifecycle } from '../reload/lifecycle.ts';
import { ConfigReloader, type ReloadResult } from '../reload/reload.ts';
import { checkSpillDirectory } from '../request/response-spills.ts';
import { checkListenCertificates } from '../tls/check-listen-certificates.ts';
import { Router, RouteTable } from '../upstream/router.ts';
import type { Target } from '../upstream/target.ts';
import { UpstreamPool } from '../upstream/upstream-pool.ts';
import { assertAcceptSupported, reusePortCaveat } from './accept-mode.ts';
import { coalesce } from './coalesce.ts';
import { mergeListeners, type WorkerListeners } from './merge-listeners.ts';
import { mergeViews, type WorkerView } from './merge-view.ts';
import type { ToPrimary, ToWorker, WorkerMetrics } from './messages.ts';
import { type WorkerInfo, WorkerSupervisor } from './supervisor.ts';
import { targetStates } from './target-states.ts';
import { workerConfig } from './worker-config.ts';
import { workerCount } from './worker-count.ts';
import { type WorkerQuestion, WorkerQuestions } from './worker-questions.ts';

/** Options for {@link startCluster}. */
export interface StartClusterOptions {
  readonly logger: Logger;
  /** The worker processes' entry file. Default: this package's `worker-main`. */
  readonly workerEntry?: string;
  /** Node flags for the workers. Default: the primary's (`process.execArgv`). */
  readonly execArgv?: readonly string[];
  /** The file the config came from: reloads re-read it. */
  readonly configFile?: string;
  readonly env?: ConfigEnv;
  /**
   * Drives health-check schedules, restart backoff, the workers' start timeout and the timeouts
   * of the primary's questions to them. Default: the system clock.
   */
  readonly clock?: Clock;
}

/** A running cluster, seen from its primary. */
export interface RunningCluster {
  /** The addresses the workers listen on (ports resolved when the config said 0). */
  readonly proxyAddresses: readonly string[];
  readonly adminAddress: AddressInfo | undefined;
  /** One row per worker slot: pid, uptime, restarts. */
  workers(): WorkerInfo[];
  /** Validates the config file once, applies it here and in every worker. Never rejects. */
  reloadFile(): Promise<ReloadResult>;
  /** Replaces the workers one at a time without refusing a connection. */
  restart(): Promise<void>;
  /** Stops the workers gracefully, then the admin listener and health checks. */
  close(): Promise<void>;
}

/**
 * A new worker has this long to start serving (ms): far more than loading the package and
 * binding its listeners take on a busy machine; beyond it the worker is stuck and replaced.
 */
const WORKER_START_TIMEOUT_MS = 30_000;
/** A worker has this long to answer a view or metrics request (ms). */
const ANSWER_TIMEOUT_MS = 2_000;
/**
 * A worker has this long to apply a reload and say so (ms): one busy with traffic, building many
 * upstreams, may well need more than a view takes, and one that misses it is replaced.
 */
const RELOAD_TIMEOUT_MS = 10_000;
/**
 * A worker has this long to send the dashboard its report: less than the feed's one-second tick,
 * so a busy worker makes a tick without its numbers rather than a late one.
 */
const REPORT_TIMEOUT_MS = 900;

/**
 * Starts the primary and `config.workers` workers. Call it only in the cluster primary.
 *
 * @example
 * ```ts
 * const running = await startCluster(config, { logger, configFile: file });
 * process.on('SIGUSR2', () => void running.restart());
 * ```
 */
export async function startCluster(
  config: ProxyConfig,
  options: StartClusterOptions,
): Promise<RunningCluster> {
  if (!cluster.isPrimary) throw new Error('startCluster runs in the cluster primary only');
  const { logger } = options;
  // Workers load the certificates; a pair they cannot load would make every one of them fail
  // to start, again and again. Refused here first, like any other config error.
  await checkListenCertificates(config.listen);
  // The same for the workers' spill directory.
  await checkSpillDirectory(config.limits);
  assertAcceptSupported(config);
  const caveat = reusePortCaveat(config);
  if (caveat !== undefined) options.logger.warn({ path: 'cluster.accept' }, caveat);
  const clock = options.clock ?? systemClock;
  // The hub every worker's breakers share state through; it must exist before the first fork.
  clusterSync({ log: (message, error) => logger.warn({ err: error }, message) });

  const upstreams = new Map<string, UpstreamPool>();
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    upstreams.set(name, UpstreamPool.fromConfig(name, upstream, { clock, logger }));
  }
  // The route table is the reloader's to swap; the primary itself never routes a request.
  const routes = new RouteTable(new Router(config.routes, upstreams));
  const reloader = new ConfigReloader({
    config,
    upstreams,
    routes,
    logger,
    lifecycle: upstreamLifecycle({ clock, logger }),
    configFile: options.configFile,
    env: options.env,
    // A reload with a certificate the workers could not load is rejected before any of them
    // sees it: the running config and certificates stay everywhere.
    certificates: async (next) => {
      await checkListenCertificates(next.listen);
      // Every worker started after the reload (replacement, rolling restart) runs on it: a spill
      // directory it cannot use would make each of them fail to start.
      await checkSpillDirectory(next.limits);
      return () => {};
    },
  });

  const broadcastTargets = () =>
    supervisor.broadcast({
      bw: 'proxy',
      type: 'targets',
      targets: targetStates(upstreams.values()),
    });
  // By checker, not by target: a reload that changes a kept target's healthCheck gives it a new
  // checker, whose changes must reach the workers too.
  const watched = new WeakSet<NonNullable<Target['checker']>>();
  const watchHealth = () => {
    for (const pool of upstreams.values()) {
      for (const target of pool.targets) {
        const checker = target.checker;
        if (checker === undefined || watched.has(checker)) continue;
        watched.add(checker);
        // The checker's own listener sets target.healthy first (it was attached first).
        checker.on('change', broadcastTargets);
      }
    }
  };

  /** Workers that have served: /metrics counts them until they exit. */
  const served = new WeakSet<Worker>();
  /** The config each worker's start message carried. */
  const startedWith = new WeakMap<Worker, ProxyConfig>();
  const questions = new WorkerQuestions(clock);
  /** The worker's answer, or undefined when it did not give one (in time, or at all). */
  const ask = async (
    worker: Worker,
    question: WorkerQuestion,
    timeout = ANSWER_TIMEOUT_MS,
  ): Promise<ToPrimary | undefined> => {
    const outcome = await questions.ask(worker, question, timeout);
    return outcome.status === 'answered' ? outcome.answer : undefined;
  };

  const supervisor = new WorkerSupervisor({
    count: workerCount(config.workers),
    exec:
      options.workerEntry ??
      fileURLToPath(new URL(`../worker-main${extname(import.meta.url)}`, import.meta.url)),
    execArgv: options.execArgv ?? process.execArgv,
    startMessage: (worker) => {
      startedWith.set(worker, reloader.config);
      return {
        bw: 'proxy',
        type: 'start',
        config: workerConfig(reloader.config),
        targets: targetStates(upstreams.values()),
      };
    },
    onReady: (worker) => {
      served.add(worker);
      catchUp(worker);
    },
    onMessage: (_worker, message) => questions.answer(message),
    stopTimeout: () => reloader.config.shutdownTimeout + 2_000,
    startTimeout: WORKER_START_TIMEOUT_MS,
    logger,
    clock,
  });

  // Reloads reach the workers in the order the primary applied them.
  let pushes: Promise<void> = Promise.resolve();
  const reloadWorker = async (worker: Worker, next: ProxyConfig): Promise<void> => {
    const outcome = await questions.ask(
      worker,
      { bw: 'proxy', type: 'reload', config: workerConfig(next) },
      RELOAD_TIMEOUT_MS,
    );
    const pid = worker.process.pid;
    if (outcome.status === 'gone') {
      // Not replaced here: an exit that was not asked for is a crash, and the supervisor's
      // replacement starts from the current config, this reload's.
      logger.warn({ pid }, 'a worker exited before applying the reload');
      return;
    }
    const answer = outcome.status === 'answered' ? outcome.answer : undefined;
    if (answer?.type === 'reloaded' && answer.ok) return;
    if (answer?.type === 'reloaded') {
      logger.error(
        { pid, error: answer.error },
        'a worker failed to apply the reload; restarting it with the new config',
      );
    } else {
      logger.error(
        { pid, timeoutMs: RELOAD_TIMEOUT_MS },
        'a worker did not answer the reload in time; restarting it with the new config',
      );
    }
    await supervisor.replace(worker);
  };
  const pushReload = (next: ProxyConfig): Promise<void> => {
    pushes = pushes.then(async () => {
      await Promise.all(supervisor.ready().map((worker) => reloadWorker(worker, next)));
      broadcastTargets();
    });
    return pushes;
  };
  // A reload is pushed to the workers that serve, and a worker follows the primary's target
  // states only once it serves: a reload, drain or health change that came while a worker was
  // starting (after its start message was made) is sent to it when it is ready.
  const catchUp = (worker: Worker): void => {
    pushes = pushes.then(async () => {
      if (startedWith.get(worker) !== reloader.config) await reloadWorker(worker, reloader.config);
      if (worker.isConnected()) {
        worker.send({
          bw: 'proxy',
          type: 'targets',
          targets: targetStates(upstreams.values()),
        } satisfies ToWorker);
      }
    });
  };
  // The dashboard comes with the admin listener; its numbers are the workers' (see the feed).
  const dashboard =
    config.admin === undefined
      ? undefined
      : {
          assets: new DashboardAssets(),
          feed: new DashboardFeed({
            pools: () => upstreams.values(),
            workers: async () => {
              const reports = await Promise.all(
                supervisor.ready().map(async (worker): Promise<WorkerReport | undefined> => {
                  const answer = await ask(
                    worker,
                    { bw: 'proxy', type: 'dashboard' },
                    REPORT_TIMEOUT_MS,
                  );
                  return answer?.type === 'dashboard'
                    ? { pid: worker.process.pid ?? 0, report: answer.report }
                    : undefined;
                }),
              );
              return reports.filter((report) => report !== undefined);
            },
            reloadable: options.configFile !== undefined,
            logger,
          }),
        };
  // Not prom-client's clusterMetrics(): it waits for every connected worker, and a worker still
  // starting has no registry to answer with, so every scrape during a restart failed after 5 s.
  // Asked: each worker that has served, a retiring one included (its counts are part of the
  // totals until it exits). One that exits meanwhile took its counts with it; one alive but
  // silent fails the scrape, since totals without it would look like a counter reset.
  const collectMetrics = coalesce(async (): Promise<string> => {
    const workers = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker =>
        worker !== undefined && served.has(worker) && worker.isConnected(),
    );
    const answers = await Promise.all(
      workers.map(async (worker): Promise<WorkerMetrics | undefined> => {
        const outcome = await questions.ask(
          worker,
          { bw: 'proxy', type: 'metrics' },
          ANSWER_TIMEOUT_MS,
        );
        if (outcome.status === 'answered' && outcome.answer.type === 'metrics') {
          return outcome.answer.metrics;
        }
        if (outcome.status === 'gone' || worker.isDead()) return undefined;
        throw new Error(`worker ${worker.process.pid} did not send its metrics in time`);
      }),
    );
    return AggregatorRegistry.aggregate(answers.filter((each) => each !== undefined)).metrics();
  });
  const reloadFile = async (): Promise<ReloadResult> => {
    const result = await reloader.reloadFile();
    if (result.status === 'applied') {
      watchHealth();
      await pushReload(reloader.config);
    }
    dashboard?.feed.note(describeReload(result));
    return result;
  };

  // One rolling restart at a time, whoever asks (SIGUSR2, POST /api/restart): a second one
  // running beside it would replace each worker again, and retire replacements still starting.
  let restarting: Promise<void> | undefined;
  const restart = (): Promise<void> => {
    restarting ??= supervisor.rollingRestart().finally(() => {
      restarting = undefined;
    });
    return restarting;
  };
  let admin: Server | undefined;
  let proxyAddresses: readonly string[];
  try {
    proxyAddresses = await supervisor.start();
    if (config.admin !== undefined) {
      admin = createAdminServer({
        token: config.admin.token,
        pools: () => upstreams.values(),
        // Required by the admin context; the primary forwards nothing, so it records nothing.
        metrics: new ProxyMetrics(() => upstreams.values()),
        logger,
        reload: reloadFile,
        targetsChanged: broadcastTargets,
        upstreamsView: coalesce(async () => {
          const views = await Promise.all(
            supervisor.ready().map(async (worker): Promise<WorkerView | undefined> => {
              const answer = await ask(worker, { bw: 'proxy', type: 'view' });
              return answer?.type === 'view'
                ? { pid: worker.process.pid ?? 0, view: answer.view }
                : undefined;
            }),
          );
          return mergeViews(
            upstreamsView(upstreams.values()),
            views.filter((view) => view !== undefined),
          );
        }),
        listenersView: coalesce(async () => {
          const answers = await Promise.all(
            supervisor.ready().map(async (worker): Promise<WorkerListeners | undefined> => {
              const answer = await ask(worker, { bw: 'proxy', type: 'listeners' });
              return answer?.type === 'listeners'
                ? { pid: worker.process.pid ?? 0, listeners: answer.listeners }
                : undefined;
            }),
          );
          return mergeListeners(answers.filter((answer) => answer !== undefined));
        }),
        dashboard,
        collectMetrics,
        routes: (req, res, path) =>
          clusterRoutes(req, res, path, {
            workers: () => supervisor.list(),
            restart,
          }),
      });
      admin.listen(config.admin.listen.port, config.admin.listen.host);
      await once(admin, 'listening');
    }
  } catch (error) {
    await supervisor.stop();
    dashboard?.feed.stop();
    admin?.close();
    await Promise.all([...upstreams.values()].map((pool) => pool.destroy()));
    throw error;
  }
  // Probing starts once the workers serve; results go out as they change.
  for (const pool of upstreams.values()) pool.start();
  watchHealth();
  dashboard?.feed.start();
  admin?.on('error', (error) => logger.error({ err: error }, 'admin listener error'));

  const adminAddress = admin === undefined ? undefined : (admin.address() as AddressInfo);
  logger.info(
    {
      listen: proxyAddresses,
      admin:
        adminAddress === undefined ? undefined : `${adminAddress.address}:${adminAddress.port}`,
      workers: supervisor.list().map((row) => row.pid),
      upstreams: [...upstreams.keys()],
    },
    'breakwater proxy started',
  );

  let closing: Promise<void> | undefined;
  return {
    proxyAddresses,
    adminAddress,
    workers: () => supervisor.list(),
    reloadFile,
    restart,
    close: () => {
      closing ??= (async () => {
        logger.info('shutting down');
        await reloader.stop();
        await supervisor.stop();
        dashboard?.feed.stop();
        if (admin !== undefined) {
          const closed = new Promise<void>((resolve) => admin?.close(() => resolve()));
          admin.closeAllConnections();
          await closed;
        }
        await Promise.all([...upstreams.values()].map((pool) => pool.close()));
        logger.info('stopped');
      })();
      return closing;
    },
  };
}

/** `GET /api/workers` and `POST /api/restart`. */
function clusterRoutes(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  cluster: { workers: () => WorkerInfo[]; restart: () => Promise<void> },
): boolean {
  if (path === '/api/workers' && (req.method === 'GET' || req.method === 'HEAD')) {
    const workers = cluster.workers();
    sendJson(res, 200, { workers, crashLoop: workers.some((row) => row.crashLoop) });
    return true;
  }
  if (path === '/api/restart' && req.method === 'POST') {
    req.resume();
    cluster.restart().then(
      () => sendJson(res, 200, { status: 'restarted', workers: cluster.workers() }),
      (error: unknown) =>
        sendJson(res, 500, {
          error: {
            code: 'RESTART_FAILED',
            message: error instanceof Error ? error.message : 'failed',
          },
        }),
    );
    return true;
  }
  return false;
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
