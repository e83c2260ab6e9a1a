/**
 * The admin API's view of the listeners (`GET /api/listeners`): address, kind, protocols offered
 * and in use, TLS versions negotiated, and each certificate with its names, expiry and the last
 * failed reload of its files.
 */
import type { AddressInfo } from 'node:net';
import type { Listener } from '../request/listeners.ts';

/** JSON of one listener. */
export interface ListenerView {
  readonly address: string;
  readonly kind: Listener['kind'];
  readonly protocols: readonly string[];
  readonly connections: {
    readonly open: Record<string, number>;
    readonly accepted: Record<string, number>;
  };
  readonly tls?: {
    readonly minVersion: string;
    readonly handshakes: Record<string, number>;
    readonly handshakeFailures: number;
    readonly certificates: readonly {
      readonly path: string;
      readonly certFile: string;
      readonly keyFile: string;
      readonly names: readonly string[];
      readonly subject: string;
      readonly issuer: string;
      readonly serialNumber: string;
      readonly fingerprint256: string;
      readonly validFrom: string;
      readonly validTo: string;
      readonly expiresInSeconds: number;
      readonly lastError?: { readonly code: string; readonly message: string };
    }[];
  };
}

/**
 * Builds the view; `now` is the wall clock in milliseconds.
 *
 * @example
 * json(res, 200, { listeners: listenersView(listeners, Date.now()) });
 */
export function listenersView(listeners: Iterable<Listener>, now: number): ListenerView[] {
  return [...listeners].map((listener) => {
    const bound = listener.server.address() as AddressInfo | null;
    const host = bound?.address ?? listener.entry.host;
    const port = bound?.port ?? listener.entry.port;
    const view: ListenerView = {
      address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`,
      kind: listener.kind,
      protocols: listener.protocols,
      connections: {
        open: Object.fromEntries(listener.stats.open),
        accepted: Object.fromEntries(listener.stats.accepted),
      },
    };
    const tls = listener.entry.tls;
    if (tls === undefined || listener.certificates === undefined) return view;
    return {
      ...view,
      tls: {
        minVersion: tls.minVersion,
        handshakes: Object.fromEntries(listener.stats.tlsVersions),
        handshakeFailures: listener.stats.tlsFailures,
        certificates: listener.certificates.list().map((c) => ({
          path: c.path,
          certFile: c.certFile,
          keyFile: c.keyFile,
          names: c.names,
          subject: c.subject,
          issuer: c.issuer,
          serialNumber: c.serialNumber,
          fingerprint256: c.fingerprint256,
          validFrom: c.validFrom.toISOString(),
          validTo: c.validTo.toISOString(),
          expiresInSeconds: Math.round((c.validTo.getTime() - now) / 1000),
          ...(c.lastError && { lastError: c.lastError }),
        })),
      },
    };
  });
}
