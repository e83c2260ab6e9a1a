/**
 * Prometheus metrics. The hot path touches pre-built label objects only; per-target gauges are
 * read from the targets at scrape time, so in-flight counting costs nothing extra.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { UpstreamPool } from './upstream-pool.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

interface UpstreamLabels {
  readonly byClass: readonly { upstream: string; status_class: string }[];
  readonly upstream: { upstream: string };
}

/**
 * The proxy's metrics, in a registry of its own (several proxies may share a process in tests).
 *
 * @example
 * const metrics = new ProxyMetrics(() => pools);
 * metrics.observe('api', 200, 0.012);
 * await metrics.registry.metrics(); // Prometheus text
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'upstream' | 'status_class'>;
  readonly #duration: Histogram<'upstream'>;
  readonly #errors: Counter<'upstream' | 'code'>;
  readonly #retries: Counter<'upstream'>;
  readonly #labels = new Map<string, UpstreamLabels>();

  constructor(pools: () => Iterable<UpstreamPool>) {
    this.#requests = new Counter({
      name: 'breakwater_requests_total',
      help: 'Requests forwarded, by upstream and response status class (proxy-generated errors included).',
      labelNames: ['upstream', 'status_class'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: 'breakwater_request_duration_seconds',
      help: 'Time from request received to response finished, by upstream.',
      labelNames: ['upstream'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.#errors = new Counter({
      name: 'breakwater_proxy_errors_total',
      help: 'Responses the proxy generated itself, by upstream and error code (NO_ROUTE, UPSTREAM_TIMEOUT…).',
      labelNames: ['upstream', 'code'],
      registers: [this.registry],
    });
    this.#retries = new Counter({
      name: 'breakwater_retries_total',
      help: 'Attempts sent again to a target (usually another one) after a failed attempt, by upstream.',
      labelNames: ['upstream'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'breakwater_target_active_requests',
      help: 'Requests in flight to each upstream target.',
      labelNames: ['upstream', 'target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          for (const target of pool.targets) {
            this.set({ upstream: pool.name, target: target.id }, target.activeRequests);
          }
        }
      },
    });
    new Gauge({
      name: 'breakwater_target_healthy',
      help: 'Whether each upstream target is eligible for traffic (1) or not (0).',
      labelNames: ['upstream', 'target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          for (const target of pool.targets) {
            this.set({ upstream: pool.name, target: target.id }, target.eligible ? 1 : 0);
          }
        }
      },
    });
  }

  /** Records one finished request. `upstream` is `''` for requests that matched no route. */
  observe(upstream: string, status: number, seconds: number): void {
    const labels = this.#upstreamLabels(upstream);
    const classIndex = Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4);
    this.#requests.inc(labels.byClass[classIndex]!);
    this.#duration.observe(labels.upstream, seconds);
  }

  /** Records one retry (an attempt after the first) of a request to `upstream`. */
  observeRetry(upstream: string): void {
    this.#retries.inc(this.#upstreamLabels(upstream).upstream);
  }

  #upstreamLabels(upstream: string): UpstreamLabels {
    let labels = this.#labels.get(upstream);
    if (labels === undefined) {
      labels = {
        byClass: STATUS_CLASSES.map((statusClass) => ({ upstream, status_class: statusClass })),
        upstream: { upstream },
      };
      this.#labels.set(upstream, labels);
    }
    return labels;
  }

  /** Records a response the proxy generated itself (rare, so labels are built on the spot). */
  observeError(upstream: string, code: string): void {
    this.#errors.inc({ upstream, code });
  }
}
