/**
 * One upstream server. The forwarder, balancers, health checker and outlier detection all look
 * at the same object, so a change of health is seen by the next pick without copying state.
 */
import type { AdaptiveConcurrencyPolicy, Permit } from 'breakwater';
import { Pool } from 'undici';
import { defaults } from '../config/defaults.ts';
import type { BalancedTarget } from './balancers/balancer.ts';
import type { ActiveHealthChecker } from './health/active-checker.ts';

/**
 * What the proxy needs of a per-target circuit breaker (outlier detection): a core
 * `CircuitBreaker` fits. `undefined` on a target means no outlier detection: always admitted.
 */
export interface TargetBreaker {
  /** `'closed'`, `'open'`, `'half-open'`, `'forced-open'` or `'disabled'`. */
  readonly state: string;
  /** Milliseconds until the breaker admits a request again; 0 when it would now. */
  readonly retryAfter: number;
  /** Admits one request, or refuses (`undefined`) while open or while its half-open trial runs. */
  tryAcquire(): Permit | undefined;
  /** Stops sharing state with other processes (a core breaker's `dispose`); absent: nothing to stop. */
  dispose?(): void;
}

/** How a target's connections behave. */
export interface TargetTimeouts {
  /** Milliseconds to establish a TCP connection before failing with `UPSTREAM_CONNECT_FAILED`. */
  readonly connect: number;
  /** Milliseconds to wait for response headers before failing with `UPSTREAM_TIMEOUT`. */
  readonly response: number;
  /** Milliseconds an unused keep-alive connection is kept open. */
  readonly idle: number;
}

/**
 * An upstream server: identity (its URL), weight, live counters, health state and the undici
 * `Pool` of keep-alive connections to it. Health state lives here, on the object, so a reload
 * that keeps a target (same URL) keeps its breaker, checker and counters by keeping the object.
 *
 * - `healthy`: the active checks' view (always `true` without `healthCheck`).
 * - `breaker`: outlier detection (passive); attached by `attachTargetHealth`.
 * - `drained`: operator's or reload's decision; finishes in-flight, takes nothing new.
 *
 * @example
 * const target = new Target('http://127.0.0.1:8001', 1, { connect: 2000, response: 30000, idle: 4000 });
 * await target.close();
 */
export class Target implements BalancedTarget {
  /** The target's URL (origin), stable across reloads. */
  readonly id: string;
  readonly url: URL;
  /** Relative share of traffic; a reload changes it in place (balancers read it on every pick). */
  weight: number;
  /** `host:port`, sent as Host when `preserveHost` is off. */
  readonly host: string;
  /** Requests in flight to this target right now. */
  activeRequests = 0;
  /** Set by active health checks; eligible targets must be healthy (`selection.ts`). */
  healthy = true;
  /** Set by an operator or a reload that removes the target: finish in-flight, take no new ones. */
  drained = false;
  /** The outlier-detection breaker for this target; `undefined` when detection is off. */
  breaker: TargetBreaker | undefined = undefined;
  /**
   * The target's adaptive concurrency limit (`adaptiveConcurrency` in its upstream's config);
   * `undefined` when there is none. Replaced when the upstream's config changes.
   */
  limiter: AdaptiveConcurrencyPolicy | undefined = undefined;
  /** How many times outlier detection ejected this target (its breaker opened). */
  ejections = 0;
  /** The active health checker probing this target, when `healthCheck` is configured. */
  checker: ActiveHealthChecker | undefined = undefined;
  /** Connections to the target; replaced (not mutated) when a reload changes the timeouts. */
  pool: Pool;
  timeouts: TargetTimeouts;
  /** Most connections open to the target at once (`limits.maxConnections`); more requests wait. */
  maxConnections: number;

  constructor(
    url: string,
    weight: number,
    timeouts: TargetTimeouts,
    maxConnections = defaults.upstreamLimits.maxConnections,
  ) {
    this.id = url;
    this.timeouts = timeouts;
    this.maxConnections = maxConnections;
    this.url = new URL(url);
    this.weight = weight;
    this.host = this.url.host;
    this.pool = connectionPool(this.url, timeouts, maxConnections);
  }

  /** Whether a request sent now would wait for a connection: all `maxConnections` are busy. */
  get saturated(): boolean {
    return this.activeRequests >= this.maxConnections;
  }

  /**
   * Switches to a new connection pool with other timeouts (undici fixes them per pool), keeping
   * everything else: health, breaker, drained flag, counters. Requests in flight finish on the
   * old pool; the returned promise resolves once it has closed.
   */
  replacePool(timeouts: TargetTimeouts, maxConnections = this.maxConnections): Promise<void> {
    const previous = this.pool;
    this.timeouts = timeouts;
    this.maxConnections = maxConnections;
    this.pool = connectionPool(this.url, timeouts, maxConnections);
    return previous.close();
  }

  /** Stops health checks, closes idle connections and waits for in-flight requests. */
  async close(): Promise<void> {
    this.breaker?.dispose?.();
    await this.checker?.stop();
    await this.pool.close();
  }

  /** Stops health checks and drops every connection now, failing in-flight requests. */
  async destroy(): Promise<void> {
    this.breaker?.dispose?.();
    await this.checker?.stop();
    await this.pool.destroy();
  }
}

function connectionPool(url: URL, timeouts: TargetTimeouts, maxConnections: number): Pool {
  return new Pool(url.origin, {
    connections: maxConnections,
    connectTimeout: timeouts.connect,
    headersTimeout: timeouts.response,
    // The response timeout bounds waiting for headers; a slow but live body stream is the
    // client's business, so body gaps get the same bound rather than a separate knob.
    bodyTimeout: timeouts.response,
    keepAliveTimeout: timeouts.idle,
    keepAliveMaxTimeout: Math.max(timeouts.idle, 1_000),
  });
}
