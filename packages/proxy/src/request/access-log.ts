/**
 * The end of every request, plain or upgrade, refused or forwarded: one access-log line and the
 * request metrics. Also the one status ladder for what a request that ended without an upstream
 * status is logged as (499 when the client left, the error code's status, else 502).
 */
import type { Socket } from 'node:net';
import type { ProxiedRequest } from '../http/client-message.ts';
import { type ProxyErrorCode, statusOf } from '../http/proxy-error.ts';
import type { Logger } from '../logger.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';

// nginx's convention for "client closed the connection before the response".
const CLIENT_CLOSED = 499;

/** What the request path records in metrics; the admin layer's `ProxyMetrics` implements it. */
export interface RequestMetrics {
  /** One finished request. `upstream` is `''` for requests that matched no route. */
  observe(upstream: string, status: number, seconds: number): void;
  /** One response the proxy generated itself. */
  observeError(upstream: string, code: ProxyErrorCode): void;
  /** One attempt sent again after a failed one. */
  observeRetry(upstream: string): void;
}

/** One finished request, as the access log and the metrics see it. */
export interface RequestRecord {
  readonly req: ProxiedRequest;
  /** The status the client got (or 499 when it left first). */
  readonly status: number;
  /** The upstream's name; `''` before a route matched. */
  readonly upstream: string;
  /** The last target tried, when one was. */
  readonly target?: string | undefined;
  readonly requestId: string;
  /** `performance.now()` when the request arrived. */
  readonly start: number;
  /** The proxy's own error code, when it answered itself. */
  readonly code?: ProxyErrorCode | undefined;
  /** Attempts after the first. */
  readonly retries?: number | undefined;
}

/**
 * The status a request is logged with: the upstream's when it answered, 499 when the client
 * went away, the error code's status when the proxy answered itself, else 502.
 *
 * @example
 * loggedStatus('aborted', 0, undefined);          // 499
 * loggedStatus('timeout', 0, 'UPSTREAM_TIMEOUT'); // 504
 */
export function loggedStatus(
  outcome: AttemptOutcome,
  upstreamStatus: number,
  code: ProxyErrorCode | undefined,
): number {
  if (outcome === 'aborted') return CLIENT_CLOSED;
  if (upstreamStatus !== 0) return upstreamStatus;
  return code !== undefined ? statusOf[code] : 502;
}

/**
 * Writes the access-log line (when enabled) and the metrics of finished requests.
 *
 * @example
 * const log = new AccessLog(logger, metrics, true);
 * log.record({ req, status: 200, upstream: 'api', target: 'http://10.0.0.5', requestId, start });
 */
export class AccessLog {
  readonly #logger: Logger;
  readonly #enabled: boolean;
  readonly metrics: RequestMetrics;

  constructor(logger: Logger, metrics: RequestMetrics, enabled: boolean) {
    this.#logger = logger;
    this.metrics = metrics;
    this.#enabled = enabled;
  }

  /** Records one finished request. */
  record(entry: RequestRecord): void {
    const durationMs = performance.now() - entry.start;
    const { status, upstream, code } = entry;
    this.metrics.observe(upstream, status, durationMs / 1000);
    if (code !== undefined) this.metrics.observeError(upstream, code);
    if (!this.#enabled) return;
    const req = entry.req;
    this.#logger.info(
      {
        requestId: entry.requestId,
        method: req.method,
        path: req.url,
        status,
        upstream: upstream === '' ? undefined : upstream,
        target: entry.target,
        durationMs: Math.round(durationMs * 1000) / 1000,
        code,
        retries: entry.retries,
        // node detaches the socket from a request whose connection has closed.
        remoteAddress: (req.socket as Socket | null)?.remoteAddress,
      },
      'request',
    );
  }
}
