/**
 * What every sync transport does alike: keep the breakers attached by name, route a delivered
 * message to its breaker (a name nobody attached is ignored), tell every breaker when the link
 * goes up or down, log an outage once, and count what was dropped, as events. Transports
 * (`clusterSync`, `redisSync`) own one and add only their wire.
 */
import { Emitter, type Unsubscribe } from './events.ts';
import type { SyncPeer, SyncStatus } from './sync.ts';

/**
 * Events of a sync transport.
 *
 * @example
 * ```ts
 * sync.on('status', ({ status, error }) => metrics.syncUp.set(status === 'connected' ? 1 : 0));
 * sync.on('dropped', ({ reason }) => metrics.syncDropped.inc({ reason }));
 * ```
 */
export interface SyncEvents {
  /** The link to the other instances went up or down (`error` says why it went down). */
  status: { readonly status: SyncStatus; readonly error?: unknown };
  /**
   * A message was not delivered: `malformed` (not a sync message), `unknown-name` (no breaker of
   * that name here), `alone` (not sent: the link is down; nothing is buffered).
   */
  dropped: { readonly reason: 'malformed' | 'unknown-name' | 'alone'; readonly name?: string };
}

/**
 * The breakers attached to one transport, by name, and the transport's status and events.
 *
 * @example
 * ```ts
 * const peers = new SyncPeers('redisSync');
 * peers.add('payments', peer);
 * peers.deliver('payments', JSON.parse(payload));
 * peers.setStatus('alone', new Error('connection lost'));
 * ```
 */
export class SyncPeers {
  readonly #label: string;
  readonly #log: (message: string, error?: unknown) => void;
  readonly #peers = new Map<string, SyncPeer>();
  readonly #events = new Emitter<SyncEvents>();
  #status: SyncStatus;

  /** `label` names the transport in the log line; `log` defaults to `console.warn`. */
  constructor(
    label: string,
    status: SyncStatus = 'connected',
    log: (message: string, error?: unknown) => void = console.warn,
  ) {
    this.#label = label;
    this.#status = status;
    this.#log = log;
  }

  get status(): SyncStatus {
    return this.#status;
  }

  /** Attaches a breaker; a second breaker of the same name in one process replaces the first. */
  add(name: string, peer: SyncPeer): () => void {
    this.#peers.set(name, peer);
    return () => {
      if (this.#peers.get(name) === peer) this.#peers.delete(name);
    };
  }

  /** Hands `message` to the breaker named `name`, if there is one here. */
  deliver(name: unknown, message: unknown): void {
    const peer = typeof name === 'string' ? this.#peers.get(name) : undefined;
    if (peer === undefined) {
      if (typeof name === 'string') this.drop('unknown-name', name);
      else this.drop('malformed');
      return;
    }
    peer.deliver(message);
  }

  /** Tells `dropped` listeners about a message that went nowhere. */
  drop(reason: SyncEvents['dropped']['reason'], name?: string): void {
    if (this.#events.has('dropped')) {
      this.#events.emit('dropped', name === undefined ? { reason } : { reason, name });
    }
  }

  /** Moves to `status`; the first move to `alone` of an outage is logged. */
  setStatus(status: SyncStatus, error?: unknown): void {
    if (status === this.#status) return;
    this.#status = status;
    if (status === 'alone') {
      this.#log(
        `breakwater: ${this.#label} is unreachable; breakers decide alone until it is back`,
        error,
      );
    } else {
      this.#log(`breakwater: ${this.#label} is back; breakers share their state again`);
    }
    this.#events.emit('status', error === undefined ? { status } : { status, error });
    for (const peer of this.#peers.values()) peer.status(status);
  }

  /** Subscribes to a transport event. */
  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe {
    return this.#events.on(name, listener);
  }
}
