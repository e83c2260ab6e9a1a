/**
 * Metrics of the listeners, read from them at scrape time: connections open and accepted by
 * protocol, TLS handshakes by version and failed, and the seconds left before each served
 * certificate expires (`breakwater_certificate_expiry_seconds`, negative once expired), so an
 * alert fires on a renewal that never happened whatever the reason.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Listener } from '../request/listeners.ts';

/**
 * Registers the listener metrics in `registry`. `now` is the wall clock in milliseconds (expiry
 * is a calendar date, so a monotonic clock would not do).
 *
 * @example
 * registerListenerMetrics(metrics.registry, () => listeners, Date.now);
 */
export function registerListenerMetrics(
  registry: Registry,
  listeners: () => Iterable<Listener>,
  now: () => number,
): void {
  new Gauge({
    name: 'breakwater_listener_connections',
    help: 'Client connections open now, by listener and protocol (http/1.1, h2).',
    labelNames: ['listener', 'protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const listener of listeners()) {
        for (const [protocol, open] of listener.stats.open) {
          this.set({ listener: nameOf(listener), protocol }, open);
        }
      }
    },
  });
  new Counter({
    name: 'breakwater_listener_connections_total',
    help: 'Client connections accepted, by listener and protocol (http/1.1, h2).',
    labelNames: ['listener', 'protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const listener of listeners()) {
        for (const [protocol, count] of listener.stats.accepted) {
          this.inc({ listener: nameOf(listener), protocol }, count);
        }
      }
    },
  });
  new Counter({
    name: 'breakwater_tls_handshakes_total',
    help: 'TLS handshakes completed, by listener and TLS version.',
    labelNames: ['listener', 'version'],
    registers: [registry],
    collect() {
      this.reset();
      for (const listener of listeners()) {
        for (const [version, count] of listener.stats.tlsVersions) {
          this.inc({ listener: nameOf(listener), version }, count);
        }
      }
    },
  });
  new Counter({
    name: 'breakwater_tls_handshake_failures_total',
    help: 'TLS handshakes that failed or timed out, by listener.',
    labelNames: ['listener'],
    registers: [registry],
    collect() {
      this.reset();
      for (const listener of listeners()) {
        if (listener.kind === 'https') {
          this.inc({ listener: nameOf(listener) }, listener.stats.tlsFailures);
        }
      }
    },
  });
  new Gauge({
    name: 'breakwater_certificate_expiry_seconds',
    help: 'Seconds until a served certificate expires (negative once it has), by listener, config path and names.',
    labelNames: ['listener', 'path', 'names'],
    registers: [registry],
    collect() {
      this.reset();
      const at = now();
      for (const listener of listeners()) {
        for (const certificate of listener.certificates?.list() ?? []) {
          this.set(
            {
              listener: nameOf(listener),
              path: certificate.path,
              names: certificate.names.join(','),
            },
            (certificate.validTo.getTime() - at) / 1000,
          );
        }
      }
    },
  });
}

/** `host:port` as configured (port 0 stays 0: the label must not change with the bound port). */
function nameOf(listener: Listener): string {
  const { host, port } = listener.entry;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
