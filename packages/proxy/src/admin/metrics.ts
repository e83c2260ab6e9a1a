/**
 * Prometheus metrics. The hot path only adds to plain numbers in a per-upstream tally (request
 * counts by status class, duration buckets); prom-client reads the tallies at scrape time. Its
 * own `inc()`/`observe()` hash the label object on every call, which costs more than the rest of
 * the bookkeeping of a request. Per-target gauges are read from the targets at scrape time too.
 */
import { type Instrumentation, instrument } from '@breakwater/prometheus';
import { CircuitBreaker } from 'breakwater';
import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import type { RequestMetrics } from '../request/access-log.ts';
import type { ResponseSpills } from '../request/response-spills.ts';
import type { SlowReaders } from '../request/slow-readers.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

const DURATION_NAME = 'breakwater_request_duration_seconds';
// Upper bounds in seconds; a duration above the last counts in +Inf only.
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One upstream's counts since the start, added to on the hot path, read at scrape time. */
interface UpstreamTally {
  readonly byClass: readonly { upstream: string; status_class: string }[];
  readonly upstream: { upstream: string };
  /** Requests per status class, indexed like STATUS_CLASSES. */
  readonly requests: Float64Array;
  /** Requests per duration bucket (not cumulative); the last slot is above every bound. */
  readonly buckets: Float64Array;
  durationSum: number;
  durationCount: number;
}

/**
 * The proxy's metrics, in a registry of its own (several proxies may share a process in tests).
 *
 * @example
 * const metrics = new ProxyMetrics(() => pools);
 * metrics.observe('api', 200, 0.012);
 * await metrics.registry.metrics(); // Prometheus text
 */
export class ProxyMetrics implements RequestMetrics {
  readonly registry = new Registry();
  readonly #errors: Counter<'upstream' | 'code'>;
  readonly #retries: Counter<'upstream'>;
  readonly #tallies = new Map<string, UpstreamTally>();
  readonly #pools: () => Iterable<UpstreamPool>;
  /** The targets' outlier-detection breakers, exported as `breakwater_breaker_*`. */
  readonly #breakers = new Map<CircuitBreaker, Instrumentation>();

  constructor(pools: () => Iterable<UpstreamPool>) {
    this.#pools = pools;
    const tallies = this.#tallies;
    new Counter({
      name: 'breakwater_requests_total',
      help: 'Requests forwarded, by upstream and response status class (proxy-generated errors included).',
      labelNames: ['upstream', 'status_class'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const tally of tallies.values()) {
          for (let i = 0; i < STATUS_CLASSES.length; i++) {
            const count = tally.requests[i]!;
            if (count > 0) this.inc(tally.byClass[i]!, count);
          }
        }
      },
    });
    this.registry.registerMetric(new DurationHistogram(tallies) as unknown as Metric);
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
    this.#targetGauge(
      'breakwater_target_active_requests',
      'Requests in flight to each upstream target.',
      pools,
      (target) => target.activeRequests,
    );
    this.#limitMetrics(pools);
    this.#targetGauge(
      'breakwater_target_healthy',
      'Whether each upstream target is eligible for traffic (1) or not (0), as the balancer sees it.',
      pools,
      (target, candidates) => (candidates.has(target) ? 1 : 0),
      // Workers share one view of the target: summing their 1s would count it once per worker.
      'max',
    );
    this.#targetGauge(
      'breakwater_target_concurrency_limit',
      'The adaptive concurrency limit of each upstream target that has one (adaptiveConcurrency).',
      pools,
      (target) => target.limiter?.limit,
    );
    this.adoptTargets();
  }

  /**
   * Exports the outlier-detection breaker of every target not yet exported, under the library's
   * `breakwater_breaker_*` names (breaker `"<upstream> <target url>"`), and stops exporting the
   * breakers of targets that are gone. Called at start and after each reload: targets change
   * only then. Their counters keep their totals.
   */
  adoptTargets(): void {
    const current = new Set<CircuitBreaker>();
    for (const pool of this.#pools()) {
      for (const target of pool.targets) {
        const breaker = target.breaker;
        if (!(breaker instanceof CircuitBreaker)) continue;
        current.add(breaker);
        if (!this.#breakers.has(breaker)) {
          this.#breakers.set(breaker, instrument(breaker, { register: this.registry }));
        }
      }
    }
    for (const [breaker, instrumentation] of this.#breakers) {
      if (current.has(breaker)) continue;
      instrumentation.dispose();
      this.#breakers.delete(breaker);
    }
  }

  /** Counts the clients `slowReaders` cut off, by reason (`min-rate`, `send-timeout`). */
  countSlowReaders(slowReaders: SlowReaders): void {
    new Counter({
      name: 'breakwater_slow_clients_cut_total',
      help: 'Client connections closed for reading responses too slowly (limits.minResponseRate, limits.sendTimeout), by reason.',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(slowReaders.cut)) {
          if (count > 0) this.inc({ reason }, count);
        }
      },
    });
  }

  /**
   * Responses spilled to disk for clients that fell behind (`limits.responseSpill`): how many,
   * how many bytes, what is on disk now, and the spills a bound or a disk error stopped.
   */
  countResponseSpills(spills: ResponseSpills): void {
    const registers = [this.registry];
    new Counter({
      name: 'breakwater_responses_spilled_total',
      help: 'Responses whose client fell more than limits.responseBuffer behind, continued through a temp file (limits.responseSpill).',
      registers,
      collect() {
        this.reset();
        this.inc(spills.spilled);
      },
    });
    new Counter({
      name: 'breakwater_response_spill_bytes_total',
      help: 'Bytes of responses written to spill files.',
      registers,
      collect() {
        this.reset();
        this.inc(spills.bytesWritten);
      },
    });
    new Gauge({
      name: 'breakwater_response_spill_files',
      help: 'Spill files open now (one per response being fed to its client from disk).',
      registers,
      collect() {
        this.set(spills.files);
      },
    });
    new Gauge({
      name: 'breakwater_response_spill_disk_bytes',
      help: 'Bytes held in spill files now, against limits.responseSpill.maxTotalSize.',
      registers,
      collect() {
        this.set(spills.diskBytes);
      },
    });
    new Counter({
      name: 'breakwater_response_spill_fallbacks_total',
      help: 'Spills refused or stopped (max-file-size, max-total-size, error): the rest of the response waited for its client instead.',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(spills.fallbacks)) {
          if (count > 0) this.inc({ reason }, count);
        }
      },
    });
  }

  /** Upstream thresholds (`limits`): what they turned away, and how close the upstream is. */
  #limitMetrics(pools: () => Iterable<UpstreamPool>): void {
    new Counter({
      name: 'breakwater_upstream_overloads_total',
      help: 'Requests answered 503 OVERLOADED (maxRequests, maxPending, every target at its adaptiveConcurrency limit) or retries not made (maxRetries, adaptiveConcurrency), by upstream and limit.',
      labelNames: ['upstream', 'limit'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          for (const [limit, count] of Object.entries(pool.overloads)) {
            if (count > 0) this.inc({ upstream: pool.name, limit }, count);
          }
        }
      },
    });
    const upstreamGauge = (name: string, help: string, read: (pool: UpstreamPool) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['upstream'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const pool of pools()) this.set({ upstream: pool.name }, read(pool));
        },
      });
    upstreamGauge(
      'breakwater_upstream_pending_requests',
      'Requests waiting for a connection (beyond limits.maxConnections on their target).',
      (pool) => pool.pending,
    );
    upstreamGauge(
      'breakwater_upstream_retries_in_flight',
      'Retries in flight, against limits.maxRetries.',
      (pool) => pool.retriesInFlight,
    );
  }

  /** A per-target gauge read from the targets at scrape time: nothing to update per request. */
  #targetGauge(
    name: string,
    help: string,
    pools: () => Iterable<UpstreamPool>,
    /** `undefined`: the target has no such value; no sample for it. */
    read: (target: Target, candidates: ReadonlySet<Target>) => number | undefined,
    aggregator: 'sum' | 'max' = 'sum',
  ): void {
    new Gauge({
      name,
      help,
      // How a cluster's primary combines the workers' values (prom-client's AggregatorRegistry).
      aggregator,
      labelNames: ['upstream', 'target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const pool of pools()) {
          // One selection per upstream and scrape: the same eligibility the balancer reads.
          const candidates = new Set(pool.selection().candidates);
          for (const target of pool.targets) {
            const value = read(target, candidates);
            if (value !== undefined) this.set({ upstream: pool.name, target: target.id }, value);
          }
        }
      },
    });
  }

  /** Records one finished request. `upstream` is `''` for requests that matched no route. */
  observe(upstream: string, status: number, seconds: number): void {
    const tally = this.#tally(upstream);
    const classIndex = Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4);
    tally.requests[classIndex]!++;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    tally.buckets[bucket]!++;
    tally.durationSum += seconds;
    tally.durationCount++;
  }

  /** Records one retry (an attempt after the first) of a request to `upstream`. */
  observeRetry(upstream: string): void {
    this.#retries.inc(this.#tally(upstream).upstream);
  }

  #tally(upstream: string): UpstreamTally {
    let tally = this.#tallies.get(upstream);
    if (tally === undefined) {
      tally = {
        byClass: STATUS_CLASSES.map((statusClass) => ({ upstream, status_class: statusClass })),
        upstream: { upstream },
        requests: new Float64Array(STATUS_CLASSES.length),
        buckets: new Float64Array(DURATION_BUCKETS.length + 1),
        durationSum: 0,
        durationCount: 0,
      };
      this.#tallies.set(upstream, tally);
    }
    return tally;
  }

  /** Records a response the proxy generated itself (rare, so labels are built on the spot). */
  observeError(upstream: string, code: string): void {
    this.#errors.inc({ upstream, code });
  }
}

/** A value as prom-client's registry reads it from a metric's `get()`. */
interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName: string;
}

/**
 * `breakwater_request_duration_seconds`, rendered from the tallies at scrape time in the shape
 * prom-client's own Histogram gives (cumulative `_bucket` with `le` first, `_sum`, `_count`), so
 * the exposition is unchanged. The registry reads any object with this shape.
 */
class DurationHistogram {
  readonly name = DURATION_NAME;
  readonly help = 'Time from request received to response finished, by upstream.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #tallies: ReadonlyMap<string, UpstreamTally>;

  constructor(tallies: ReadonlyMap<string, UpstreamTally>) {
    this.#tallies = tallies;
  }

  get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: MetricValue[];
    aggregator: string;
  }> {
    const values: MetricValue[] = [];
    for (const [upstream, tally] of this.#tallies) {
      if (tally.durationCount === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += tally.buckets[i]!;
        values.push({
          labels: { le: DURATION_BUCKETS[i]!, upstream },
          value: cumulative,
          metricName: `${DURATION_NAME}_bucket`,
        });
      }
      values.push(
        {
          labels: { le: '+Inf', upstream },
          value: tally.durationCount,
          metricName: `${DURATION_NAME}_bucket`,
        },
        { labels: { upstream }, value: tally.durationSum, metricName: `${DURATION_NAME}_sum` },
        { labels: { upstream }, value: tally.durationCount, metricName: `${DURATION_NAME}_count` },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** `registry.resetMetrics()` resets every metric; the tallies are the proxy's lifetime counts. */
  reset(): void {}
}
