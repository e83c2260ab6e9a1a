/**
 * When to replace a crashed worker. The first crash is answered at once (a one-off fault should
 * cost one worker for as little time as possible); crashes close together wait longer and longer,
 * so a worker that dies on start does not burn a core forking. Several crashes within a minute
 * are a crash loop, reported in logs and on `GET /api/workers`.
 */
import type { Clock } from 'breakwater';

/** Crashes within this window count together. */
const WINDOW_MS = 60_000;
/** This many crashes in the window is a crash loop. */
const LOOP_CRASHES = 5;
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 10_000;

/**
 * Crash history of one worker slot.
 *
 * @example
 * ```ts
 * const backoff = new RestartBackoff(systemClock);
 * const delay = backoff.crashed(); // 0, then 100, 200, 400 … up to 10 s
 * ```
 */
export class RestartBackoff {
  readonly #clock: Clock;
  #crashes: number[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Records a crash and returns how long to wait (ms) before forking the replacement. */
  crashed(): number {
    const now = this.#clock.now();
    this.#crashes = this.#crashes.filter((at) => now - at < WINDOW_MS);
    this.#crashes.push(now);
    const recent = this.#crashes.length;
    return recent === 1 ? 0 : Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (recent - 2));
  }

  /** Whether the slot crashed {@link LOOP_CRASHES} times or more in the last minute. */
  get crashLoop(): boolean {
    const now = this.#clock.now();
    return this.#crashes.filter((at) => now - at < WINDOW_MS).length >= LOOP_CRASHES;
  }
}
