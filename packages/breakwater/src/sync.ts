/**
 * The seam through which breakers of the same name in many processes agree: the messages they
 * exchange and the contract a transport (`clusterSync`, `redisSync`) fulfils. A breaker hands its
 * transitions (and, in `outcomes` mode, its cumulative outcome counts) to a link and never waits
 * for it; the transport delivers other instances' messages back, and the breaker's sync agent
 * fences them by epoch. Everything that crosses a process boundary is plain JSON.
 */

/**
 * What breakers of one name share. `transitions`: trips, re-openings and closes, plus one
 * half-open trial lease per open period. `outcomes`: that, and outcome counts, so the failure
 * policy judges the whole fleet's calls.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ name: 'payments', sync: clusterSync(), syncMode: 'outcomes' });
 * ```
 */
export type SyncMode = 'transitions' | 'outcomes';

/**
 * A transition made by one instance: the breaker named `name` is now open (for
 * `remainingOpenMs` more) or closed. Epochs order transitions of one name across the fleet; of
 * two with the same epoch the one whose `origin` sorts higher wins, so every instance and the
 * store pick the same one.
 *
 * @example
 * ```ts
 * const message: SyncTransition = {
 *   kind: 'transition', name: 'payments', epoch: 7, origin: 'web-3:4121',
 *   state: 'open', openAttempt: 1, lastOpenDuration: 60_000, remainingOpenMs: 59_990,
 * };
 * ```
 */
export interface SyncTransition {
  readonly kind: 'transition';
  readonly name: string;
  readonly epoch: number;
  /** The instance that made the transition. */
  readonly origin: string;
  readonly state: 'open' | 'closed';
  /** The backoff step: re-openings since the last close. */
  readonly openAttempt: number;
  readonly lastOpenDuration: number;
  /** Time left open when the message was read from its source (0 when closed). */
  readonly remainingOpenMs: number;
}

/**
 * Cumulative outcome counts within one epoch, keyed `origin|field` where field is `s` or `f`
 * (success, failure), followed by a duration class when the policy reads durations. Counts only
 * grow within an epoch, so a duplicate or reordered message is harmless: a receiver takes what
 * exceeds what it saw before.
 *
 * @example
 * ```ts
 * const message: SyncCounts = {
 *   kind: 'counts', name: 'payments', epoch: 7, origin: 'web-3:4121',
 *   counts: { 'web-3:4121|s': 120, 'web-3:4121|f': 4, 'web-1:77|s': 98 },
 * };
 * ```
 */
export interface SyncCounts {
  readonly kind: 'counts';
  readonly name: string;
  readonly epoch: number;
  readonly origin: string;
  readonly counts: Readonly<Record<string, number>>;
}

/**
 * Anything a transport carries between instances.
 *
 * @example
 * ```ts
 * const message: SyncMessage = parseSyncMessage(JSON.parse(text)) ?? dropMalformed();
 * ```
 */
export type SyncMessage = SyncTransition | SyncCounts;

/**
 * Whether an instance can reach the others: `connected`, or `alone` (the store or the primary is
 * unreachable, so the breaker decides by itself until it is back).
 *
 * @example
 * ```ts
 * if (breaker.snapshot().sync?.status === 'alone') log.warn('payments breaker is not shared');
 * ```
 */
export type SyncStatus = 'connected' | 'alone';

/**
 * The breaker's side of a link: what a transport calls. Implemented by the core.
 *
 * @example
 * ```ts
 * const link = transport.attach('payments', { deliver: (m) => agent.receive(m), status: (s) => {} });
 * ```
 */
export interface SyncPeer {
  /**
   * A message from elsewhere (unvalidated: the core checks it), or the shared state read on
   * attach and on reconnect. Never throws.
   */
  deliver(message: unknown): void;
  /** The link went up or down. On `connected` after `alone`, the transport also delivers the shared state. */
  status(status: SyncStatus): void;
}

/**
 * The answer to a lease request: `granted` lets this instance run the half-open trials of the
 * epoch; otherwise `retryInMs` says when the holder's lease runs out (it may have died).
 *
 * @example
 * ```ts
 * link.lease(7, 60_000, ({ granted, retryInMs }) => granted ? startTrials() : waitFor(retryInMs));
 * ```
 */
export interface LeaseAnswer {
  readonly granted: boolean;
  readonly retryInMs: number;
}

/**
 * A transport's side of one breaker's link. Every method returns at once, never throws, and
 * buffers nothing while the link is down (a dropped message is counted by the transport).
 *
 * @example
 * ```ts
 * const link = transport.attach('payments', peer);
 * link.publish({ kind: 'transition', name: 'payments', epoch: 8, origin: transport.instanceId, state: 'closed', openAttempt: 0, lastOpenDuration: 0, remainingOpenMs: 0 });
 * ```
 */
export interface SyncLink {
  /**
   * Sends a transition or counts. The store keeps the newest transition per name (by epoch, then
   * origin); when a transition loses there, the transport delivers the winner back.
   */
  publish(message: SyncMessage): void;
  /**
   * Asks for the half-open trial lease of `epoch`, held `ttlMs` at most; answers through
   * `answer`, at most once. A transport that cannot ask (alone, or no answer in time) grants.
   */
  lease(epoch: number, ttlMs: number, answer: (answer: LeaseAnswer) => void): void;
  /**
   * Gives back the trial lease of `epoch` if this link holds it, so another instance may take it
   * at once instead of waiting for its `ttlMs` to run out. A breaker calls it when it is disposed
   * holding the lease (also after {@link SyncLink.detach}, for a lease granted after it). A
   * transport lends the lease per link, not per instance: a breaker disposed after another of
   * its name replaced it in the same process must not give back its successor's lease.
   * Optional: a transport without it lets the lease run out.
   */
  release?(epoch: number): void;
  /** Stops delivering to this peer. */
  detach(): void;
}

/**
 * Shares breaker state between instances. One transport serves every breaker of a process; each
 * breaker attaches under its name. A message for a name nobody attached is ignored.
 *
 * @example
 * ```ts
 * const sync: SyncTransport = clusterSync();
 * const breaker = new CircuitBreaker({ name: 'payments', sync });
 * ```
 */
export interface SyncTransport {
  /** This process's id in messages; unique across the fleet. */
  readonly instanceId: string;
  /** Outcome counts are flushed this often (ms) in `outcomes` mode; failures go at once. */
  readonly flushInterval: number;
  /**
   * Wall-clock milliseconds, when the transport's store may forget a name (keys with a TTL): a
   * new epoch is never below it, so epochs keep growing across restarts and expired keys.
   */
  readonly wallClock?: () => number;
  attach(name: string, peer: SyncPeer): SyncLink;
}

/**
 * A breaker's sync state, in its snapshot: where its current state came from (`local` or the
 * instance id of the one that made the transition), the epoch, and whether it can reach the
 * others.
 *
 * @example
 * ```ts
 * const { source, status } = breaker.snapshot().sync ?? {};
 * ```
 */
export interface SyncSnapshot {
  readonly mode: SyncMode;
  readonly instanceId: string;
  readonly status: SyncStatus;
  readonly epoch: number;
  readonly source: string;
  /** Remote messages applied, ignored as stale or duplicate, and dropped as malformed. */
  readonly applied: number;
  readonly stale: number;
  readonly malformed: number;
}

const MAX_NAME = 1024;
/** A count beyond this is no honest counter: replaying it would stall the receiver. */
export const MAX_COUNT = 2 ** 31 - 1;

/**
 * Checks an untrusted value and returns it as a {@link SyncMessage}, or `undefined` when it is
 * not one (the caller counts it as malformed). Extra fields are ignored.
 *
 * @example
 * ```ts
 * const message = parseSyncMessage(JSON.parse(payload));
 * if (message === undefined) malformed++;
 * ```
 */
export function parseSyncMessage(value: unknown): SyncMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (!isText(m.name) || !isText(m.origin) || !isEpoch(m.epoch)) return undefined;
  if (m.kind === 'transition') {
    if (m.state !== 'open' && m.state !== 'closed') return undefined;
    if (!isCount(m.openAttempt) || !isDuration(m.lastOpenDuration)) return undefined;
    if (!isDuration(m.remainingOpenMs)) return undefined;
    return {
      kind: 'transition',
      name: m.name,
      epoch: m.epoch,
      origin: m.origin,
      state: m.state,
      openAttempt: m.openAttempt,
      lastOpenDuration: m.lastOpenDuration,
      remainingOpenMs: m.remainingOpenMs,
    };
  }
  if (m.kind === 'counts') {
    const counts = m.counts;
    if (typeof counts !== 'object' || counts === null || Array.isArray(counts)) return undefined;
    const checked: Record<string, number> = {};
    for (const [key, count] of Object.entries(counts)) {
      if (!isCount(count) || key.indexOf('|') < 1) return undefined;
      checked[key] = count;
    }
    return { kind: 'counts', name: m.name, epoch: m.epoch, origin: m.origin, counts: checked };
  }
  return undefined;
}

/**
 * True when transition `a` is newer than `(epoch, origin)`: a higher epoch, or the same epoch
 * and an origin that sorts higher. The one order used by instances, the cluster primary and the
 * Redis script alike.
 *
 * @example
 * ```ts
 * if (isNewer(message.epoch, message.origin, local.epoch, local.origin)) apply(message);
 * ```
 */
export function isNewer(epoch: number, origin: string, thanEpoch: number, thanOrigin: string) {
  return epoch > thanEpoch || (epoch === thanEpoch && origin > thanOrigin);
}

/**
 * True for a usable instance id: printable ASCII without `|` (it separates the id from the field
 * in counts), at most 200 characters. ASCII, so every side orders ids alike.
 *
 * @example
 * ```ts
 * if (!isInstanceId(options.instanceId)) throw new InvalidOptionError('instanceId', 'printable ASCII without "|"', options.instanceId);
 * ```
 */
export function isInstanceId(value: unknown): value is string {
  return typeof value === 'string' && /^[\x21-\x7b\x7d\x7e]{1,200}$/.test(value);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME;
}

function isEpoch(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isDuration(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= MAX_COUNT;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_COUNT;
}
