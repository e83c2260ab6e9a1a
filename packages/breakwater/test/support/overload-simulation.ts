/**
 * A discrete-event simulation of a service behind a limiter, on a {@link ManualClock}: the
 * service runs `capacity` requests at once, each taking `serviceTime` ms, and queues the rest
 * first in, first out, so its latency grows without bound once offered more than it can serve.
 * Requests arrive at a fixed rate (open loop: a rejected request is not retried). Everything runs
 * inside `clock.advance`, with no promises, so many simulated seconds take milliseconds.
 */
import type { ConcurrencyPermit } from '../../src/adaptive-concurrency.ts';
import type { ManualClock } from '../../src/clock.ts';

/** What admits a request: the limiter under test, or nothing (every request goes through). */
export interface Gate {
  tryAcquire(): ConcurrencyPermit | undefined;
}

/** A gate that never refuses, for the unprotected baseline. */
export const noLimit: Gate = {
  tryAcquire: () => ({ complete() {}, drop() {}, ignore() {} }),
};

/** A service that runs `capacity` requests at once and queues the rest. */
export class SimulatedService {
  /** Requests it runs at once; may change mid-run to model a degraded service. */
  capacity: number;
  readonly serviceTime: number;
  readonly #clock: ManualClock;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(clock: ManualClock, capacity: number, serviceTime: number) {
    this.#clock = clock;
    this.capacity = capacity;
    this.serviceTime = serviceTime;
  }

  /** Requests served per ms at full use. */
  get throughput(): number {
    return this.capacity / this.serviceTime;
  }

  handle(done: () => void): void {
    if (this.#running < this.capacity) this.#start(done);
    else this.#queue.push(done);
  }

  #start(done: () => void): void {
    this.#running++;
    this.#clock.setTimeout(() => {
      this.#running--;
      done();
      while (this.#running < this.capacity && this.#queue.length > 0) {
        this.#start(this.#queue.shift()!);
      }
    }, this.serviceTime);
  }
}

/** What one phase of offered load produced. */
export interface PhaseResult {
  readonly offered: number;
  readonly rejected: number;
  /** Latencies of the requests that completed during the phase, in ms, sorted. */
  readonly latencies: readonly number[];
}

/**
 * Offers `rate` requests per ms for `duration` ms and returns what became of those completed in
 * that time (arrivals are spread evenly, one batch per ms).
 */
export function offerLoad(
  clock: ManualClock,
  gate: Gate,
  service: SimulatedService,
  rate: number,
  duration: number,
): PhaseResult {
  const end = clock.now() + duration;
  let offered = 0;
  let rejected = 0;
  let owed = 0;
  const latencies: number[] = [];
  const arrive = (): void => {
    owed += rate;
    for (; owed >= 1; owed--) {
      offered++;
      const permit = gate.tryAcquire();
      if (permit === undefined) {
        rejected++;
        continue;
      }
      const start = clock.now();
      service.handle(() => {
        permit.complete();
        if (clock.now() <= end) latencies.push(clock.now() - start);
      });
    }
    if (clock.now() + 1 < end) clock.setTimeout(arrive, 1);
  };
  clock.setTimeout(arrive, 0);
  clock.advanceTo(end);
  latencies.sort((a, b) => a - b);
  return { offered, rejected, latencies };
}

/** The `q` quantile (0..1) of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
