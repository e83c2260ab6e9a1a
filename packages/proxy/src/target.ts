/**
 * One upstream server. The forwarder, balancers, health checker and outlier detection all look
 * at the same object, so a change of health is seen by the next pick without copying state.
 */
import { Pool } from 'undici';
import type { BalancedTarget } from './balancers/balancer.ts';

/**
 * What the forwarder needs of a per-target circuit breaker (outlier detection). Filled in by the
 * outlier-detection layer; `undefined` means no breaker and the target is always admitted.
 */
export interface TargetBreaker {
  /** `'closed'`, `'open'`, `'half-open'`, `'forced-open'` or `'disabled'`. */
  readonly state: string;
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
 * An upstream server: identity (its URL), weight, live counters, health flags and the undici
 * `Pool` of keep-alive connections to it.
 *
 * @example
 * const target = new Target('http://127.0.0.1:8001', 1, { connect: 2000, response: 30000, idle: 4000 });
 * target.eligible; // true
 * await target.close();
 */
export class Target implements BalancedTarget {
  /** The target's URL (origin), stable across reloads. */
  readonly id: string;
  readonly url: URL;
  readonly weight: number;
  /** `host:port`, sent as Host when `preserveHost` is off. */
  readonly host: string;
  /** Requests in flight to this target right now. */
  activeRequests = 0;
  /** Set by active health checks; eligible targets must be healthy. */
  healthy = true;
  /** Set by an operator or a reload that removes the target: finish in-flight, take no new ones. */
  drained = false;
  /** The outlier-detection breaker for this target, once that feature attaches one. */
  breaker: TargetBreaker | undefined = undefined;
  readonly pool: Pool;
  readonly timeouts: TargetTimeouts;

  constructor(url: string, weight: number, timeouts: TargetTimeouts) {
    this.id = url;
    this.timeouts = timeouts;
    this.url = new URL(url);
    this.weight = weight;
    this.host = this.url.host;
    this.pool = new Pool(this.url.origin, {
      connectTimeout: timeouts.connect,
      headersTimeout: timeouts.response,
      // The response timeout bounds waiting for headers; a slow but live body stream is the
      // client's business, so body gaps get the same bound rather than a separate knob.
      bodyTimeout: timeouts.response,
      keepAliveTimeout: timeouts.idle,
      keepAliveMaxTimeout: Math.max(timeouts.idle, 1_000),
    });
  }

  /** Whether balancers may pick this target for a new request. */
  get eligible(): boolean {
    if (!this.healthy || this.drained) return false;
    const breakerState = this.breaker?.state;
    return breakerState !== 'open' && breakerState !== 'forced-open';
  }

  /** Closes idle connections and waits for in-flight requests. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Drops every connection now, failing in-flight requests. */
  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
