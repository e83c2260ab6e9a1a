/**
 * `redisSync({ client })`: breakers of the same name on many machines share state through Redis
 * (or Valkey), with the application's own node-redis client. Transitions are stored newest-wins
 * by a Lua script that also publishes them on the breaker's shard channel; the half-open trial
 * lease is a `SET NX PX` per open period, given back early (compare and delete) by a holder whose
 * breaker is disposed; outcome counts go through one flush-and-read script.
 * No call waits for Redis: every command is sent and forgotten, at most `maxInFlight` at a time,
 * and while Redis is unreachable each instance decides alone and nothing is queued.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import {
  InvalidOptionError,
  isInstanceId,
  type LeaseAnswer,
  type SyncCounts,
  type SyncEvents,
  type SyncLink,
  type SyncMessage,
  type SyncPeer,
  SyncPeers,
  type SyncTransition,
  type SyncTransport,
  type Unsubscribe,
} from 'breakwater';
import { type BreakerKeys, keysFor } from './keys.ts';
import {
  FLUSH_COUNTS,
  PUBLISH_TRANSITION,
  READ_TRANSITION,
  RELEASE_LEASE,
  type Script,
  TAKE_LEASE,
} from './scripts.ts';

/** The commands `redisSync` uses, as node-redis's client and cluster both offer them. */
export interface RedisScripting {
  readonly isReady: boolean;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  on(event: 'ready', listener: () => void): unknown;
}

/** The subscriber connection, a `duplicate()` of the client. */
export interface RedisSubscriber {
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  sSubscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Removes `listener` from `channel` (unsubscribes once no listener is left), as node-redis does. */
  sUnsubscribe(
    channel: string,
    listener?: (message: string, channel: string) => void,
  ): Promise<unknown>;
  on(event: 'ready', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  destroy(): void;
}

/**
 * A node-redis client or cluster (`createClient()` / `createCluster()`), connected or not.
 *
 * @example
 * ```ts
 * const client: RedisSyncClient = await createClient({ url: process.env.REDIS_URL }).connect();
 * ```
 */
export interface RedisSyncClient extends RedisScripting {
  duplicate(): RedisSubscriber;
}

/**
 * Options of {@link redisSync}.
 *
 * @example
 * ```ts
 * redisSync({ client, prefix: 'checkout:breakers:', flushInterval: 100 });
 * ```
 */
export interface RedisSyncOptions {
  /** The application's node-redis client or cluster; a duplicate of it subscribes. */
  readonly client: RedisSyncClient;
  /** Put before every key and channel. Default: `'breakwater:'`. */
  readonly prefix?: string;
  /** This process's id in messages: printable ASCII without `|`. Default: host, pid, random. */
  readonly instanceId?: string;
  /** Outcome counts are flushed this often in `outcomes` mode, in ms. Default: 250. */
  readonly flushInterval?: number;
  /** A command unanswered after this many ms marks Redis unreachable. Default: 1 000. */
  readonly commandTimeout?: number;
  /** Commands in flight at most; beyond, messages are dropped (and counted). Default: 1 000. */
  readonly maxInFlight?: number;
  /** How long a breaker's shared state outlives its last transition, in ms. Default: 1 day. */
  readonly stateTtl?: number;
  /** Where the one line per outage goes. Default: `console.warn`. */
  readonly log?: (message: string, error?: unknown) => void;
}

/**
 * A {@link SyncTransport} through Redis, with its events and a way to stop.
 *
 * @example
 * ```ts
 * const sync: RedisSync = redisSync({ client });
 * sync.on('status', ({ status }) => log.info(`breaker sync ${status}`));
 * await sync.close();
 * ```
 */
export interface RedisSync extends SyncTransport {
  /** `connected`, or `alone` while Redis is unreachable. */
  readonly status: 'connected' | 'alone';
  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe;
  /** Resolves once the subscriber connection is up (or failed: then the sync runs alone). */
  ready(): Promise<void>;
  /** Closes the subscriber connection; the client stays the application's. */
  close(): Promise<void>;
}

/**
 * Shares breaker state through Redis. Give the result to breakers (or a registry) as `sync`.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * import { CircuitBreaker } from 'breakwater';
 * import { redisSync } from '@breakwater/redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).on('error', log.warn).connect();
 * const sync = redisSync({ client });
 * const payments = new CircuitBreaker({ name: 'payments', sync });
 * ```
 */
export function redisSync(options: RedisSyncOptions): RedisSync {
  return new RedisSyncTransport(resolve(options));
}

interface Settings {
  readonly client: RedisSyncClient;
  readonly prefix: string;
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly commandTimeout: number;
  readonly maxInFlight: number;
  readonly stateTtl: number;
  readonly log: (message: string, error?: unknown) => void;
}

/** While alone, Redis is asked this often (ms) whether it is back. */
const PROBE_INTERVAL = 500;
/** How long the counts of one epoch are kept after their last flush. */
const COUNTS_TTL = 10 * 60_000;

class RedisSyncTransport implements RedisSync {
  readonly instanceId: string;
  readonly flushInterval: number;
  readonly wallClock = Date.now;
  readonly #settings: Settings;
  readonly #peers: SyncPeers;
  readonly #keys = new Map<string, BreakerKeys>();
  readonly #subscriber: RedisSubscriber;
  readonly #subscribed: Promise<void>;
  #inFlight = 0;
  #attachments = 0;
  #probe: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #probing = false;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.instanceId = settings.instanceId;
    this.flushInterval = settings.flushInterval;
    this.#peers = new SyncPeers('Redis', 'connected', settings.log);
    const client = settings.client;
    client.on('ready', () => this.#back());
    this.#subscriber = client.duplicate();
    this.#subscriber.on('error', (error) => this.#lost(error));
    // The subscriber's own reconnects lose what was published meanwhile: read it all again.
    this.#subscriber.on('ready', () => this.#back());
    this.#subscribed = this.#subscriber.connect().then(
      () => {},
      (error: unknown) => this.#lost(error),
    );
    if (!client.isReady) this.#lost(new Error('the Redis client is not connected'));
  }

  get status(): 'connected' | 'alone' {
    return this.#peers.status;
  }

  attach(name: string, peer: SyncPeer): SyncLink {
    const keys = keysFor(this.#settings.prefix, name);
    // Who holds a lease: this instance and this attachment, so a breaker disposed while another of
    // its name replaces it in this process gives back only its own lease, never its successor's.
    const holder = `${this.instanceId}|${++this.#attachments}`;
    this.#keys.set(name, keys);
    const remove = this.#peers.add(name, peer);
    const onMessage = (payload: string) => this.#onMessage(name, payload);
    void this.#subscribed
      .then(() => this.#subscriber.sSubscribe(keys.channel, onMessage))
      .then(
        () => this.#read(name),
        (error: unknown) => this.#lost(error),
      );
    return {
      publish: (message) => this.#publish(keys, message),
      lease: (epoch, ttlMs, answer) => this.#lease(keys, holder, epoch, ttlMs, answer),
      release: (epoch) => this.#release(keys, holder, epoch),
      detach: () => {
        remove();
        // Another breaker of this name may have replaced this one here: it keeps its keys (read
        // again on reconnect) and its own listener on the channel.
        if (this.#keys.get(name) === keys) this.#keys.delete(name);
        this.#subscriber.sUnsubscribe(keys.channel, onMessage).catch(() => {});
      },
    };
  }

  on<K extends keyof SyncEvents>(name: K, listener: (event: SyncEvents[K]) => void): Unsubscribe {
    return this.#peers.on(name, listener);
  }

  ready(): Promise<void> {
    return this.#subscribed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probe !== undefined) clearInterval(this.#probe);
    // A connection still being made survives destroy(): end it once it is made, too.
    void this.#subscribed.then(() => this.#subscriber.destroy());
    this.#subscriber.destroy();
    await Promise.race([
      this.#subscribed,
      delay(this.#settings.commandTimeout, undefined, { ref: false }),
    ]);
  }

  #onMessage(name: string, payload: string): void {
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      this.#peers.drop('malformed', name);
      return;
    }
    // A message on one breaker's channel naming another is malformed: the agent counts it.
    this.#peers.deliver(name, message);
  }

  #publish(keys: BreakerKeys, message: SyncMessage): void {
    if (message.kind === 'transition') this.#publishTransition(keys, message);
    else this.#flush(keys, message);
  }

  #publishTransition(keys: BreakerKeys, message: SyncTransition): void {
    const args = [
      String(message.epoch),
      message.origin,
      message.state,
      String(message.openAttempt),
      String(message.lastOpenDuration),
      String(message.remainingOpenMs),
      String(this.#settings.stateTtl),
      JSON.stringify(message),
      keys.channel,
    ];
    this.#run(PUBLISH_TRANSITION, [keys.state], args, (reply) => {
      // Null: stored and published. Otherwise the stored transition that beat this one.
      if (reply !== null) this.#deliverStored(keys.name, reply);
    });
  }

  #flush(keys: BreakerKeys, message: SyncCounts): void {
    const urgent = Object.keys(message.counts).some((key) => key.includes('|f'));
    const head = JSON.stringify({
      kind: 'counts',
      name: message.name,
      epoch: message.epoch,
      origin: message.origin,
    });
    const args = [String(COUNTS_TTL), keys.channel, urgent ? '1' : '0', head];
    for (const [field, count] of Object.entries(message.counts)) args.push(field, String(count));
    this.#run(FLUSH_COUNTS, [keys.counts(message.epoch)], args, (reply) => {
      if (!Array.isArray(reply)) return;
      const counts: Record<string, number> = {};
      for (let i = 0; i + 1 < reply.length; i += 2) counts[String(reply[i])] = Number(reply[i + 1]);
      this.#peers.deliver(keys.name, { ...JSON.parse(head), counts });
    });
  }

  #lease(
    keys: BreakerKeys,
    holder: string,
    epoch: number,
    ttlMs: number,
    answer: (a: LeaseAnswer) => void,
  ): void {
    const ttl = String(Math.max(1, Math.round(ttlMs)));
    const sent = this.#run(
      TAKE_LEASE,
      [keys.lease(epoch)],
      [holder, ttl],
      (reply) => {
        const [granted, pttl] = Array.isArray(reply) ? reply : [];
        answer({ granted: Number(granted) === 1, retryInMs: Math.max(0, Number(pttl) || 0) });
      },
      // Unanswered: decide alone rather than stay open.
      () => answer({ granted: true, retryInMs: 0 }),
    );
    if (!sent) answer({ granted: true, retryInMs: 0 });
  }

  /**
   * Gives back the trial lease of `epoch` if this attachment still holds it, so the next instance
   * to ask takes it instead of waiting for its ttl. Fire-and-forget like every command: while
   * Redis is unreachable nothing is sent (the lease runs out), and an error or timeout marks
   * Redis unreachable, as for any command; nothing reaches the breaker.
   */
  #release(keys: BreakerKeys, holder: string, epoch: number): void {
    this.#run(RELEASE_LEASE, [keys.lease(epoch)], [holder], () => {});
  }

  /** Reads the shared state of `name` and hands it to its breaker. */
  #read(name: string): void {
    const keys = this.#keys.get(name);
    if (keys === undefined) return;
    this.#run(READ_TRANSITION, [keys.state], [], (reply) => {
      if (reply !== null) this.#deliverStored(name, reply);
    });
  }

  #deliverStored(name: string, reply: unknown): void {
    if (!Array.isArray(reply) || reply.length < 6) {
      this.#peers.drop('malformed', name);
      return;
    }
    const [epoch, origin, state, openAttempt, lastOpenDuration, remaining] = reply.map(String);
    this.#peers.deliver(name, {
      kind: 'transition',
      name,
      epoch: Number(epoch),
      origin,
      state,
      openAttempt: Number(openAttempt),
      lastOpenDuration: Number(lastOpenDuration),
      remainingOpenMs: Number(remaining),
    });
  }

  /**
   * Runs a script without anyone waiting for it. Returns false (and runs nothing) while Redis is
   * unreachable or too many commands are in flight: nothing is queued.
   */
  #run(
    script: Script,
    keys: string[],
    args: string[],
    onReply: (reply: unknown) => void,
    onFailure?: () => void,
  ): boolean {
    const client = this.#settings.client;
    if (this.#closed || this.#peers.status === 'alone' || !client.isReady) {
      if (!client.isReady) this.#lost(new Error('the Redis client is not ready'));
      this.#peers.drop('alone');
      return false;
    }
    if (this.#inFlight >= this.#settings.maxInFlight) {
      this.#peers.drop('alone');
      return false;
    }
    this.#inFlight++;
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      this.#inFlight--;
      this.#lost(new Error(`Redis did not answer within ${this.#settings.commandTimeout} ms`));
      onFailure?.();
    }, this.#settings.commandTimeout);
    const options = { keys, arguments: args };
    client
      .evalSha(script.sha, options)
      .catch((error: unknown) => {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          return client.eval(script.source, options);
        }
        throw error;
      })
      .then(
        (reply) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#inFlight--;
          onReply(reply);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#inFlight--;
          this.#lost(error);
          onFailure?.();
        },
      );
    return true;
  }

  #lost(error: unknown): void {
    if (this.#closed) return;
    this.#peers.setStatus('alone', error);
    // Ask now and then whether Redis is back, in case no 'ready' event will say so (a silent
    // partition leaves the socket open).
    this.#probe ??= setInterval(() => this.#tryBack(), PROBE_INTERVAL);
    this.#probe.unref();
  }

  #tryBack(): void {
    const client = this.#settings.client;
    if (this.#probing || !client.isReady || !this.#subscriber.isReady) return;
    // One probe at a time: on a silent partition they would pile up in the client's queue.
    this.#probing = true;
    const probe = { keys: [`${this.#settings.prefix}probe`], arguments: [] };
    client
      .eval('return 1', probe)
      .then(
        () => this.#back(),
        () => {},
      )
      .finally(() => {
        this.#probing = false;
      });
  }

  /** Redis answers again: share again, then read every breaker's state to converge. */
  #back(): void {
    if (this.#closed || !this.#settings.client.isReady || !this.#subscriber.isReady) return;
    if (this.#probe !== undefined) {
      clearInterval(this.#probe);
      this.#probe = undefined;
    }
    this.#peers.setStatus('connected');
    for (const name of this.#keys.keys()) this.#read(name);
  }
}

function resolve(options: RedisSyncOptions): Settings {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'redisSync options', options);
  }
  const client = options.client as Partial<RedisSyncClient> | undefined;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.evalSha !== 'function' ||
    typeof client.duplicate !== 'function'
  ) {
    throw new InvalidOptionError('client', 'a node-redis client or cluster', client);
  }
  const prefix = options.prefix ?? 'breakwater:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
    throw new InvalidOptionError('prefix', 'a string without "{" or "}"', prefix);
  }
  const instanceId = options.instanceId ?? defaultInstanceId();
  if (!isInstanceId(instanceId)) {
    throw new InvalidOptionError('instanceId', 'printable ASCII without "|"', instanceId);
  }
  if (options.log !== undefined && typeof options.log !== 'function') {
    throw new InvalidOptionError('log', 'a function', options.log);
  }
  return {
    client: options.client,
    prefix,
    instanceId,
    flushInterval: integer('flushInterval', options.flushInterval, 250),
    commandTimeout: integer('commandTimeout', options.commandTimeout, 1_000),
    maxInFlight: integer('maxInFlight', options.maxInFlight, 1_000),
    stateTtl: integer('stateTtl', options.stateTtl, 86_400_000),
    log: options.log ?? console.warn,
  };
}

function integer(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < 1) {
    throw new InvalidOptionError(option, 'an integer >= 1', value);
  }
  return value as number;
}

function defaultInstanceId(): string {
  const host = hostname().replace(/[^\x21-\x7b\x7d\x7e]/g, '_');
  return `${host}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
