/**
 * What a cluster worker tells the primary's dashboard, once a second when asked: each target's
 * lifetime traffic counts (attempts, failures, the latency histogram), what only a forwarding
 * process knows of it now (requests in flight, adaptive concurrency limit, breaker state, the
 * last ejection's reason) and the timeline entries its own traffic caused since the last report.
 * Counts, not rates: the primary sums the workers' increases and samples them like a single
 * process's, so its percentiles come from the merged histogram, not from averaged percentiles.
 */
import type { AttemptListener } from '../request/host.ts';
import { breakerStateRank } from '../upstream/breaker-state-rank.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { failedAttempt } from './failed-attempt.ts';
import { type TimelineEntry, type TimelineWatcher, watchTimeline } from './target-timeline.ts';
import { TargetTraffic } from './target-traffic.ts';

/** One target in a worker's report. */
export interface TargetReport {
  readonly upstream: string;
  readonly url: string;
  /** Lifetime counts in this worker (see {@link TargetTraffic}). */
  readonly attempts: number;
  readonly failures: number;
  readonly latency: readonly number[];
  readonly inFlight: number;
  readonly concurrencyLimit: number | null;
  /** The breaker's state (`disabled` without outlier detection) and time to its next trial. */
  readonly breaker: string;
  readonly retryAfterMs: number;
  readonly ejections: number;
  /** The last ejection this worker's traffic caused, in words, and when (wall clock). */
  readonly reason: { readonly text: string; readonly at: number } | null;
}

/** A worker's answer to the primary's `dashboard` request. */
export interface DashboardReport {
  readonly targets: readonly TargetReport[];
  /** Entries since the previous report, oldest first. */
  readonly timeline: readonly TimelineEntry[];
}

/** What the reporter needs from the worker's proxy. */
export interface DashboardReporterContext {
  readonly pools: () => Iterable<UpstreamPool>;
  /** Subscribes to every attempt's end (the forwarder's `onAttempt`); returns the unsubscribe. */
  readonly onAttempt: (listener: AttemptListener) => () => void;
}

interface Watched {
  readonly traffic: TargetTraffic;
  reason: TargetReport['reason'];
  /** Its breaker's and checker's events (follows a reload that replaced them). */
  timeline: TimelineWatcher;
}

/** Timeline entries a worker keeps for a primary that stopped asking. */
const TIMELINE_KEPT = 100;

/**
 * Counts a worker's traffic for the primary's dashboard. It runs no timer: counting is three
 * additions per attempt, and the work of a report is done when the primary asks. It does listen
 * (to the forwarder's attempts and to each target's breaker and checker) until `stop()`.
 *
 * @example
 * ```ts
 * const reporter = new DashboardReporter({ pools: () => proxy.upstreams.values(),
 *   onAttempt: (listener) => proxy.forwarder.onAttempt(listener) });
 * send({ bw: 'proxy', type: 'dashboard', id, report: reporter.report() });
 * ```
 */
export class DashboardReporter {
  readonly #context: DashboardReporterContext;
  /**
   * A Map, not a WeakMap, so that `stop()` can reach every target's listeners; a report drops
   * the targets a reload removed, so they are not kept for ever.
   */
  readonly #watched = new Map<Target, Watched>();
  #timeline: TimelineEntry[] = [];
  readonly #offAttempts: () => void;
  #stopped = false;

  constructor(context: DashboardReporterContext) {
    this.#context = context;
    this.#offAttempts = context.onAttempt((pool, target, outcome, status, durationMs) => {
      this.#watch(pool.name, target).traffic.record(durationMs, failedAttempt(outcome, status));
    });
    this.report();
  }

  /**
   * Stops counting and listening: a stopped reporter's report keeps the counts it had and adds no
   * timeline entries.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#offAttempts();
    for (const watched of this.#watched.values()) watched.timeline.stop();
  }

  /** Every target now, and the timeline entries since the last report. */
  report(): DashboardReport {
    const targets: TargetReport[] = [];
    const seen = new Set<Target>();
    for (const pool of this.#context.pools()) {
      for (const target of pool.targets) {
        seen.add(target);
        const { traffic, reason } = this.#watch(pool.name, target);
        targets.push({
          upstream: pool.name,
          url: target.id,
          attempts: traffic.attempts,
          failures: traffic.failures,
          latency: Array.from(traffic.latency),
          inFlight: target.activeRequests,
          concurrencyLimit: target.limiter?.limit ?? null,
          breaker: target.breaker?.state ?? 'disabled',
          retryAfterMs: Math.ceil(target.breaker?.retryAfter ?? 0),
          ejections: target.ejections,
          reason,
        });
      }
    }
    // A target a reload removed is not reported again: its listeners go with it.
    for (const [target, watched] of this.#watched) {
      if (seen.has(target)) continue;
      watched.timeline.stop();
      this.#watched.delete(target);
    }
    const timeline = this.#timeline;
    this.#timeline = [];
    return { targets, timeline };
  }

  #watch(upstream: string, target: Target): Watched {
    const existing = this.#watched.get(target);
    if (existing !== undefined) {
      existing.timeline.follow();
      return existing;
    }
    const traffic = new TargetTraffic();
    // Stopped: the counts are what they are; a target first seen now gets no listeners.
    if (this.#stopped) return { traffic, reason: null, timeline: { follow() {}, stop() {} } };
    const watched: Watched = { traffic, reason: null, timeline: { follow() {}, stop() {} } };
    this.#watched.set(target, watched);
    watched.timeline = watchTimeline(upstream, target, {
      ownOnly: true,
      reason: (text) => {
        watched.reason = { text, at: Date.now() };
      },
      entry: (entry) => {
        this.#timeline.push({ at: Date.now(), ...entry });
        if (this.#timeline.length > TIMELINE_KEPT) this.#timeline.shift();
      },
    });
    return watched;
  }
}

/** One worker's answer, with its process id. */
export interface WorkerReport {
  readonly pid: number;
  readonly report: DashboardReport;
}

/** What the workers know of one target now, merged. */
export interface MergedTargetFacts {
  readonly breaker: string;
  readonly retryAfterMs: number;
  /** Summed over the workers. */
  readonly inFlight: number;
  /** Summed: each worker learns its own limit; null without `adaptiveConcurrency`. */
  readonly concurrencyLimit: number | null;
  /** The most any worker counted (a shared ejection is counted in each of them). */
  readonly ejections: number;
  /** The latest ejection reason any worker reported. */
  readonly reason: string | null;
}

/**
 * Merges one target's rows from the workers' reports.
 *
 * @example
 * ```ts
 * mergeTargetFacts([rowFromWorker1, rowFromWorker2]).inFlight;
 * ```
 */
export function mergeTargetFacts(rows: readonly TargetReport[]): MergedTargetFacts {
  let best: TargetReport | undefined;
  let inFlight = 0;
  let limit: number | null = null;
  let ejections = 0;
  let reason: TargetReport['reason'] = null;
  for (const row of rows) {
    const rank = breakerStateRank(row.breaker);
    const bestRank = best === undefined ? -1 : breakerStateRank(best.breaker);
    if (rank > bestRank || (rank === bestRank && row.retryAfterMs < best!.retryAfterMs)) {
      best = row;
    }
    inFlight += row.inFlight;
    if (row.concurrencyLimit !== null) limit = (limit ?? 0) + row.concurrencyLimit;
    ejections = Math.max(ejections, row.ejections);
    if (row.reason !== null && (reason === null || row.reason.at > reason.at)) reason = row.reason;
  }
  return {
    breaker: best?.breaker ?? 'disabled',
    retryAfterMs: best?.retryAfterMs ?? 0,
    inFlight,
    concurrencyLimit: limit,
    ejections,
    reason: reason?.text ?? null,
  };
}
