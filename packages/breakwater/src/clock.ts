/**
 * Time as a parameter. Everything in Breakwater that reads time or waits goes through a
 * {@link Clock}, so tests and simulations move time by hand instead of sleeping.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const breaker = new CircuitBreaker({ clock, openDuration: 1_000 });
 * clock.advance(1_000); // the breaker now reports 'half-open'
 * ```
 */
import { MAX_TIMER_DELAY } from './internal.ts';

/**
 * An opaque handle returned by {@link Clock.setTimeout}.
 *
 * @example
 * ```ts
 * const handle: TimerHandle = clock.setTimeout(() => console.log('late'), 1_000);
 * clock.clearTimeout(handle);
 * ```
 */
export type TimerHandle = object;

/**
 * A source of monotonic time in milliseconds, and of one-shot timers.
 *
 * @example
 * ```ts
 * // A clock that starts at the epoch of a recorded trace, for replaying it.
 * const offset = performance.now() - trace.start;
 * const replayClock: Clock = { ...systemClock, now: () => performance.now() - offset };
 * ```
 */
export interface Clock {
  /** Monotonic milliseconds; only differences between two readings are meaningful. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  /** Cancels a timer; cancelling a fired or cancelled timer does nothing. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock: `performance.now()` and the runtime's timers. Delays beyond about 24.8 days are
 * capped there rather than firing at once.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ clock: systemClock }); // the default anyway
 * const started = systemClock.now();
 * ```
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, MAX_TIMER_DELAY)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire, in due order, during {@link advance}.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * clock.setTimeout(() => console.log('fired'), 100);
 * clock.advance(100); // prints "fired"
 * ```
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = {
      due: this.#now + Math.max(0, ms),
      seq: this.#seq++,
      callback,
      cancelled: false,
    };
    this.#timers.push(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    (handle as ManualTimer).cancelled = true;
    this.#timers = this.#timers.filter((t) => t !== handle);
  }

  /** Timers scheduled and not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, each at its own
   * due time (a timer set by a firing timer fires too if it falls within the window).
   */
  advance(ms: number): void {
    this.advanceTo(this.#now + ms);
  }

  /** Moves time forward to the absolute reading `time`. */
  advanceTo(time: number): void {
    if (time < this.#now) throw new RangeError(`ManualClock cannot go back in time (${time})`);
    for (;;) {
      const next = this.#nextDue(time);
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.due;
      next.callback();
    }
    this.#now = time;
  }

  /**
   * Advances by `ms` and then lets pending promise callbacks run, which is what async code under
   * test usually needs before the next assertion.
   */
  async tick(ms = 0): Promise<void> {
    this.advance(ms);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }

  #nextDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.cancelled || t.due > limit) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/**
 * Waits `ms` on `clock`. Rejects with the signal's reason as soon as `signal` aborts, leaving no
 * timer or listener behind.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * await sleep(systemClock, 500, controller.signal); // rejects at once if controller.abort() is called
 * ```
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
