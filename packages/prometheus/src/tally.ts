/**
 * Counts kept in plain numbers on the call path and read by an exporter at scrape or export time.
 * prom-client's `inc()`/`observe()` and an OpenTelemetry counter's `add()` hash their label object
 * on every call; adding to a typed array slot does not, so a call through an instrumented breaker
 * costs a few additions (the proxy's metrics make the same trade).
 */
import type { BreakerState } from 'breakwater';
import {
  breakerStates,
  type CallOutcome,
  callOutcomes,
  durationBuckets,
  type PolicyEvent,
} from './vocabulary.ts';

/** One breaker name's counts since it was first instrumented. */
export class BreakerTally {
  readonly name: string;
  /** By outcome, indexed like `callOutcomes`. */
  readonly calls = new Float64Array(callOutcomes.length);
  /** By target state, indexed like `breakerStates`. */
  readonly transitions = new Float64Array(breakerStates.length);
  /** Per duration bucket, not cumulative; the last slot is above every bound. */
  readonly buckets = new Float64Array(durationBuckets.length + 1);
  durationSum = 0;
  durationCount = 0;
  /**
   * Reads the state of the breaker reporting under this name now; undefined when none does (its
   * instrumentation was disposed, or its registry deleted it).
   */
  state: (() => BreakerState | undefined) | undefined;

  constructor(name: string) {
    this.name = name;
  }

  countCall(outcome: CallOutcome): void {
    this.calls[callOutcomes.indexOf(outcome)]!++;
  }

  countTransition(to: BreakerState): void {
    this.transitions[breakerStates.indexOf(to)]!++;
  }

  /** Adds a call's duration; `NaN` (a call admitted before anyone listened) is not timed. */
  observeDuration(durationMs: number): void {
    if (Number.isNaN(durationMs)) return;
    const seconds = durationMs / 1000;
    let bucket = 0;
    while (bucket < durationBuckets.length && seconds > durationBuckets[bucket]!) bucket++;
    this.buckets[bucket]!++;
    this.durationSum += seconds;
    this.durationCount++;
  }
}

/** A group of metrics made together: the breaker metrics, or one policy event's counter. */
export type MetricFamily = 'breaker' | PolicyEvent;

/**
 * Every count of one exporter: per breaker name, and per policy event and policy name. An
 * exporter learns from `onFirst` when a family gets its first tally, and makes its metrics then,
 * so a registry holds no always-empty families (and the proxy's own `breakwater_retries_total`
 * can sit beside its instrumented breakers).
 */
export class Tallies {
  readonly breakers = new Map<string, BreakerTally>();
  /** Counts by event, then by policy name. */
  readonly policies = new Map<PolicyEvent, Map<string, { count: number }>>();
  readonly #onFirst: (family: MetricFamily) => void;

  constructor(onFirst: (family: MetricFamily) => void = () => {}) {
    this.#onFirst = onFirst;
  }

  breaker(name: string): BreakerTally {
    let tally = this.breakers.get(name);
    if (tally === undefined) {
      if (this.breakers.size === 0) this.#onFirst('breaker');
      tally = new BreakerTally(name);
      this.breakers.set(name, tally);
    }
    return tally;
  }

  /** The counter of `event` for the policy `name`, made at 0 so it is exported before it moves. */
  policy(event: PolicyEvent, name: string): { count: number } {
    let byName = this.policies.get(event);
    if (byName === undefined) {
      this.#onFirst(event);
      byName = new Map();
      this.policies.set(event, byName);
    }
    let counter = byName.get(name);
    if (counter === undefined) {
      counter = { count: 0 };
      byName.set(name, counter);
    }
    return counter;
  }
}
