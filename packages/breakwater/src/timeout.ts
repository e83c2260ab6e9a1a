/**
 * Timeout: bounds one attempt. When time runs out the work's signal is aborted with a
 * {@link TimeoutError} and the call rejects with it at once; stopping the work is up to the work
 * (it should pass the signal on, as `fetch` does).
 */
import { checkKnownOptions } from './check-option.ts';
import { type Clock, systemClock, type TimerHandle } from './clock.ts';
import { InvalidOptionError, TimeoutError } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import { isThenable, MAX_TIMER_DELAY } from './internal.ts';
import { type ExecuteOptions, neverAborted, type Work } from './policy.ts';

/**
 * Options of {@link timeout}.
 *
 * @example
 * ```ts
 * const options: TimeoutOptions = { clock: new ManualClock() }; // tests move time by hand
 * timeout(1_000, options);
 * ```
 */
export interface TimeoutOptions {
  /** Default: {@link systemClock}. */
  readonly clock?: Clock;
}

/**
 * Events of a {@link TimeoutPolicy}.
 *
 * @example
 * ```ts
 * perAttempt.on('timeout', ({ timeout }) => metrics.timeouts.inc({ timeout }));
 * ```
 */
export interface TimeoutEvents {
  /** A call ran out of time; its signal has been aborted. */
  timeout: { readonly timeout: number };
}

/**
 * A policy that bounds each call to `ms` milliseconds.
 *
 * Costs per call: one timer and one pending-call object; the `AbortController` is made only if
 * the work reads its signal, and the caller's signal gets one listener, removed as soon as the
 * call settles. A call that succeeds aborts nothing.
 *
 * @example
 * ```ts
 * const perAttempt = new TimeoutPolicy(2_000);
 * await perAttempt.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export class TimeoutPolicy {
  /** The time limit of each call, in ms. */
  readonly timeout: number;
  readonly #clock: Clock;
  readonly #events = new Emitter<TimeoutEvents>();
  readonly #observer: TimedCallObserver = {
    timedOut: () => {
      if (this.#events.has('timeout')) this.#events.emit('timeout', { timeout: this.timeout });
    },
    callerAborted: () => {},
  };

  constructor(ms: number, options: TimeoutOptions = {}) {
    if (typeof ms !== 'number' || !(ms > 0) || ms > MAX_TIMER_DELAY) {
      throw new InvalidOptionError('ms', `a number of ms > 0 and <= ${MAX_TIMER_DELAY}`, ms);
    }
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions('', options, ['clock'], 'timeout');
    this.timeout = ms;
    this.#clock = options.clock ?? systemClock;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof TimeoutEvents>(
    name: K,
    listener: (event: TimeoutEvents[K]) => void,
  ): Unsubscribe {
    return this.#events.on(name, listener);
  }

  /**
   * Runs `fn` with a signal that aborts after the time limit or when the caller's signal aborts.
   * Rejects with a {@link TimeoutError} when time runs out, with the caller's abort reason when
   * the caller aborts, and otherwise settles as `fn` does.
   */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const given = options?.signal;
    if (given?.aborted) return Promise.reject(given.reason);
    // The shared never-aborting signal needs no listener.
    const caller = given === neverAborted ? undefined : given;
    return runTimed(fn, caller, this.#clock, this.timeout, this.#observer, options?.attempt);
  }
}

/**
 * How a timed call ended before its work did. Internal: the timeout policy emits its event, a
 * breaker with `callTimeout` counts a failure or ignores a caller's abort.
 */
export interface TimedCallObserver {
  /** Time ran out: the work's signal is aborted with `error` and the call rejects with it next. */
  timedOut(error: TimeoutError): void;
  /** The caller's signal aborted: the work's signal is aborted and the call rejects with `reason`. */
  callerAborted(reason: unknown): void;
}

/**
 * Runs `fn` bounded by `ms` (not at all when undefined) and by the caller's signal; the one timed
 * call of the library, shared by {@link TimeoutPolicy} and a breaker's `callTimeout`. Rejects with
 * a {@link TimeoutError} when time runs out, with the caller's abort reason when the caller aborts
 * (telling `observer` first), and otherwise settles as `fn` does. The caller checked that its
 * signal had not aborted yet. `attempt` (default 1) is handed on in the work's context.
 */
export function runTimed<T>(
  fn: Work<T>,
  caller: AbortSignal | undefined,
  clock: Clock,
  ms: number | undefined,
  observer: TimedCallObserver | undefined,
  attempt: number | undefined,
): Promise<T> {
  const call = new TimedCall(caller, clock, ms, observer, attempt ?? 1);
  let value: T | PromiseLike<T>;
  try {
    value = fn(call);
  } catch (error) {
    return Promise.reject(error);
  }
  // Synchronous work is already done: nothing to time, abort or listen to.
  if (!isThenable(value)) return Promise.resolve(value);
  return new Promise<T>((resolve, reject) => {
    call.rejectCall = reject;
    if (caller?.aborted) {
      call.fail(caller.reason, false);
      return;
    }
    if (ms !== undefined) {
      call.timer = clock.setTimeout(() => call.fail(new TimeoutError(ms), true), ms);
    }
    caller?.addEventListener('abort', call);
    // Promise.resolve adopts a foreign thenable safely (its then may throw) and returns a native
    // promise as is.
    Promise.resolve(value).then(
      (result) => call.settle() && resolve(result),
      (error: unknown) => call.settle() && reject(error),
    );
  });
}

/**
 * One call in flight. It is the work's context (`signal` made on first read), the listener on the
 * caller's signal (`handleEvent`), and the settle-once guard, so a call allocates one object
 * instead of a closure per role.
 */
class TimedCall {
  timer: TimerHandle | undefined;
  rejectCall: ((error: unknown) => void) | undefined;
  #controller: AbortController | undefined;
  #settled = false;
  /** Set when the call failed (timeout, caller abort): a signal read afterwards is born aborted. */
  #failed = false;
  #reason: unknown;
  readonly #caller: AbortSignal | undefined;
  readonly #clock: Clock;
  readonly #ms: number | undefined;
  readonly #observer: TimedCallObserver | undefined;
  /** The work's attempt number, read through the context. */
  readonly attempt: number;

  constructor(
    caller: AbortSignal | undefined,
    clock: Clock,
    ms: number | undefined,
    observer: TimedCallObserver | undefined,
    attempt: number,
  ) {
    this.#caller = caller;
    this.#clock = clock;
    this.#ms = ms;
    this.#observer = observer;
    this.attempt = attempt;
  }

  get signal(): AbortSignal {
    // Without a time limit only the caller can abort: its own signal serves as is.
    if (this.#ms === undefined && this.#caller !== undefined) return this.#caller;
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      // Work that reads its signal only after the timeout must still see it aborted.
      if (this.#failed) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** The caller's signal aborted: pass its reason on to the work and reject with it. */
  handleEvent(): void {
    this.fail(this.#caller?.reason, false);
  }

  /**
   * Aborts the work with `reason` (a {@link TimeoutError} when `timedOut`, else the caller's) and
   * rejects with it, unless the call already settled.
   */
  fail(reason: unknown, timedOut: boolean): void {
    if (!this.settle()) return;
    this.#failed = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    // Observers see the work's signal aborted, and act before the caller hears of it.
    if (timedOut) this.#observer?.timedOut(reason as TimeoutError);
    else this.#observer?.callerAborted(reason);
    this.rejectCall?.(reason);
  }

  /** Marks the call settled and drops its timer and listener; false if it already was. */
  settle(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.timer !== undefined) this.#clock.clearTimeout(this.timer);
    this.#caller?.removeEventListener('abort', this);
    return true;
  }
}

/**
 * Bounds each call to `ms` milliseconds. Put it inside a retry to bound each attempt, outside to
 * bound them all.
 *
 * @example
 * ```ts
 * const policy = timeout(2_000);
 * await policy.execute(({ signal }) => fetch(url, { signal })); // TimeoutError after 2 s
 * ```
 */
export function timeout(ms: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(ms, options);
}
