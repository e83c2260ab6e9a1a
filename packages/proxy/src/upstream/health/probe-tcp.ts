import { connect } from 'node:net';
import { describeError, type Probe, type ProbeResult } from './probe.ts';

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * A TCP health probe: passes when a connection to the target's host and port is established,
 * then closes it at once. It proves the port is open, nothing about the application; use it for
 * targets without a health endpoint.
 *
 * @example
 * ```ts
 * const probe = new TcpProbe('http://10.0.0.5:8080');
 * const { ok } = await probe.run(AbortSignal.timeout(1_000));
 * ```
 */
export class TcpProbe implements Probe {
  readonly #host: string;
  readonly #port: number;

  constructor(target: string | URL) {
    const url = new URL(target);
    // URL keeps the brackets of an IPv6 literal; net.connect wants the bare address.
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = url.port ? Number(url.port) : (DEFAULT_PORTS[url.protocol] ?? 80);
  }

  run(signal: AbortSignal): Promise<ProbeResult> {
    if (signal.aborted) return Promise.resolve({ ok: false, error: describeError(signal.reason) });
    return new Promise((resolve) => {
      const socket = connect({ host: this.#host, port: this.#port });
      const finish = (result: ProbeResult) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(result);
      };
      const onAbort = () => finish({ ok: false, error: describeError(signal.reason) });
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => finish({ ok: true }));
      socket.on('error', (error) => finish({ ok: false, error: describeError(error) }));
    });
  }

  async close(): Promise<void> {}
}
