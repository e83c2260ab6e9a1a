/**
 * The admin listener: JSON view of upstreams and listeners, liveness, Prometheus metrics and the live
 * dashboard. Separate port, loopback by default; with a token every endpoint except /healthz and
 * the dashboard's three static files needs `Authorization: Bearer <token>`. The files hold no
 * data: the page asks for the token, keeps it in the tab's sessionStorage and sends it in that
 * header on every call, the event stream included (read with fetch, not EventSource, which can
 * send no header), so the token never appears in a URL, a cookie or an access log.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { sendError } from '../http/proxy-error.ts';
import type { Logger } from '../logger.ts';
import type { ReloadResult } from '../reload/reload.ts';
import type { Listener } from '../request/listeners.ts';
import type { HealthCheckResult } from '../upstream/health/active-checker.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { handleAdminAction } from './actions.ts';
import type { DashboardAssets } from './dashboard-assets.ts';
import type { DashboardFeed } from './dashboard-feed.ts';
import { listenersView } from './listeners-view.ts';
import type { ProxyMetrics } from './metrics.ts';

/** What the admin API needs from the running proxy. */
export interface AdminContext {
  readonly token: string | undefined;
  readonly pools: () => Iterable<UpstreamPool>;
  /** The proxy's listeners (`GET /api/listeners`); none when absent. */
  readonly listeners?: (() => Iterable<Listener>) | undefined;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  /** Re-reads and applies the config file (`POST /api/reload`); absent when it cannot. */
  readonly reload?: (() => Promise<ReloadResult>) | undefined;
  /** The page at `GET /` and its live feed at `GET /api/events`; absent: no dashboard. */
  readonly dashboard?: { readonly assets: DashboardAssets; readonly feed: DashboardFeed };
  /**
   * Called after a drain or enable besides the dashboard's refresh: a cluster's primary passes it
   * on to every worker. Absent in a single process.
   */
  readonly targetsChanged?: (() => void) | undefined;
  /** Cluster mode: the body of `GET /api/upstreams` merged from every worker. */
  readonly upstreamsView?: (() => Promise<unknown>) | undefined;
  /** Cluster mode: the listeners of `GET /api/listeners`, merged from every worker. */
  readonly listenersView?: (() => Promise<unknown>) | undefined;
  /** Cluster mode: the Prometheus text of every worker, aggregated. */
  readonly collectMetrics?: (() => Promise<string>) | undefined;
  /**
   * Cluster mode: more endpoints (`/api/workers`, `/api/restart`); handles `req` and returns true
   * when `path` is one of them. Authorization has been checked.
   */
  readonly routes?:
    | ((req: IncomingMessage, res: ServerResponse, path: string) => boolean)
    | undefined;
}

/** The body of `GET /api/upstreams`. */
export interface UpstreamsView {
  upstreams: {
    name: string;
    balance: string;
    /** Thresholds (`limits`); `maxConnections` is per target, the rest per upstream. */
    limits: { maxConnections: number; maxPending: number; maxRequests: number; maxRetries: number };
    /** Requests in flight, waiting for a connection, and retries in flight, now. */
    inFlight: number;
    pending: number;
    retriesInFlight: number;
    /** Requests turned away (or retries not made) since the start, by limit. */
    overloads: {
      maxRequests: number;
      maxPending: number;
      maxRetries: number;
      /** Every eligible target was at its adaptive concurrency limit. */
      adaptiveConcurrency: number;
    };
    targets: {
      url: string;
      weight: number;
      /** The active health checks' view (`true` when none are configured). */
      healthy: boolean;
      /**
       * Whether the balancer may pick it now (`upstream/selection.ts`: healthy, not drained, not
       * ejected or readmitted over the ejection cap, or any undrained target in panic mode).
       */
      eligible: boolean;
      drained: boolean;
      activeRequests: number;
      /** Outlier detection; `state: 'disabled'` when it is off. `retryAfter` in ms. */
      breaker: { state: string; retryAfter: number };
      /** Times outlier detection ejected the target. */
      ejections: number;
      /**
       * What a latency-aware balancer (peak-ewma) believes the target's latency is, in ms;
       * absent with other balancers, `null` before it has any.
       */
      latency?: number | null;
      /** With `adaptiveConcurrency`: the target's current limit and the requests holding it. */
      concurrency?: { limit: number; inFlight: number };
      /** The latest active health check, or `null` before the first (or without checks). */
      lastCheck: {
        at: string;
        ok: boolean;
        status?: number;
        error?: string;
        durationMs: number;
      } | null;
    }[];
  }[];
}

/**
 * Builds the admin HTTP server (not yet listening).
 *
 * @example
 * const server = createAdminServer({ token: undefined, pools: () => pools.values(), metrics, logger });
 * server.listen(9901, '127.0.0.1');
 */
export function createAdminServer(context: AdminContext): Server {
  const expected = context.token === undefined ? undefined : digest(context.token);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (context.dashboard?.assets.serve(path ?? '/', req.method, res)) return;
    if (expected !== undefined && !authorized(req, expected)) {
      res.setHeader('www-authenticate', 'Bearer');
      sendError(res, 'UNAUTHORIZED', 'Missing or wrong bearer token', undefined);
      return;
    }
    // POST endpoints (drain, enable, reload); see admin-actions.ts.
    const actions = {
      ...context,
      targetsChanged: () => {
        context.dashboard?.feed.refresh();
        context.targetsChanged?.();
      },
    };
    if (handleAdminAction(req, res, path ?? '/', actions)) return;
    if (context.routes?.(req, res, path ?? '/') === true) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, 'METHOD_NOT_ALLOWED', `${req.method} is not supported here`, undefined);
      return;
    }
    switch (path) {
      case '/api/upstreams':
        if (context.upstreamsView === undefined) {
          sendJson(res, 200, upstreamsView(context.pools()));
          return;
        }
        context.upstreamsView().then(
          (view) => sendJson(res, 200, view),
          (error: unknown) => {
            context.logger.error({ err: error }, "collecting the workers' view failed");
            sendJson(res, 500, { error: { code: 'VIEW_FAILED', message: 'Collection failed' } });
          },
        );
        return;
      case '/api/events':
        if (context.dashboard === undefined) break;
        if (req.method === 'HEAD') {
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' }).end();
        } else {
          context.dashboard.feed.stream(res);
        }
        return;
      case '/api/listeners':
        if (context.listenersView === undefined) {
          sendJson(res, 200, { listeners: listenersView(context.listeners?.() ?? [], Date.now()) });
          return;
        }
        context.listenersView().then(
          (listeners) => sendJson(res, 200, { listeners }),
          (error: unknown) => {
            context.logger.error({ err: error }, "collecting the workers' listeners failed");
            sendJson(res, 500, { error: { code: 'VIEW_FAILED', message: 'Collection failed' } });
          },
        );
        return;
      case '/metrics':
        (context.collectMetrics ?? (() => context.metrics.registry.metrics()))().then(
          (text) => {
            res.writeHead(200, { 'content-type': context.metrics.registry.contentType });
            res.end(text);
          },
          (error: unknown) => {
            context.logger.error({ err: error }, 'metrics collection failed');
            sendJson(res, 500, {
              error: { code: 'METRICS_FAILED', message: 'Metrics collection failed' },
            });
          },
        );
        return;
    }
    sendError(res, 'NOT_FOUND', `No admin endpoint ${path}`, undefined);
  });
}

/** The JSON view of upstreams and their targets served at `GET /api/upstreams`. */
export function upstreamsView(pools: Iterable<UpstreamPool>): UpstreamsView {
  const upstreams: UpstreamsView['upstreams'] = [];
  for (const pool of pools) {
    // The balancer's own selection, so a target readmitted over the ejection cap (or in panic
    // mode) is reported eligible, as it is treated.
    const candidates = new Set<Target>(pool.selection().candidates);
    upstreams.push({
      name: pool.name,
      balance: pool.balance,
      limits: { ...pool.limits },
      inFlight: pool.inFlight,
      pending: pool.pending,
      retriesInFlight: pool.retriesInFlight,
      overloads: { ...pool.overloads },
      targets: pool.targets.map((target) => ({
        url: target.id,
        weight: target.weight,
        healthy: target.healthy,
        eligible: candidates.has(target),
        drained: target.drained,
        activeRequests: target.activeRequests,
        breaker: {
          state: target.breaker?.state ?? 'disabled',
          retryAfter: Math.ceil(target.breaker?.retryAfter ?? 0),
        },
        ejections: target.ejections,
        ...(pool.balancer.latency === undefined
          ? {}
          : { latency: roundedMs(pool.balancer.latency(target)) }),
        ...(target.limiter === undefined
          ? {}
          : { concurrency: { limit: target.limiter.limit, inFlight: target.limiter.inFlight } }),
        lastCheck: checkView(target.checker?.lastCheck),
      })),
    });
  }
  return { upstreams };
}

function roundedMs(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 1000) / 1000;
}

function checkView(
  check: HealthCheckResult | undefined,
): UpstreamsView['upstreams'][number]['targets'][number]['lastCheck'] {
  if (check === undefined) return null;
  return {
    // Probe times come from the health clock; a wall-clock timestamp is what an operator reads.
    at: new Date(Date.now() - (performance.now() - check.at)).toISOString(),
    ok: check.ok,
    ...(check.status !== undefined ? { status: check.status } : {}),
    ...(check.error !== undefined ? { error: check.error } : {}),
    durationMs: Math.round(check.durationMs),
  };
}

function authorized(req: IncomingMessage, expected: Buffer): boolean {
  const header = req.headers.authorization;
  if (header === undefined) return false;
  // Auth schemes are case-insensitive (RFC 9110 §11.1): `bearer x` is as good as `Bearer x`.
  const match = BEARER.exec(header);
  if (match === null) return false;
  // Hashing first gives equal-length buffers, so the comparison time says nothing about the token.
  return timingSafeEqual(digest(match[1]!.trim()), expected);
}

const BEARER = /^bearer[ \t]+(.+)$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
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
