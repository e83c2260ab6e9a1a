import { Pool } from 'undici';
import { type StatusRange, statusInRanges } from '../../config/status-ranges.ts';
import { describeError, type Probe, type ProbeResult } from './probe.ts';

/** Options for {@link HttpProbe}. */
export interface HttpProbeOptions {
  /** Path (and query) to request, e.g. `/healthz`. */
  readonly path: string;
  /** Statuses that pass. */
  readonly expectStatus: readonly StatusRange[];
  /** Bounds connecting, waiting for headers and reading the body, in ms. */
  readonly timeoutMs: number;
  /** Host header to send instead of the target's own `host:port`. */
  readonly host?: string | undefined;
}

/**
 * An HTTP health probe: `GET path` on the target, passing when the status is in `expectStatus`.
 *
 * Probes use their own one-connection pool, never the traffic pool, so a saturated traffic pool
 * cannot make a healthy target look dead and probes never queue behind user requests. Each probe
 * opens a fresh connection (`Connection: close`): it checks that the target still accepts
 * connections, and avoids false failures from a keep-alive socket the server closed while idle
 * between probes. The body is read and discarded so the connection closes cleanly.
 *
 * @example
 * ```ts
 * const probe = new HttpProbe('http://10.0.0.5:8080', {
 *   path: '/healthz', expectStatus: [[200, 399]], timeoutMs: 2_000,
 * });
 * const { ok, status } = await probe.run(AbortSignal.timeout(2_000));
 * await probe.close();
 * ```
 */
export class HttpProbe implements Probe {
  readonly #origin: string;
  #pool: Pool | undefined;
  readonly #options: HttpProbeOptions;
  readonly #headers: Record<string, string>;

  constructor(target: string | URL, options: HttpProbeOptions) {
    this.#origin = new URL(target).origin;
    this.#options = options;
    this.#headers = { 'user-agent': 'breakwater-health-check' };
    if (options.host !== undefined) this.#headers.host = options.host;
  }

  async run(signal: AbortSignal): Promise<ProbeResult> {
    // Created on demand so that a probe closed by a stopped checker works again on restart.
    // The real-time bounds back up the caller's clock-driven abort signal; with the system clock
    // both fire at the same moment.
    this.#pool ??= new Pool(this.#origin, {
      connections: 1,
      connectTimeout: this.#options.timeoutMs,
      headersTimeout: this.#options.timeoutMs,
      bodyTimeout: this.#options.timeoutMs,
    });
    try {
      const response = await this.#pool.request({
        method: 'GET',
        path: this.#options.path,
        headers: this.#headers,
        reset: true,
        signal,
      });
      // A health endpoint that streams forever must not pin the probe; cap what is read.
      await response.body.dump({ limit: 64 * 1024, signal });
      const status = response.statusCode;
      return statusInRanges(status, this.#options.expectStatus)
        ? { ok: true, status }
        : { ok: false, status, error: `unexpected status ${status}` };
    } catch (error) {
      return { ok: false, error: describeError(signal.aborted ? signal.reason : error) };
    }
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }
}
