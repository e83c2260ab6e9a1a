/**
 * A registry of named circuit breakers: one per route, upstream or dependency, made on first use
 * from shared defaults plus per-name overrides.
 */
import type { BreakerSnapshot } from './breaker-snapshot.ts';
import { checkDuration, checkInteger, checkKnownOptions } from './check-option.ts';
import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.ts';
import { type Clock, systemClock } from './clock.ts';
import { InvalidOptionError } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import type { SyncTransport } from './sync.ts';

/**
 * Options of a {@link BreakerRegistry}.
 *
 * @example
 * ```ts
 * const options: BreakerRegistryOptions = {
 *   defaults: { policy: consecutiveFailures(5), openDuration: 10_000 },
 *   overrides: { '/reports': { callTimeout: 30_000 } },
 * };
 * new BreakerRegistry(options);
 * ```
 */
export interface BreakerRegistryOptions {
  /**
   * Options of every breaker. Its `policy` must have `clone()` (the built-in ones do): each
   * breaker gets its own copy. `name` comes from {@link BreakerRegistry.get}, not from here.
   */
  readonly defaults: CircuitBreakerOptions;
  /** Per-name changes to the defaults; `halfOpen` is merged field by field. */
  readonly overrides?: Readonly<Record<string, Partial<CircuitBreakerOptions>>>;
  /** The clock of every breaker. Default: `defaults.clock`, else the system clock. */
  readonly clock?: Clock;
  /**
   * The most breakers kept; making one more evicts the least recently used (by `get`).
   * Default: `Infinity`. Bound it when names come from outside (origins, hosts, tenants).
   */
  readonly maxSize?: number;
  /**
   * Ms after which a breaker nobody has asked for (by `get`) is evicted, so the next `get`
   * makes a fresh, closed one. Checked on the registry's own calls against the clock, never
   * with a timer. Keep it longer than the longest open duration. Default: `Infinity`.
   */
  readonly idleTimeout?: number;
  /**
   * Shares every breaker's state with the registries of other processes, by name
   * (`clusterSync()`, `redisSync()`). Default: `defaults.sync`. Per name, `syncMode` may differ.
   */
  readonly sync?: SyncTransport;
}

const REGISTRY_OPTIONS = ['defaults', 'overrides', 'clock', 'maxSize', 'idleTimeout', 'sync'];

/**
 * Events of a {@link BreakerRegistry}.
 *
 * @example
 * ```ts
 * breakers.on('created', ({ name, breaker }) => breaker.on('state', ({ to }) => gauge.set({ name }, to === 'open' ? 1 : 0)));
 * ```
 */
export interface BreakerRegistryEvents {
  /** A breaker was made on first use: subscribe to its events here (logs, metrics). */
  created: { readonly name: string; readonly breaker: CircuitBreaker };
  /** A breaker was evicted by `maxSize` or `idleTimeout` (not by `delete`): drop its metrics. */
  evicted: {
    readonly name: string;
    readonly breaker: CircuitBreaker;
    readonly reason: 'size' | 'idle';
  };
}

/**
 * One row of {@link BreakerRegistry.list}.
 *
 * @example
 * ```ts
 * for (const { name, snapshot } of breakers.list()) console.log(name, snapshot.state);
 * ```
 */
export interface BreakerListing {
  readonly name: string;
  readonly snapshot: BreakerSnapshot;
}

/**
 * Named breakers made on first use. Options are checked when the registry is built, so a bad
 * override fails at startup rather than on the first request to its route.
 *
 * @example
 * ```ts
 * const breakers = new BreakerRegistry({
 *   defaults: { policy: consecutiveFailures(5), openDuration: 10_000 },
 *   overrides: { payments: { openDuration: 60_000 } },
 * });
 * breakers.on('created', ({ name, breaker }) => breaker.on('open', () => log.warn(`${name} open`)));
 * await breakers.get('payments').execute(({ signal }) => charge(order, { signal }));
 * ```
 */
export class BreakerRegistry {
  readonly #defaults: CircuitBreakerOptions;
  readonly #overrides: Map<string, Partial<CircuitBreakerOptions>>;
  readonly #clock: Clock | undefined;
  readonly #sync: SyncTransport | undefined;
  // In order of last use when bounded (a `get` moves its entry to the end), so the least
  // recently used and the longest idle are always first.
  readonly #breakers = new Map<string, CircuitBreaker>();
  readonly #lastUsed = new Map<string, number>();
  readonly #maxSize: number;
  readonly #idleTimeout: number;
  readonly #bounded: boolean;
  readonly #events = new Emitter<BreakerRegistryEvents>();

  constructor(options: BreakerRegistryOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions('', options, REGISTRY_OPTIONS, 'BreakerRegistry');
    const { defaults, overrides = {} } = options;
    this.#maxSize =
      options.maxSize === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : checkInteger('maxSize', options.maxSize, 1, Number.POSITIVE_INFINITY);
    this.#idleTimeout = checkDuration(
      'idleTimeout',
      options.idleTimeout,
      1,
      Number.POSITIVE_INFINITY,
    );
    this.#bounded =
      this.#maxSize !== Number.POSITIVE_INFINITY || this.#idleTimeout !== Number.POSITIVE_INFINITY;
    if (typeof defaults !== 'object' || defaults === null) {
      throw new InvalidOptionError('defaults', 'CircuitBreaker options', defaults);
    }
    if (typeof overrides !== 'object' || overrides === null) {
      throw new InvalidOptionError('overrides', 'an object of options by name', overrides);
    }
    for (const key of ['name', 'initialState'] as const) {
      if (defaults[key] !== undefined) {
        throw new InvalidOptionError(
          `defaults.${key}`,
          'nothing: it is per breaker',
          defaults[key],
        );
      }
    }
    if (defaults.policy !== undefined && typeof defaults.policy.clone !== 'function') {
      // Without clone every breaker would share one window and trip together.
      throw new InvalidOptionError(
        'defaults.policy',
        'a FailurePolicy with clone()',
        defaults.policy,
      );
    }
    // A Map, so a route named "constructor" or "__proto__" finds no inherited override.
    this.#overrides = new Map(Object.entries(overrides));
    this.#defaults = defaults;
    this.#clock = options.clock ?? defaults.clock;
    this.#sync = options.sync ?? defaults.sync;
    this.#check('defaults', undefined);
    for (const [name, override] of this.#overrides) {
      if (typeof override !== 'object' || override === null) {
        throw new InvalidOptionError(`overrides.${name}`, 'CircuitBreaker options', override);
      }
      if (override.name !== undefined) {
        throw new InvalidOptionError(
          `overrides.${name}.name`,
          'nothing: it is the key',
          override.name,
        );
      }
      this.#check(`overrides.${name}`, name);
    }
  }

  /** The breaker named `name`, made now if it doesn't exist yet. */
  get(name: string): CircuitBreaker {
    if (this.#bounded) return this.#getBounded(name);
    const existing = this.#breakers.get(name);
    if (existing !== undefined) return existing;
    return this.#create(name);
  }

  /** True when a breaker named `name` was made and not deleted or evicted. */
  has(name: string): boolean {
    this.#evictIdle();
    return this.#breakers.has(name);
  }

  /**
   * Forgets the breaker named `name` (a removed route or upstream); the next `get` makes a fresh
   * one. Returns whether there was one.
   */
  delete(name: string): boolean {
    this.#lastUsed.delete(name);
    const breaker = this.#breakers.get(name);
    if (breaker === undefined) return false;
    breaker.dispose();
    return this.#breakers.delete(name);
  }

  /** How many breakers exist. */
  get size(): number {
    this.#evictIdle();
    return this.#breakers.size;
  }

  /**
   * Every breaker's name and snapshot: for dashboards and health endpoints. In creation order,
   * or, when `maxSize` or `idleTimeout` bounds the registry, least recently used first.
   */
  list(): BreakerListing[] {
    this.#evictIdle();
    const rows: BreakerListing[] = [];
    for (const [name, breaker] of this.#breakers) rows.push({ name, snapshot: breaker.snapshot() });
    return rows;
  }

  /** The breakers by name, in the order of {@link list}, as they were when called. */
  entries(): IterableIterator<[string, CircuitBreaker]> {
    this.#evictIdle();
    // A copy: when bounded, every `get` moves its entry to the end of the live map, so a loop
    // that uses the breakers it visits would meet them again and never end.
    return [...this.#breakers.entries()].values();
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof BreakerRegistryEvents>(
    name: K,
    listener: (event: BreakerRegistryEvents[K]) => void,
  ): Unsubscribe {
    return this.#events.on(name, listener);
  }

  #create(name: string): CircuitBreaker {
    checkName(name);
    const breaker = new CircuitBreaker(this.#optionsFor(name));
    this.#breakers.set(name, breaker);
    if (this.#events.has('created')) this.#events.emit('created', { name, breaker });
    return breaker;
  }

  // Re-inserting on every use keeps the maps in order of last use: eviction takes from the front
  // in O(1), with no timer and no scan of the breakers still in use.
  #getBounded(name: string): CircuitBreaker {
    this.#evictIdle();
    const now = this.#now();
    let breaker = this.#breakers.get(name);
    if (breaker === undefined) {
      checkName(name); // before evicting anything for it
      const oldest = this.#lastUsed.keys().next();
      if (this.#breakers.size >= this.#maxSize && oldest.done !== true) {
        this.#evict(oldest.value, 'size');
      }
      breaker = this.#create(name);
    } else {
      this.#breakers.delete(name);
      this.#breakers.set(name, breaker);
      this.#lastUsed.delete(name);
    }
    this.#lastUsed.set(name, now);
    return breaker;
  }

  #evictIdle(): void {
    if (this.#idleTimeout === Number.POSITIVE_INFINITY) return;
    const now = this.#now();
    // Oldest first: stop at the first breaker used recently enough. Deleting the entry being
    // visited is safe while iterating a Map.
    for (const [name, usedAt] of this.#lastUsed) {
      if (now - usedAt < this.#idleTimeout) return;
      this.#evict(name, 'idle');
    }
  }

  #evict(name: string, reason: 'size' | 'idle'): void {
    const breaker = this.#breakers.get(name);
    this.#breakers.delete(name);
    this.#lastUsed.delete(name);
    // An evicted breaker leaves the fleet too: its sync attachment would otherwise keep it alive.
    breaker?.dispose();
    if (breaker !== undefined && this.#events.has('evicted')) {
      this.#events.emit('evicted', { name, breaker, reason });
    }
  }

  #now(): number {
    return (this.#clock ?? systemClock).now();
  }

  #optionsFor(name: string | undefined): CircuitBreakerOptions {
    const defaults = this.#defaults;
    const override = name === undefined ? undefined : this.#overrides.get(name);
    const options: CircuitBreakerOptions = { ...defaults, ...override };
    const halfOpen =
      defaults.halfOpen !== undefined && override?.halfOpen !== undefined
        ? { ...defaults.halfOpen, ...override.halfOpen }
        : (override?.halfOpen ?? defaults.halfOpen);
    return {
      ...options,
      ...(halfOpen === undefined ? {} : { halfOpen }),
      ...(this.#clock === undefined ? {} : { clock: this.#clock }),
      ...(name === undefined ? {} : { name }),
      ...(this.#sync === undefined ? {} : { sync: this.#sync }),
    };
  }

  /** Builds a throwaway breaker to check options now, naming the bad one by its full path. */
  #check(path: string, name: string | undefined): void {
    try {
      // Checked without attaching to the sync: a throwaway breaker must not join the fleet.
      const { sync, ...options } = this.#optionsFor(name);
      if (sync !== undefined) {
        new CircuitBreaker({ ...options, name: options.name ?? path, sync: inertSync(sync) });
      } else new CircuitBreaker(options);
    } catch (error) {
      if (!(error instanceof InvalidOptionError)) throw error;
      const option = `${path}.${error.option}`;
      const wrapped = new InvalidOptionError(option, '', undefined);
      // Same words as the breaker's error, with the option's full path in the registry's options.
      wrapped.message = error.message.replace(`"${error.option}"`, `"${option}"`);
      throw wrapped;
    }
  }
}

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidOptionError('name', 'a non-empty string', name);
  }
}

/** A transport with `sync`'s shape that attaches nowhere, for option checks. */
function inertSync(sync: SyncTransport): SyncTransport {
  if (typeof sync !== 'object' || sync === null || typeof sync.attach !== 'function') return sync;
  return {
    instanceId: sync.instanceId,
    flushInterval: sync.flushInterval,
    attach: () => ({ publish: () => {}, lease: () => {}, detach: () => {} }),
  };
}
