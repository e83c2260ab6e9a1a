/**
 * A small typed event emitter. Emitting to no listeners costs one property lookup: hot paths
 * check {@link Emitter.has} before building an event object.
 */

/**
 * Removes the listener it was returned for.
 *
 * @example
 * ```ts
 * const off: Unsubscribe = breaker.on('open', () => alert('inventory down'));
 * off(); // no more alerts
 * ```
 */
export type Unsubscribe = () => void;

/**
 * A typed listener registry; `Events` maps event names to payload types.
 *
 * @example
 * ```ts
 * const events = new Emitter<{ drained: { readonly target: string } }>();
 * const off = events.on('drained', ({ target }) => console.log(`${target} drained`));
 * if (events.has('drained')) events.emit('drained', { target: 'a:8080' });
 * off();
 * ```
 */
export class Emitter<Events extends object> {
  #listeners: { [K in keyof Events]?: Array<(payload: Events[K]) => void> } = {};

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(name: K, listener: (payload: Events[K]) => void): Unsubscribe {
    const list = this.#listeners[name] ?? [];
    // Copy on write, so a listener that unsubscribes during emit doesn't skip its neighbour.
    this.#listeners[name] = [...list, listener];
    return () => {
      const current = this.#listeners[name];
      if (!current) return;
      const next = current.filter((l) => l !== listener);
      if (next.length === 0) delete this.#listeners[name];
      else this.#listeners[name] = next;
    };
  }

  /** True when at least one listener is registered for `name`. */
  has(name: keyof Events): boolean {
    return this.#listeners[name] !== undefined;
  }

  /**
   * Calls every listener of `name`. A throwing listener is reported on the console and never
   * interrupts the call that emitted, nor the other listeners.
   */
  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    const list = this.#listeners[name];
    if (!list) return;
    for (const listener of list) {
      try {
        listener(payload);
      } catch (error) {
        console.error(`breakwater: a "${String(name)}" event listener threw`, error);
      }
    }
  }
}
