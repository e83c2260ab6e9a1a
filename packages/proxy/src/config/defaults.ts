/**
 * Every default of the config file, in one place. The schema fills them in (`.default(…)`), so
 * the rest of the proxy only ever sees complete, validated settings and restates none of these.
 * Durations are in milliseconds, sizes in bytes, percentages 0–100.
 */
import { tmpdir } from 'node:os';
import type { BalanceKind, ClusterAccept, FailOn, UnderscoreRule } from './choices.ts';

/** A condition worth a retry: an error kind, or a response status. */
export type RetryOn = 'connect-error' | 'reset' | 'timeout' | number;

/** The defaults, grouped like the config file. */
export const defaults = {
  preserveHost: true,
  shutdownTimeout: 10_000,
  /**
   * One worker per core, as nginx (`worker_processes auto`) and HAProxy (one thread per core)
   * do: a single-threaded load balancer leaves all but one core idle. `1` is one process, no
   * cluster.
   */
  workers: 'auto' as number | 'auto',
  cluster: {
    /** Keys and channels of `cluster.redis` start with this, so proxies share Redis safely. */
    redisPrefix: 'breakwater:proxy:',
    /**
     * How workers get connections. Round robin: the primary accepts and hands each connection to
     * a worker, so a worker that stops never drops a queued connection (a rolling restart
     * refuses none); bench/README.md ("Workers: accepting connections") gives the measurements
     * behind the choice over `reuse-port`.
     */
    accept: 'round-robin' as ClusterAccept,
  },
  admin: { listen: { host: '127.0.0.1', port: 9901 } },
  /** Request header names with `_`: dropped, as nginx's `underscores_in_headers off` does. */
  underscoresInHeaders: 'drop' as UnderscoreRule,
  limits: {
    /** Kestrel's MinResponseDataRate: a client reading slower than this is cut off. */
    minResponseRate: { bytesPerSecond: 240, gracePeriod: 5_000 },
    /** nginx's send_timeout. */
    sendTimeout: 60_000,
    responseBuffer: 65_536,
    /**
     * nginx's proxy_buffering with proxy_temp_path: what a client behind by more than
     * responseBuffer has not taken yet is written to a temp file, so the upstream connection is
     * free as soon as the upstream is done. 1gb per response as nginx's proxy_max_temp_file_size;
     * the total bounds what many slow readers can make the proxy write at once.
     */
    responseSpill: {
      maxFileSize: 1024 ** 3,
      maxTotalSize: 4 * 1024 ** 3,
      directory: tmpdir(),
    },
    requestBuffer: 65_536,
    maxHeaderSize: 16_384,
    headersTimeout: 10_000,
    requestTimeout: 120_000,
    keepAliveTimeout: 5_000,
  },
  /** Nobody's X-Forwarded-* or Forwarded fields are believed unless listed. */
  trustedProxies: [] as { address: string; prefix: number; family: 'ipv4' | 'ipv6' }[],
  /** A TLS listener's settings besides its certificates. */
  tls: {
    minVersion: 'TLSv1.2' as 'TLSv1.2' | 'TLSv1.3',
    alpn: ['h2', 'http/1.1'] as ('h2' | 'http/1.1')[],
    checkInterval: 5_000,
    handshakeTimeout: 10_000,
  },
  /**
   * HTTP/2 defences: stricter than Node's where Node's are generous for an edge (1000 resets,
   * 1000 invalid frames), Node's own where they already fit (100 streams, 128 header fields).
   */
  http2: {
    maxConcurrentStreams: 100,
    maxRejectedStreams: 100,
    streamResets: { burst: 200, perSecond: 33 },
    controlFrames: { burst: 100, perSecond: 20 },
    maxInvalidFrames: 100,
    maxHeaderPairs: 128,
  },
  log: {
    level: 'info' as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent',
    access: true,
  },
  upstream: {
    /**
     * Chosen by the failure suite's balancer sweep: with one slow target it serves 5–8× round
     * robin, and costs nothing measurable when all are healthy (README, Balancers).
     */
    balance: 'least-request' as BalanceKind,
    /** Percent; 0 turns panic mode off. */
    panicThreshold: 0,
  },
  /** Envoy's cluster circuit breakers, HAProxy's maxconn: per target and per upstream. */
  upstreamLimits: { maxConnections: 256, maxPending: 1024, maxRequests: 1024, maxRetries: 64 },
  target: { weight: 1 },
  timeouts: { connect: 5_000, response: 30_000, idle: 4_000 },
  healthCheck: {
    type: 'http' as 'http' | 'tcp',
    path: '/healthz',
    expectStatus: [[200, 399]] as [number, number][],
    interval: 5_000,
    jitter: 0.1,
    timeout: 1_000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
  },
  /** `failureRate` and `slowCallRate` rules. */
  ratePolicy: { minimumCalls: 20, window: 10_000 },
  /**
   * Outlier detection, on unless `outlierDetection: false`: like Envoy's default consecutive-5xx
   * detection, a target that fails 5 times in a row (refused, timed out or 5xx) is ejected for
   * 30 s, doubling on each re-ejection up to 5 min, at most half the upstream at once.
   */
  outlierDetection: {
    policy: { consecutiveFailures: 5 },
    failOn: ['connect-error', 'timeout', '5xx'] as FailOn[],
    ejection: { base: 30_000, max: 300_000 },
    maxEjectedPercent: 50,
  },
  /**
   * Retry, on unless `retry: false`: nginx's `proxy_next_upstream error` for idempotent methods:
   * one more try on another target when the connection failed or broke. Timeouts and 5xx are not
   * retried by default (that would add load to an upstream that is already slow or failing);
   * list them in `on` to opt in.
   */
  retry: {
    attempts: 2,
    on: ['connect-error', 'reset'] as RetryOn[],
    methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
    backoff: { initial: 25, max: 250 },
    budget: { ratio: 0.2, minPerSecond: 10 },
    replayBodyUpTo: 65_536,
  },
};
