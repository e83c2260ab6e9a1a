/**
 * An in-memory fleet for sync tests: one {@link SyncHub} as the shared store and any number of
 * transports (instances) around it. Nothing is delivered until the test says so, so a test can
 * hold, duplicate, reorder or drop messages, and cut an instance off.
 */
import type {
  LeaseAnswer,
  SyncLink,
  SyncMessage,
  SyncPeer,
  SyncStatus,
  SyncTransport,
} from 'breakwater';
import type { Clock } from '../../src/clock.ts';
import { SyncHub } from '../../src/cluster/hub.ts';

interface Pending {
  readonly to: MemoryTransport;
  readonly name: string;
  readonly message: unknown;
}

export class MemoryFleet {
  readonly hub: SyncHub;
  readonly instances: MemoryTransport[] = [];
  /** Messages on their way, in send order; `deliverAll` hands them over. */
  queue: Pending[] = [];

  constructor(clock: Clock) {
    this.hub = new SyncHub(clock);
  }

  join(instanceId: string, flushInterval = 250): MemoryTransport {
    const transport = new MemoryTransport(this, instanceId, flushInterval);
    this.instances.push(transport);
    return transport;
  }

  send(to: MemoryTransport, name: string, message: unknown): void {
    this.queue.push({ to, name, message });
  }

  /** Delivers every queued message (and those they cause), in order. */
  deliverAll(): void {
    for (let i = 0; i < 1_000 && this.queue.length > 0; i++) {
      const batch = this.queue;
      this.queue = [];
      for (const { to, name, message } of batch) to.receive(name, message);
    }
  }
}

export class MemoryTransport implements SyncTransport {
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly #fleet: MemoryFleet;
  #attachments = 0;
  readonly peers = new Map<string, SyncPeer>();
  status: SyncStatus = 'connected';
  /** Lease requests waiting for `answerLeases`, when `holdLeases` is set. */
  holdLeases = false;
  readonly heldLeases: Array<() => void> = [];
  readonly published: SyncMessage[] = [];
  /** Epochs whose trial lease a breaker gave back, in order. */
  readonly released: number[] = [];

  constructor(fleet: MemoryFleet, instanceId: string, flushInterval: number) {
    this.#fleet = fleet;
    this.instanceId = instanceId;
    this.flushInterval = flushInterval;
  }

  attach(name: string, peer: SyncPeer): SyncLink {
    this.peers.set(name, peer);
    // One holder per attachment, like clusterSync and redisSync.
    const holder = `${this.instanceId}|${++this.#attachments}`;
    if (this.status === 'connected') {
      for (const message of this.#fleet.hub.read(name)) this.#fleet.send(this, name, message);
    }
    return {
      publish: (message) => this.#publish(message),
      lease: (epoch, ttlMs, answer) => this.#lease(name, holder, epoch, ttlMs, answer),
      release: (epoch) => {
        this.released.push(epoch);
        if (this.status === 'connected') this.#fleet.hub.release(name, epoch, holder);
      },
      detach: () => this.peers.delete(name),
    };
  }

  receive(name: string, message: unknown): void {
    if (this.status === 'connected') this.peers.get(name)?.deliver(message);
  }

  /** Cuts this instance off, or brings it back (then it reads the shared state, like a real one). */
  setStatus(status: SyncStatus): void {
    this.status = status;
    for (const [name, peer] of this.peers) {
      peer.status(status);
      if (status === 'connected') {
        for (const message of this.#fleet.hub.read(name)) this.#fleet.send(this, name, message);
      }
    }
  }

  #publish(message: SyncMessage): void {
    if (this.status === 'alone') return;
    this.published.push(message);
    const result = this.#fleet.hub.publish(message);
    if (result === undefined) return;
    if (result.reply !== undefined) this.#fleet.send(this, message.name, result.reply);
    if (result.forward === undefined) return;
    for (const other of this.#fleet.instances) {
      if (other !== this) this.#fleet.send(other, message.name, result.forward);
    }
    // Counts come back merged, like redisSync's flush-and-read.
    if (message.kind === 'counts') {
      for (const merged of this.#fleet.hub.read(message.name)) {
        if (merged.kind === 'counts') this.#fleet.send(this, message.name, merged);
      }
    }
  }

  #lease(
    name: string,
    holder: string,
    epoch: number,
    ttlMs: number,
    answer: (a: LeaseAnswer) => void,
  ): void {
    if (this.status === 'alone') {
      answer({ granted: true, retryInMs: 0 });
      return;
    }
    const ask = () => {
      const answered = this.#fleet.hub.lease(name, epoch, ttlMs, holder);
      answer(answered);
      // Refused for an old epoch, like clusterSync's primary: hand over the state it missed.
      if (!answered.granted && answered.retryInMs === 0) {
        for (const message of this.#fleet.hub.read(name)) this.#fleet.send(this, name, message);
      }
    };
    if (this.holdLeases) this.heldLeases.push(ask);
    else ask();
  }
}
