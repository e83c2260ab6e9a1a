/**
 * Bulkhead: caps how many calls run at once, so one slow dependency can't take every socket,
 * worker or memory the process has. Calls beyond the cap wait in a bounded FIFO queue; beyond the
 * queue they are rejected at once.
 */
import { checkKnownOptions } from './check-option.ts';
import { BulkheadFullError, InvalidOptionError, withoutStack } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import { callContext } from './internal.ts';
import type { ExecuteOptions, Work } from './policy.ts';

/**
 * Options of {@link bulkhead}.
 *
 * @example
 * ```ts
 * const options: BulkheadOptions = { maxConcurrent: 8, maxQueue: 32 };
 * const limit = bulkhead(options);
 * ```
 */
export interface BulkheadOptions {
  /** Calls allowed to run at the same time. */
  readonly maxConcurrent: number;
  /** Calls allowed to wait for a slot; `Infinity` for no limit. Default: 0 (no queue). */
  readonly maxQueue?: number;
}

/**
 * Events of a {@link BulkheadPolicy}.
 *
 * @example
 * ```ts
 * limit.on('rejected', ({ running, queued }) => log.warn({ running, queued }, 'bulkhead full'));
 * ```
 */
export interface BulkheadEvents {
  /** A call was turned away: every slot busy and the queue full. */
  rejected: { readonly running: number; readonly queued: number };
}

/**
 * A call waiting for a slot: a node of the queue's doubly linked list (so an aborted call leaves
 * from the middle in O(1)) and the listener on its own signal.
 */
class QueuedCall {
  previous: QueuedCall | undefined;
  next: QueuedCall | undefined;
  readonly fn: Work<unknown>;
  readonly signal: AbortSignal | undefined;
  readonly attempt: number | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly #leave: (call: QueuedCall) => void;

  constructor(
    leave: (call: QueuedCall) => void,
    fn: Work<unknown>,
    signal: AbortSignal | undefined,
    attempt: number | undefined,
    resolve: (value: unknown) => void,
    reject: (error: unknown) => void,
  ) {
    this.#leave = leave;
    this.fn = fn;
    this.signal = signal;
    this.attempt = attempt;
    this.resolve = resolve;
    this.reject = reject;
  }

  /** The waiting call's signal aborted: leave the queue now, not when a slot frees. */
  handleEvent(): void {
    this.#leave(this);
    this.reject(this.signal?.reason);
  }
}

/**
 * A policy that runs at most `maxConcurrent` calls at once and queues up to `maxQueue` more,
 * first in, first out.
 *
 * @example
 * ```ts
 * const limit = new BulkheadPolicy({ maxConcurrent: 4 });
 * await limit.execute(({ signal }) => render(page, { signal }));
 * console.log(limit.running, limit.queued);
 * ```
 */
export class BulkheadPolicy {
  /** Calls allowed to run at the same time. */
  readonly maxConcurrent: number;
  /** Calls allowed to wait for a slot. */
  readonly maxQueue: number;
  #running = 0;
  #queued = 0;
  #head: QueuedCall | undefined;
  #tail: QueuedCall | undefined;
  readonly #events = new Emitter<BulkheadEvents>();
  readonly #release = (): void => this.#onSettled();
  readonly #leave = (call: QueuedCall): void => this.#remove(call);

  constructor(options: BulkheadOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'an object', options);
    }
    checkKnownOptions('', options, ['maxConcurrent', 'maxQueue'], 'bulkhead');
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1) {
      throw new InvalidOptionError('maxConcurrent', 'an integer >= 1', options.maxConcurrent);
    }
    const maxQueue = options.maxQueue ?? 0;
    if (!(Number.isInteger(maxQueue) || maxQueue === Number.POSITIVE_INFINITY) || maxQueue < 0) {
      throw new InvalidOptionError('maxQueue', 'an integer >= 0 or Infinity', maxQueue);
    }
    this.maxConcurrent = options.maxConcurrent;
    this.maxQueue = maxQueue;
  }

  /** Calls running now. */
  get running(): number {
    return this.#running;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.#queued;
  }

  /** Subscribes to an event; returns a function that unsubscribes. */
  on<K extends keyof BulkheadEvents>(
    name: K,
    listener: (event: BulkheadEvents[K]) => void,
  ): Unsubscribe {
    return this.#events.on(name, listener);
  }

  /**
   * Runs `fn` now if a slot is free, else once one frees up. Rejects with a
   * {@link BulkheadFullError} when the queue is full too, and with the caller's abort reason if
   * the caller aborts while the call waits.
   */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.maxConcurrent) return this.#run(fn, signal, options?.attempt);
    if (this.#queued >= this.maxQueue) {
      if (this.#events.has('rejected')) {
        this.#events.emit('rejected', { running: this.#running, queued: this.#queued });
      }
      return Promise.reject(
        withoutStack(() => new BulkheadFullError(this.maxConcurrent, this.maxQueue)),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const call = new QueuedCall(
        this.#leave,
        fn,
        signal,
        options?.attempt,
        resolve as (value: unknown) => void,
        reject,
      );
      this.#enqueue(call);
      signal?.addEventListener('abort', call, { once: true });
    });
  }

  #remove(call: QueuedCall): void {
    if (call.previous) call.previous.next = call.next;
    else this.#head = call.next;
    if (call.next) call.next.previous = call.previous;
    else this.#tail = call.previous;
    call.previous = undefined;
    call.next = undefined;
    this.#queued--;
  }

  #enqueue(call: QueuedCall): void {
    call.previous = this.#tail;
    if (this.#tail) this.#tail.next = call;
    else this.#head = call;
    this.#tail = call;
    this.#queued++;
  }

  #run<T>(fn: Work<T>, signal: AbortSignal | undefined, attempt: number | undefined): Promise<T> {
    this.#running++;
    let value: T | PromiseLike<T>;
    try {
      value = fn(callContext(signal, attempt));
    } catch (error) {
      this.#onSettled();
      return Promise.reject(error);
    }
    const settled = Promise.resolve(value);
    settled.then(this.#release, this.#release);
    return settled;
  }

  #onSettled(): void {
    this.#running--;
    const next = this.#head;
    if (next === undefined) return;
    this.#remove(next);
    next.signal?.removeEventListener('abort', next);
    next.resolve(this.#run(next.fn, next.signal, next.attempt));
  }
}

/**
 * Caps concurrent calls, with an optional FIFO queue.
 *
 * @example
 * ```ts
 * const policy = bulkhead({ maxConcurrent: 10, maxQueue: 100 });
 * await policy.execute(({ signal }) => fetch(url, { signal })); // BulkheadFullError when full
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
