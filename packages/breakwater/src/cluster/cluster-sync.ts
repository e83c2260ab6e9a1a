/**
 * `clusterSync()`: breakers of node:cluster workers share state through the primary over IPC,
 * with no server to run. In the primary it starts the hub (once per process) and returns a
 * transport for the primary's own breakers; in a worker it returns a transport that talks to the
 * primary. The primary must call it too, before forking, or workers find no hub and go on alone.
 */
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { checkInteger } from '../check-option.ts';
import { type Clock, systemClock, type TimerHandle } from '../clock.ts';
import { InvalidOptionError } from '../errors.ts';
import type { Unsubscribe } from '../events.ts';
import {
  isInstanceId,
  type LeaseAnswer,
  type SyncLink,
  type SyncMessage,
  type SyncPeer,
  type SyncTransport,
} from '../sync.ts';
import { type SyncEvents, SyncPeers } from '../sync-peers.ts';
import { SyncHub } from './hub.ts';
import { isSyncEnvelope, type ToPrimary, type ToWorker } from './protocol.ts';

/**
 * Options of {@link clusterSync}.
 *
 * @example
 * ```ts
 * clusterSync({ flushInterval: 100, instanceId: `api-${cluster.worker?.id ?? 'primary'}` });
 * ```
 */
export interface ClusterSyncOptions {
  /** This process's id in messages. Default: host, pid and a random suffix. */
  readonly instanceId?: string;
  /** Outcome counts are sent this often in `outcomes` mode, in ms. Default: 250. */
  readonly flushInterval?: number;
  /** A worker waits this long (ms) for the primary's answer before deciding alone. Default: 1 000. */
  readonly answerTimeout?: number;
  /** Where the one line per outage goes. Default: `console.warn`. */
  readonly log?: (message: string, error?: unknown) => void;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * A {@link SyncTransport} over node:cluster IPC, with its events.
 *
 * @example
 * ```ts
 * const sync: ClusterSync = clusterSync();
 * sync.on('status', ({ status }) => log.info(`breaker sync ${status}`));
 * ```
 */
export interface ClusterSync extends SyncTransport {
  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe;
}

/**
 * Shares breaker state between node:cluster workers through the primary. Call it in the primary
 * (before forking) and in every worker; give the result to breakers as `sync`.
 *
 * @example
 * ```ts
 * import cluster from 'node:cluster';
 * import { CircuitBreaker } from 'breakwater';
 * import { clusterSync } from 'breakwater/cluster';
 *
 * const sync = clusterSync();
 * if (cluster.isPrimary) for (let i = 0; i < 4; i++) cluster.fork();
 * else {
 *   const payments = new CircuitBreaker({ name: 'payments', sync });
 *   // … serve requests with payments.execute(…)
 * }
 * ```
 */
export function clusterSync(options: ClusterSyncOptions = {}): ClusterSync {
  const settings = resolve(options);
  return cluster.isPrimary ? new PrimaryTransport(settings) : new WorkerTransport(settings);
}

interface Settings {
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly answerTimeout: number;
  readonly log: (message: string, error?: unknown) => void;
  readonly clock: Clock;
}

function resolve(options: ClusterSyncOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'clusterSync options', options);
  }
  const instanceId = options.instanceId ?? defaultInstanceId();
  if (!isInstanceId(instanceId)) {
    throw new InvalidOptionError('instanceId', 'printable ASCII without "|"', instanceId);
  }
  if (options.log !== undefined && typeof options.log !== 'function') {
    throw new InvalidOptionError('log', 'a function', options.log);
  }
  return {
    instanceId,
    flushInterval: checkInteger('flushInterval', options.flushInterval, 1, 250),
    answerTimeout: checkInteger('answerTimeout', options.answerTimeout, 1, 1_000),
    log: options.log ?? console.warn,
    clock: options.clock ?? systemClock,
  };
}

/** Host, pid and a random suffix: unique across machines and restarts. */
export function defaultInstanceId(): string {
  return `${hostname().replace(/[^\x21-\x7b\x7d\x7e]/g, '_')}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

let attachments = 0;

/**
 * Who holds a trial lease: this instance and one attachment of it. Two breakers of one name in
 * one process (one replacing the other) are two holders, so the one disposed gives back only its
 * own lease, never the one its successor was granted. `|` never occurs in an instance id.
 */
function leaseHolder(instanceId: string): string {
  return `${instanceId}|${++attachments}`;
}

/** The hub of this primary process: every transport made in it shares one. */
let primaryHub: PrimaryHub | undefined;

/** The hub plus its IPC: receives from workers, answers, forwards to the others. */
class PrimaryHub {
  readonly hub: SyncHub;
  /** The primary's own transports, so its breakers take part like workers. */
  readonly locals = new Set<PrimaryTransport>();

  constructor(clock: Clock) {
    this.hub = new SyncHub(clock);
    cluster.on('message', (worker: Worker, value: unknown) => {
      if (isSyncEnvelope(value)) this.#fromWorker(worker, value as ToPrimary);
    });
  }

  publish(message: unknown, from: Worker | PrimaryTransport): void {
    const result = this.hub.publish(message);
    if (result === undefined) {
      for (const local of this.locals) local.peers.drop('malformed');
      return;
    }
    if (result.reply !== undefined) this.#send(from, result.reply);
    if (result.forward === undefined) return;
    const forward = result.forward;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker !== undefined && worker !== from) this.#send(worker, forward);
    }
    for (const local of this.locals) if (local !== from) this.#send(local, forward);
  }

  read(name: string, to: Worker | PrimaryTransport): void {
    for (const message of this.hub.read(name)) this.#send(to, message);
  }

  #fromWorker(worker: Worker, envelope: ToPrimary): void {
    switch (envelope.breakwaterSync) {
      case 'publish':
        this.publish(envelope.message, worker);
        return;
      case 'read':
        if (typeof envelope.name === 'string') this.read(envelope.name, worker);
        return;
      case 'lease': {
        const { id, name, epoch, ttlMs, origin } = envelope;
        if (typeof name !== 'string' || typeof origin !== 'string') return;
        if (!Number.isFinite(epoch) || !Number.isFinite(ttlMs)) return;
        const answer = this.hub.lease(name, epoch, ttlMs, origin);
        safeSend(worker, { breakwaterSync: 'lease-answer', id, ...answer });
        // Refused for an old epoch: the asker missed a transition; hand it over.
        if (!answer.granted && answer.retryInMs === 0) this.read(name, worker);
        return;
      }
      case 'release': {
        const { name, epoch, origin } = envelope;
        if (typeof name !== 'string' || typeof origin !== 'string') return;
        if (!Number.isFinite(epoch)) return;
        this.hub.release(name, epoch, origin);
        return;
      }
    }
  }

  #send(to: Worker | PrimaryTransport, message: SyncMessage): void {
    if (to instanceof PrimaryTransport) to.receive(message);
    else safeSend(to, { breakwaterSync: 'deliver', message });
  }
}

function safeSend(worker: Worker, envelope: ToWorker): void {
  // A worker that is exiting has no channel; what it would have learnt no longer matters.
  if (!worker.isConnected()) return;
  try {
    // With no callback, a write that fails later (EPIPE while the worker dies) is emitted as an
    // 'error' on the worker, which would crash a primary that has no listener for it.
    worker.send(envelope, undefined, {}, ignoreSendError);
  } catch {
    // The channel closed between the check and the send: same case.
  }
}

function ignoreSendError(): void {
  // The worker is exiting: what it would have learnt no longer matters.
}

/** The primary's own breakers: the hub is in this process, so nothing crosses IPC. */
class PrimaryTransport implements ClusterSync {
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly peers: SyncPeers;
  readonly #hub: PrimaryHub;

  constructor(settings: Settings) {
    this.instanceId = settings.instanceId;
    this.flushInterval = settings.flushInterval;
    this.peers = new SyncPeers('the cluster primary', 'connected', settings.log);
    primaryHub ??= new PrimaryHub(settings.clock);
    this.#hub = primaryHub;
    this.#hub.locals.add(this);
  }

  attach(name: string, peer: SyncPeer): SyncLink {
    const remove = this.peers.add(name, peer);
    const holder = leaseHolder(this.instanceId);
    // Deliver after the breaker has finished constructing, like a worker's answer would.
    queueMicrotask(() => this.#hub.read(name, this));
    return {
      publish: (message) => queueMicrotask(() => this.#hub.publish(message, this)),
      lease: (epoch, ttlMs, answer) => {
        const granted = this.#hub.hub.lease(name, epoch, ttlMs, holder);
        answer(granted);
        if (!granted.granted && granted.retryInMs === 0) this.#hub.read(name, this);
      },
      release: (epoch) => this.#hub.hub.release(name, epoch, holder),
      detach: remove,
    };
  }

  receive(message: SyncMessage): void {
    queueMicrotask(() => this.peers.deliver(message.name, message));
  }

  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe {
    return this.peers.on(name, listener);
  }
}

/** A worker's breakers: every message goes through the primary. */
class WorkerTransport implements ClusterSync {
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly #settings: Settings;
  readonly #peers: SyncPeers;
  readonly #pending = new Map<number, { answer: (a: LeaseAnswer) => void; timer: TimerHandle }>();
  #nextId = 1;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.instanceId = settings.instanceId;
    this.flushInterval = settings.flushInterval;
    this.#peers = new SyncPeers('the cluster primary', 'connected', settings.log);
    process.on('message', (value: unknown) => {
      if (isSyncEnvelope(value)) this.#fromPrimary(value as ToWorker);
    });
    process.once('disconnect', () =>
      this.#peers.setStatus('alone', new Error('IPC channel closed')),
    );
  }

  attach(name: string, peer: SyncPeer): SyncLink {
    const remove = this.#peers.add(name, peer);
    const holder = leaseHolder(this.instanceId);
    this.#send({ breakwaterSync: 'read', name });
    return {
      publish: (message) => this.#send({ breakwaterSync: 'publish', message }),
      lease: (epoch, ttlMs, answer) => this.#lease(name, holder, epoch, ttlMs, answer),
      release: (epoch) => {
        this.#send({ breakwaterSync: 'release', name, epoch, origin: holder });
      },
      detach: remove,
    };
  }

  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe {
    return this.#peers.on(name, listener);
  }

  #lease(
    name: string,
    holder: string,
    epoch: number,
    ttlMs: number,
    answer: (a: LeaseAnswer) => void,
  ): void {
    const id = this.#nextId++;
    if (!this.#send({ breakwaterSync: 'lease', id, name, epoch, ttlMs, origin: holder })) {
      answer({ granted: true, retryInMs: 0 });
      return;
    }
    const clock = this.#settings.clock;
    const timer = clock.setTimeout(() => {
      if (!this.#pending.delete(id)) return;
      // No primary answers: there is no hub (clusterSync() not called there) or it is stuck.
      this.#peers.setStatus('alone', new Error('the cluster primary did not answer'));
      answer({ granted: true, retryInMs: 0 });
    }, this.#settings.answerTimeout);
    this.#pending.set(id, { answer, timer });
  }

  #fromPrimary(envelope: ToWorker): void {
    if (envelope.breakwaterSync === 'deliver') {
      const message = envelope.message as { name?: unknown } | null;
      if (typeof message !== 'object' || message === null) this.#peers.drop('malformed');
      else this.#peers.deliver(message.name, message);
      return;
    }
    if (envelope.breakwaterSync === 'lease-answer') {
      const pending = this.#pending.get(envelope.id);
      if (pending === undefined) return;
      this.#pending.delete(envelope.id);
      this.#settings.clock.clearTimeout(pending.timer);
      this.#peers.setStatus('connected');
      pending.answer({
        granted: envelope.granted === true,
        retryInMs: Number(envelope.retryInMs) || 0,
      });
      return;
    }
    this.#peers.drop('malformed');
  }

  #send(envelope: ToPrimary): boolean {
    if (!process.connected || process.send === undefined) {
      this.#peers.drop('alone');
      return false;
    }
    try {
      // The callback keeps an asynchronous failure (EPIPE when the primary is gone) from being
      // emitted as an 'error' on `process`, which crashes an app without a listener for it.
      process.send(envelope, undefined, {}, (error: Error | null) => {
        if (error !== null) this.#peers.setStatus('alone', error);
      });
      return true;
    } catch (error) {
      this.#peers.setStatus('alone', error);
      return false;
    }
  }
}
