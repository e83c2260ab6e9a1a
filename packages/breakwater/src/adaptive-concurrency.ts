/**
 * Adaptive concurrency: a limit on calls in flight that moves with measured latency, so a caller
 * sheds load before the service it calls queues up and collapses (Netflix's concurrency-limits,
 * Envoy's adaptive concurrency filter). Completed calls are gathered into windows; each window's
 * latencies go to the chosen algorithm (gradient or AIMD), whose proposal is smoothed and
 * bounded. A call beyond the limit is rejected at once with a {@link ConcurrencyLimitError},
 * never queued. Reading time goes through the {@link Clock}; no timer runs, idle or not.
 */
import {
  type AdaptiveConcurrencyOptions,
  type ResolvedLimiterOptions,
  resolveLimiterOptions,
} from './adaptive-concurrency-options.ts';
import type { Clock } from './clock.ts';
import { ConcurrencyLimitError, InvalidOptionError, withoutStack } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import { callContext } from './internal.ts';
import { unwrapOutcome } from './outcome.ts';
import type { ExecuteOptions, Work } from './policy.ts';

export type {
  AdaptiveConcurrencyOptions,
  AimdOptions,
  GradientOptions,
} from './adaptive-concurrency-options.ts';

/**
 * Events of an {@link AdaptiveConcurrencyPolicy}. Payloads are built only for events that have
 * listeners.
 *
 * @example
 * ```ts
 * limiter.on('limit', ({ from, to, rtt }) => log.info({ from, to, rtt }, 'concurrency limit moved'));
 * ```
 */
export interface AdaptiveConcurrencyEvents {
  /** The limit changed after a window; `rtt` is that window's mean latency in ms. */
  limit: { readonly from: number; readonly to: number; readonly rtt: number };
  /** A call was turned away: `inFlight` calls were running, as many as `limit` allows. */
  rejected: { readonly limit: number; readonly inFlight: number };
}

/**
 * An admitted call, for callers that cannot hand the limiter a single function (a proxy admits
 * a request to a target before forwarding it). Settle it exactly once; later settles do nothing.
 *
 * @example
 * ```ts
 * const permit = limiter.tryAcquire();
 * if (!permit) return reply(503);
 * const response = await forward(request);
 * permit.complete(); // the latency is measured from tryAcquire()
 * ```
 */
export interface ConcurrencyPermit {
  /**
   * The call finished (whatever its answer): its latency counts. `latency` in ms overrides the
   * time measured since the permit was acquired, e.g. a response's time to first byte.
   */
  complete(latency?: number): void;
  /** The call was dropped for overload (timed out, refused downstream): a signal to back off. */
  drop(): void;
  /** Frees the slot and records nothing (the caller gave up, say). */
  ignore(): void;
}

/** How a permit reports back, without a public method on the limiter for it. */
let settle: (
  limiter: AdaptiveConcurrencyPolicy,
  inFlightAtAdmission: number,
  latency: number | undefined,
  dropped: boolean,
) => void;

/**
 * A policy whose concurrency limit adapts to latency. Create it with {@link adaptiveConcurrency}.
 *
 * @example
 * ```ts
 * const limiter = new AdaptiveConcurrencyPolicy({ algorithm: 'aimd', aimd: { latencyThreshold: 200 } });
 * await limiter.execute(({ signal }) => fetch(url, { signal }));
 * console.log(limiter.limit, limiter.inFlight);
 * ```
 */
export class AdaptiveConcurrencyPolicy {
  /** The name given in the options, if any. */
  readonly name: string | undefined;
  /** The lowest the limit may go. */
  readonly minLimit: number;
  /** The highest the limit may go. */
  readonly maxLimit: number;
  readonly #options: ResolvedLimiterOptions;
  readonly #events = new Emitter<AdaptiveConcurrencyEvents>();
  /** The algorithm's limit, fractional: smoothing moves it by less than one call at a time. */
  #estimate: number;
  #limit: number;
  #inFlight = 0;
  // The window being gathered.
  #windowStart: number;
  #samples = 0;
  #latencySum = 0;
  #maxInFlight = 0;
  #dropped = false;

  static {
    settle = (limiter, inFlightAtAdmission, latency, dropped) =>
      limiter.#record(inFlightAtAdmission, latency, dropped);
  }

  constructor(options: AdaptiveConcurrencyOptions = {}) {
    const resolved = resolveLimiterOptions(options);
    this.#options = resolved;
    this.name = resolved.name;
    this.minLimit = resolved.minLimit;
    this.maxLimit = resolved.maxLimit;
    this.#estimate = resolved.initialLimit;
    this.#limit = resolved.initialLimit;
    this.#windowStart = resolved.clock.now();
  }

  /** Calls allowed in flight right now. */
  get limit(): number {
    return this.#limit;
  }

  /** Calls in flight right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof AdaptiveConcurrencyEvents>(
    name: K,
    listener: (event: AdaptiveConcurrencyEvents[K]) => void,
  ): Unsubscribe {
    return this.#events.on(name, listener);
  }

  /**
   * Admits one call without running anything: a {@link ConcurrencyPermit} to settle when the
   * call ends, or `undefined` when the limit is reached.
   *
   * @example
   * ```ts
   * const permit = limiter.tryAcquire();
   * if (!permit) return reply(503, { 'retry-after': '1' });
   * forward(request).then(() => permit.complete(), () => permit.drop());
   * ```
   */
  tryAcquire(): ConcurrencyPermit | undefined {
    if (this.#inFlight >= this.#limit) {
      this.#countRejection();
      return undefined;
    }
    return new LimiterPermit(this, this.#admit(), this.#options.clock);
  }

  /**
   * Runs `fn` if fewer calls than the limit are in flight, else rejects at once with a
   * {@link ConcurrencyLimitError} without running it. The call's latency feeds the limit; a
   * caller's abort records nothing, and an error `isDrop` accepts counts as a drop.
   */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#inFlight >= this.#limit) {
      this.#countRejection();
      return Promise.reject(withoutStack(() => new ConcurrencyLimitError(this.#limit, this.name)));
    }
    const permit = new LimiterPermit(this, this.#admit(), this.#options.clock);
    let value: T | PromiseLike<T>;
    try {
      value = fn(callContext(signal, options?.attempt));
    } catch (error) {
      this.#settleError(permit, signal, error);
      return Promise.reject(error);
    }
    return Promise.resolve(value).then(
      (result) => {
        permit.complete();
        return result;
      },
      (error: unknown) => {
        this.#settleError(permit, signal, error);
        throw error;
      },
    );
  }

  #settleError(permit: LimiterPermit, signal: AbortSignal | undefined, error: unknown): void {
    if (signal?.aborted && error === signal.reason) {
      permit.ignore();
      return;
    }
    let dropped = false;
    try {
      dropped = this.#options.isDrop(unwrapOutcome(error));
    } finally {
      // A throwing isDrop reaches the caller, but never keeps the call's slot.
      if (dropped) permit.drop();
      else permit.complete();
    }
  }

  #admit(): number {
    return ++this.#inFlight;
  }

  #countRejection(): void {
    if (this.#events.has('rejected')) {
      this.#events.emit('rejected', { limit: this.#limit, inFlight: this.#inFlight });
    }
  }

  /** Called once per permit; `latency` is undefined for an ignored call. */
  #record(inFlightAtAdmission: number, latency: number | undefined, dropped: boolean): void {
    this.#inFlight--;
    if (latency === undefined) return;
    this.#samples++;
    this.#latencySum += latency;
    if (inFlightAtAdmission > this.#maxInFlight) this.#maxInFlight = inFlightAtAdmission;
    if (dropped) this.#dropped = true;
    const now = this.#options.clock.now();
    if (now - this.#windowStart < this.#options.window) return;
    if (this.#samples < this.#options.minSamples) return;
    this.#closeWindow(now);
  }

  #closeWindow(now: number): void {
    const { algorithm, smoothing, minLimit, maxLimit } = this.#options;
    const rtt = this.#latencySum / this.#samples;
    const proposed = algorithm.next(this.#estimate, {
      rtt,
      maxInFlight: this.#maxInFlight,
      dropped: this.#dropped,
    });
    const smoothed = this.#estimate + (proposed - this.#estimate) * smoothing;
    // A custom queueSize could answer NaN (or throw: logged, read as NaN); the limit then stays.
    if (Number.isFinite(smoothed)) {
      this.#estimate = Math.min(maxLimit, Math.max(minLimit, smoothed));
    }
    this.#windowStart = now;
    this.#samples = 0;
    this.#latencySum = 0;
    this.#maxInFlight = 0;
    this.#dropped = false;
    const from = this.#limit;
    const to = Math.floor(this.#estimate);
    if (to === from) return;
    this.#limit = to;
    if (this.#events.has('limit')) this.#events.emit('limit', { from, to, rtt });
  }
}

class LimiterPermit implements ConcurrencyPermit {
  #limiter: AdaptiveConcurrencyPolicy | undefined;
  readonly #inFlightAtAdmission: number;
  readonly #clock: Clock;
  readonly #start: number;

  constructor(limiter: AdaptiveConcurrencyPolicy, inFlightAtAdmission: number, clock: Clock) {
    this.#limiter = limiter;
    this.#inFlightAtAdmission = inFlightAtAdmission;
    this.#clock = clock;
    this.#start = clock.now();
  }

  complete(latency?: number): void {
    const limiter = this.#limiter;
    if (limiter === undefined) return;
    if (latency !== undefined && !(latency >= 0 && latency !== Infinity)) {
      this.ignore();
      throw new InvalidOptionError('latency', 'a finite number of ms >= 0', latency);
    }
    this.#limiter = undefined;
    settle(limiter, this.#inFlightAtAdmission, latency ?? this.#clock.now() - this.#start, false);
  }

  drop(): void {
    const limiter = this.#limiter;
    if (limiter === undefined) return;
    this.#limiter = undefined;
    settle(limiter, this.#inFlightAtAdmission, this.#clock.now() - this.#start, true);
  }

  ignore(): void {
    const limiter = this.#limiter;
    if (limiter === undefined) return;
    this.#limiter = undefined;
    settle(limiter, this.#inFlightAtAdmission, undefined, false);
  }
}

/**
 * A concurrency limit that adapts to latency: the gradient algorithm by default, AIMD on request.
 * Beyond the limit, calls are rejected at once with a {@link ConcurrencyLimitError}.
 *
 * @example
 * ```ts
 * const limiter = adaptiveConcurrency({ initialLimit: 20, maxLimit: 200 });
 * limiter.on('limit', ({ to }) => metrics.concurrencyLimit.set(to));
 * const policy = pipeline(retry({ maxAttempts: 2 }), limiter, timeout(2_000));
 * await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function adaptiveConcurrency(
  options: AdaptiveConcurrencyOptions = {},
): AdaptiveConcurrencyPolicy {
  return new AdaptiveConcurrencyPolicy(options);
}
