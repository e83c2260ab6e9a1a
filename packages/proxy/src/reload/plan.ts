/**
 * What a config reload changes, worked out before anything is touched: per upstream, which
 * targets stay (same upstream name and URL: they keep their `Target` object, health, breaker and
 * connections), which are new and which leave; plus the settings a running proxy cannot change
 * (listeners), reported as warnings instead of being silently ignored.
 *
 * Pure: old config + new config in, plan out. The running proxy applies it in `reload.ts`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ProxyConfig, UpstreamConfig } from '../config/schema.ts';

/** A target present before and after the reload. */
export interface KeptTarget {
  readonly url: string;
  /** Its index in the old config's `targets`. */
  readonly previousIndex: number;
  /** Its index in the new config's `targets`. */
  readonly index: number;
  /**
   * Per-target settings whose value changed: keys of the target entry (`weight`…), plus
   * `timeouts` when the upstream's timeouts changed (they shape the target's connection pool).
   */
  readonly changed: readonly string[];
}

/** A target only in the new config. */
export interface AddedTarget {
  readonly url: string;
  readonly index: number;
}

/** A target only in the old config. */
export interface RemovedTarget {
  readonly url: string;
  readonly previousIndex: number;
}

/**
 * `added` / `removed`: the upstream exists on one side only. `unchanged`: its config is
 * identical, so the running pool (balancer state included) is kept as it is. `changed`: the pool
 * is rebuilt around the kept targets.
 */
export type UpstreamChange = 'added' | 'removed' | 'changed' | 'unchanged';

/** The plan for one upstream. */
export interface UpstreamPlan {
  readonly name: string;
  readonly change: UpstreamChange;
  /** Upstream settings other than `targets` whose value changed (`balance`, `healthCheck`…). */
  readonly settingsChanged: readonly string[];
  readonly kept: readonly KeptTarget[];
  readonly added: readonly AddedTarget[];
  readonly removed: readonly RemovedTarget[];
}

/** A change in the new config that the running proxy does not apply. */
export interface ReloadWarning {
  /** Config path of the setting, e.g. `listen` or `limits.maxHeaderSize`. */
  readonly path: string;
  readonly message: string;
}

/** Everything a reload will do. */
export interface ReloadPlan {
  /** New config's upstreams in order, then the removed ones. */
  readonly upstreams: readonly UpstreamPlan[];
  readonly routesChanged: boolean;
  /** Settings applied live besides upstreams and routes (`log.level`, `shutdownTimeout`). */
  readonly liveChanges: readonly string[];
  /** Changed settings that keep their running value until a restart. */
  readonly warnings: readonly ReloadWarning[];
}

// Compared on their own by the plan.
const PLANNED = new Set(['upstreams', 'routes']);
// Applied as they are: the value is read when it is used (shutdown reads `shutdownTimeout`).
const APPLIED_LIVE = new Set(['shutdownTimeout']);

const RESTART = 'takes effect after a restart; the running value is kept';

/**
 * Compares two validated configs and says what a reload must do. Targets are matched by
 * upstream name and URL; a target that moves to another upstream counts as removed from one and
 * added to the other.
 *
 * @example
 * const plan = planReload(running, next);
 * for (const upstream of plan.upstreams) console.log(upstream.name, upstream.change);
 * for (const warning of plan.warnings) console.warn(warning.path, warning.message);
 */
export function planReload(previous: ProxyConfig, next: ProxyConfig): ReloadPlan {
  const upstreams: UpstreamPlan[] = [];
  for (const [name, config] of Object.entries(next.upstreams)) {
    const before = Object.hasOwn(previous.upstreams, name) ? previous.upstreams[name] : undefined;
    upstreams.push(
      before === undefined ? addedUpstream(name, config) : compareUpstream(name, before, config),
    );
  }
  for (const [name, config] of Object.entries(previous.upstreams)) {
    if (!Object.hasOwn(next.upstreams, name)) upstreams.push(removedUpstream(name, config));
  }
  const liveChanges: string[] = [];
  const warnings: ReloadWarning[] = [];
  const keys = new Set([...Object.keys(previous), ...Object.keys(next)]);
  for (const key of keys) {
    if (PLANNED.has(key)) continue;
    const before = (previous as Record<string, unknown>)[key];
    const after = (next as Record<string, unknown>)[key];
    if (isDeepStrictEqual(before, after)) continue;
    if (APPLIED_LIVE.has(key)) {
      liveChanges.push(key);
    } else if (key === 'log') {
      compareLog(previous.log, next.log, liveChanges, warnings);
    } else if (key === 'listen') {
      if (isDeepStrictEqual(listenShape(previous.listen), listenShape(next.listen))) {
        // Only certificates or minVersion changed: the listeners swap them live.
        liveChanges.push('listen.tls');
      } else {
        warnings.push({
          path: 'listen',
          message: `listeners cannot change while running (still ${formatListen(previous.listen)}); restart to listen on ${formatListen(next.listen)}`,
        });
      }
    } else if (key === 'admin') {
      warnings.push({ path: 'admin', message: `the admin listener ${RESTART}` });
    } else {
      for (const path of changedPaths(key, before, after))
        warnings.push({ path, message: RESTART });
    }
  }
  return {
    upstreams,
    routesChanged: !isDeepStrictEqual(previous.routes, next.routes),
    liveChanges,
    warnings,
  };
}

/** Whether a plan changes nothing at all (a reload of the same file). */
export function isEmptyPlan(plan: ReloadPlan): boolean {
  return (
    !plan.routesChanged &&
    plan.liveChanges.length === 0 &&
    plan.warnings.length === 0 &&
    plan.upstreams.every((upstream) => upstream.change === 'unchanged')
  );
}

function addedUpstream(name: string, config: UpstreamConfig): UpstreamPlan {
  return {
    name,
    change: 'added',
    settingsChanged: [],
    kept: [],
    added: config.targets.map((target, index) => ({ url: target.url, index })),
    removed: [],
  };
}

function removedUpstream(name: string, config: UpstreamConfig): UpstreamPlan {
  return {
    name,
    change: 'removed',
    settingsChanged: [],
    kept: [],
    added: [],
    removed: config.targets.map((target, previousIndex) => ({ url: target.url, previousIndex })),
  };
}

function compareUpstream(
  name: string,
  before: UpstreamConfig,
  after: UpstreamConfig,
): UpstreamPlan {
  const settingsChanged = changedKeys(before, after).filter((key) => key !== 'targets');
  const timeoutsChanged = settingsChanged.includes('timeouts');
  const previousIndex = new Map(before.targets.map((target, index) => [target.url, index]));
  const kept: KeptTarget[] = [];
  const added: AddedTarget[] = [];
  after.targets.forEach((target, index) => {
    const oldIndex = previousIndex.get(target.url);
    if (oldIndex === undefined) {
      added.push({ url: target.url, index });
      return;
    }
    const changed = changedKeys(before.targets[oldIndex], target);
    if (timeoutsChanged && !changed.includes('timeouts')) changed.push('timeouts');
    kept.push({ url: target.url, previousIndex: oldIndex, index, changed });
  });
  const nextUrls = new Set(after.targets.map((target) => target.url));
  const removed: RemovedTarget[] = [];
  before.targets.forEach((target, index) => {
    if (!nextUrls.has(target.url)) removed.push({ url: target.url, previousIndex: index });
  });
  return {
    name,
    change: isDeepStrictEqual(before, after) ? 'unchanged' : 'changed',
    settingsChanged,
    kept,
    added,
    removed,
  };
}

function compareLog(
  before: ProxyConfig['log'],
  after: ProxyConfig['log'],
  liveChanges: string[],
  warnings: ReloadWarning[],
): void {
  for (const key of changedKeys(before, after)) {
    // pino changes its level in place; the access-log switch is read by the forwarder at start.
    if (key === 'level') liveChanges.push('log.level');
    else warnings.push({ path: `log.${key}`, message: RESTART });
  }
}

// Keys of two objects whose values differ (either side may lack the key).
function changedKeys(before: object | undefined, after: object | undefined): string[] {
  const a = (before ?? {}) as Record<string, unknown>;
  const b = (after ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((key) => !isDeepStrictEqual(a[key], b[key]));
}

// One level deeper for mappings (`limits.maxHeaderSize`), so a warning names the setting.
function changedPaths(key: string, before: unknown, after: unknown): string[] {
  if (isMapping(before) && isMapping(after)) {
    return changedKeys(before, after).map((child) => `${key}.${child}`);
  }
  return [key];
}

function isMapping(value: unknown): value is object {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * What of `listen` only a restart can change: everything but each TLS listener's certificates
 * and `minVersion`, which a reload swaps in live (see `CertificateStore.prepare`).
 *
 * @example
 * isDeepStrictEqual(listenShape(previous.listen), listenShape(next.listen)); // same listeners?
 */
export function listenShape(listen: ProxyConfig['listen']): unknown[] {
  return listen.map(({ tls, ...rest }) => {
    if (tls === undefined) return rest;
    const { certificates: _certificates, minVersion: _minVersion, ...fixed } = tls;
    return { ...rest, tls: fixed };
  });
}

function formatListen(addresses: ProxyConfig['listen']): string {
  return addresses
    .map((address) =>
      address.host.includes(':')
        ? `[${address.host}]:${address.port}`
        : `${address.host}:${address.port}`,
    )
    .join(', ');
}
