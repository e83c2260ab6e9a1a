/**
 * Hot reload: swap a running proxy's upstreams and routes for those of a new, already validated
 * config without disturbing requests in flight.
 *
 * Everything new is built first and nothing running is touched until it all exists; the swap
 * itself (upstream map, router) is synchronous, so each request sees either the old config or
 * the new one, never a mix. Targets that stay keep their `Target` object (health, breaker,
 * drained flag, connections); removed ones are drained and their connections closed once their
 * requests have finished. Reloads run one at a time, in the order they were asked for.
 */
import { ConfigError, type ConfigIssue } from '../config/config-error.ts';
import { type ConfigEnv, loadConfigFile } from '../config/load-config.ts';
import type { ProxyConfig, UpstreamConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { Router, type RouteTable } from '../upstream/router.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import {
  isEmptyPlan,
  planReload,
  type ReloadWarning,
  type UpstreamChange,
  type UpstreamPlan,
} from './plan.ts';

/** What a reload did to one upstream. URLs are target URLs. */
export interface UpstreamReloadReport {
  readonly name: string;
  readonly change: UpstreamChange;
  readonly settingsChanged: readonly string[];
  readonly targets: {
    readonly kept: readonly string[];
    readonly added: readonly string[];
    readonly removed: readonly string[];
  };
}

/** A reload that went through. `unchanged`: the new config equals the running one. */
export interface ReloadApplied {
  readonly status: 'applied' | 'unchanged';
  /** Upstreams that were added, removed or changed (unchanged ones are left out). */
  readonly upstreams: readonly UpstreamReloadReport[];
  readonly routesChanged: boolean;
  /** Other settings applied at once (`log.level`, `shutdownTimeout`). */
  readonly liveChanges: readonly string[];
  /** Changed settings that need a restart (listen addresses…); their running values are kept. */
  readonly warnings: readonly ReloadWarning[];
}

/**
 * Why a reload did not happen; the running config is untouched. `INVALID_CONFIG`: the file did
 * not validate (see `issues`). `RELOAD_UNAVAILABLE`: no config file to re-read, or shutting down.
 * `RELOAD_FAILED`: building the new upstreams threw.
 */
export interface ReloadRejected {
  readonly status: 'rejected';
  readonly error: {
    readonly code: 'INVALID_CONFIG' | 'RELOAD_UNAVAILABLE' | 'RELOAD_FAILED';
    readonly message: string;
    readonly issues: readonly ConfigIssue[];
  };
}

/** The result of a reload; never thrown, always returned. */
export type ReloadResult = ReloadApplied | ReloadRejected;

/**
 * How upstreams and the work beside their targets (health checks) are built and updated; the
 * proxy provides this so a reload builds targets exactly as startup does.
 */
export interface UpstreamLifecycle {
  /**
   * Builds an upstream's pool from its config. Targets whose URL is in `reuse` must be taken
   * from it as they are, not rebuilt.
   */
  build(name: string, config: UpstreamConfig, reuse: ReadonlyMap<string, Target>): UpstreamPool;
  /** Starts what runs beside new targets (health checks) once they take traffic. */
  start(targets: readonly Target[], pool: UpstreamPool): void;
  /**
   * Applies changed upstream settings (`healthCheck`, `outlierDetection`…) to a target that
   * stays, once the new pool is live.
   */
  update(target: Target, pool: UpstreamPool, previous: UpstreamConfig, next: UpstreamConfig): void;
}

/** Options for {@link ConfigReloader}. */
export interface ConfigReloaderOptions {
  /** The config the proxy runs now. */
  readonly config: ProxyConfig;
  /** The proxy's live upstream map; changed in place, so everyone holding it sees the change. */
  readonly upstreams: Map<string, UpstreamPool>;
  /** The route table requests are matched against; a reload swaps its router. */
  readonly routes: RouteTable;
  readonly logger: Logger;
  readonly lifecycle: UpstreamLifecycle;
  /** The file {@link ConfigReloader.reloadFile} re-reads; without it only `reload(config)` works. */
  readonly configFile?: string | undefined;
  /** Where `${VAR}` in the file expands from. Default: `process.env`. */
  readonly env?: ConfigEnv | undefined;
  /**
   * Re-reads the TLS certificates for `next` before anything else is applied; throws a
   * `ConfigError` (the reload is rejected, the running certificates stay) when any cannot be
   * served. Resolves with the function that swaps them in, called in the commit phase.
   */
  readonly certificates?: ((next: ProxyConfig) => Promise<() => void>) | undefined;
}

/**
 * Applies new configs to a running proxy, one at a time.
 *
 * @example
 * const reloader = new ConfigReloader({ config, upstreams, routes, logger, lifecycle, configFile });
 * process.on('SIGHUP', () => void reloader.reloadFile());
 * const result = await reloader.reload(loadConfig(text, process.env));
 * if (result.status === 'rejected') console.error(result.error.issues);
 */
export class ConfigReloader {
  readonly #options: ConfigReloaderOptions;
  #config: ProxyConfig;
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;
  // Connection pools of removed targets (or replaced by new timeouts) still finishing requests.
  readonly #closing = new Set<Promise<void>>();
  readonly #retiring = new Set<Target>();

  constructor(options: ConfigReloaderOptions) {
    this.#options = options;
    this.#config = options.config;
  }

  /** The config in effect: the last one applied. */
  get config(): ProxyConfig {
    return this.#config;
  }

  /** Applies a validated config (from `loadConfig`). Waits for reloads asked for earlier. */
  reload(next: ProxyConfig): Promise<ReloadResult> {
    return this.#serialize(() => this.#apply(next));
  }

  /** Re-reads and validates the config file, then applies it; an invalid file changes nothing. */
  reloadFile(): Promise<ReloadResult> {
    return this.#serialize(async () => {
      const file = this.#options.configFile;
      if (file === undefined) {
        return this.#reject(
          'RELOAD_UNAVAILABLE',
          'the proxy was started without a config file; call reload(config) instead',
          [],
        );
      }
      let next: ProxyConfig;
      try {
        next = await loadConfigFile(file, this.#options.env ?? process.env);
      } catch (error) {
        if (error instanceof ConfigError)
          return this.#reject('INVALID_CONFIG', error.message, error.issues);
        return this.#reject('RELOAD_FAILED', describe(error), []);
      }
      return this.#apply(next);
    });
  }

  /**
   * Refuses further reloads (the proxy is shutting down) and resolves once the removed targets'
   * connection pools have closed.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    await Promise.all(this.#closing);
  }

  /** Drops the connections of removed targets still finishing requests (shutdown timed out). */
  async destroyRetiring(): Promise<void> {
    await Promise.all([...this.#retiring].map((target) => target.destroy()));
  }

  #serialize(task: () => Promise<ReloadResult>): Promise<ReloadResult> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => {});
    return result;
  }

  #reject(
    code: ReloadRejected['error']['code'],
    message: string,
    issues: readonly ConfigIssue[],
  ): ReloadRejected {
    const log = this.#options.logger;
    log.error({ code, issues }, `config reload rejected; the running config stays: ${message}`);
    return { status: 'rejected', error: { code, message, issues } };
  }

  async #apply(next: ProxyConfig): Promise<ReloadResult> {
    if (this.#stopped) return this.#reject('RELOAD_UNAVAILABLE', 'the proxy is shutting down', []);
    const { upstreams, routes, logger, lifecycle } = this.#options;
    // Certificates are files: re-read on every reload, checked before anything changes.
    let commitCertificates = (): void => {};
    if (this.#options.certificates !== undefined) {
      try {
        commitCertificates = await this.#options.certificates(next);
      } catch (error) {
        if (error instanceof ConfigError)
          return this.#reject('INVALID_CONFIG', error.message, error.issues);
        return this.#reject('RELOAD_FAILED', describe(error), []);
      }
      if (this.#stopped)
        return this.#reject('RELOAD_UNAVAILABLE', 'the proxy is shutting down', []);
    }
    const previous = this.#config;
    const plan = planReload(previous, next);
    if (isEmptyPlan(plan)) {
      commitCertificates();
      this.#config = next;
      logger.info('config reload: nothing changed');
      return {
        status: 'unchanged',
        upstreams: [],
        routesChanged: false,
        liveChanges: [],
        warnings: [],
      };
    }

    // Build phase: nothing running is touched, so a failure leaves the old config in place.
    const nextPools = new Map<string, UpstreamPool>();
    const created: { pool: UpstreamPool; targets: Target[] }[] = [];
    const kept: { target: Target; pool: UpstreamPool; plan: UpstreamPlan }[] = [];
    const leaving: Target[] = [];
    let router: Router;
    try {
      for (const upstream of plan.upstreams) {
        const running = upstreams.get(upstream.name);
        if (upstream.change === 'removed') {
          if (running !== undefined) leaving.push(...running.targets);
          continue;
        }
        if (upstream.change === 'unchanged' && running !== undefined) {
          nextPools.set(upstream.name, running);
          continue;
        }
        const config = next.upstreams[upstream.name] as UpstreamConfig;
        const reuse = new Map<string, Target>();
        for (const target of running?.targets ?? []) reuse.set(target.id, target);
        for (const removed of upstream.removed) reuse.delete(removed.url);
        const pool = lifecycle.build(upstream.name, config, reuse);
        // Counted since the start, per upstream name: a rebuilt pool goes on from the old counts.
        if (running !== undefined) Object.assign(pool.overloads, running.overloads);
        const fresh = pool.targets.filter((target) => reuse.get(target.id) !== target);
        created.push({ pool, targets: fresh });
        for (const target of pool.targets) {
          if (reuse.get(target.id) === target) kept.push({ target, pool, plan: upstream });
        }
        for (const removed of upstream.removed) {
          const target = running?.targets.find((candidate) => candidate.id === removed.url);
          if (target !== undefined) leaving.push(target);
        }
        nextPools.set(upstream.name, pool);
      }
      router = new Router(next.routes, nextPools);
    } catch (error) {
      for (const { targets } of created) for (const target of targets) void target.destroy();
      return this.#reject('RELOAD_FAILED', describe(error), []);
    }

    // Commit phase: synchronous, so no request sees half of it.
    commitCertificates();
    upstreams.clear();
    for (const [name, pool] of nextPools) upstreams.set(name, pool);
    routes.current = router;
    this.#config = next;
    if (plan.liveChanges.includes('log.level')) logger.level = next.log.level;
    for (const { target, pool, plan: upstream } of kept) {
      const config = next.upstreams[upstream.name] as UpstreamConfig;
      const entry = config.targets.find((candidate) => candidate.url === target.id);
      if (entry !== undefined) target.weight = entry.weight;
      if (
        upstream.settingsChanged.includes('timeouts') ||
        target.maxConnections !== config.limits.maxConnections
      ) {
        this.#track(target.replacePool(config.timeouts, config.limits.maxConnections), target);
      }
      const before = previous.upstreams[upstream.name];
      if (upstream.settingsChanged.length > 0 && before !== undefined) {
        this.#guard(() => lifecycle.update(target, pool, before, config), target);
      }
    }
    for (const { pool, targets } of created) {
      if (targets.length > 0) this.#guard(() => lifecycle.start(targets, pool), undefined);
    }
    for (const target of leaving) this.#retire(target);

    const result: ReloadApplied = {
      status: 'applied',
      upstreams: plan.upstreams
        .filter((upstream) => upstream.change !== 'unchanged')
        .map((upstream) => ({
          name: upstream.name,
          change: upstream.change,
          settingsChanged: upstream.settingsChanged,
          targets: {
            kept: upstream.kept.map((target) => target.url),
            added: upstream.added.map((target) => target.url),
            removed: upstream.removed.map((target) => target.url),
          },
        })),
      routesChanged: plan.routesChanged,
      liveChanges: plan.liveChanges,
      warnings: plan.warnings,
    };
    logger.info(
      {
        upstreams: result.upstreams,
        routesChanged: result.routesChanged,
        liveChanges: result.liveChanges,
      },
      'config reloaded',
    );
    for (const warning of plan.warnings) {
      logger.warn({ path: warning.path }, `config reload: ${warning.path} ${warning.message}`);
    }
    return result;
  }

  // A removed target takes no new requests at once; close() stops its health checks now and
  // lets undici finish the requests in flight before the connections go.
  #retire(target: Target): void {
    target.drained = true;
    this.#retiring.add(target);
    const logger = this.#options.logger;
    const done = target.close().then(() => {
      logger.info({ target: target.id }, 'removed target closed after its in-flight requests');
    });
    this.#track(done, target);
    void done.finally(() => this.#retiring.delete(target));
  }

  #track(closing: Promise<void>, target: Target): void {
    const tracked = closing.catch((error: unknown) => {
      this.#options.logger.error({ err: error, target: target.id }, 'closing connections failed');
    });
    this.#closing.add(tracked);
    void tracked.finally(() => this.#closing.delete(tracked));
  }

  // The swap has happened; a hook that throws must not undo it or escape, only be seen.
  #guard(hook: () => void, target: Target | undefined): void {
    try {
      hook();
    } catch (error) {
      this.#options.logger.error({ err: error, target: target?.id }, 'reload hook failed');
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
