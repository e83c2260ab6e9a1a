/**
 * The dashboard's live feed behind `GET /api/events`: once a second it samples every target's
 * traffic and sends each connected page the whole view (small: one row per target); when a
 * target is ejected, readmitted, changes health or is drained, or the config is reloaded, it
 * adds a timeline entry and sends it and a fresh view at once. Breakers and health checkers are
 * watched through their events; each attempt only adds to its target's {@link TargetTraffic}
 * through the forwarder's attempt listener. In a cluster the primary's feed forwards nothing: at
 * each tick it asks the workers for their reports (`dashboard-report.ts`), adds each worker's
 * increase in traffic counts to its own, shows what the workers know of each target merged, and
 * puts their timeline entries on its own; health checks, drains and reloads are the primary's.
 */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import type { ReloadResult } from '../reload/reload.ts';
import type { AttemptListener } from '../request/host.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import {
  type MergedTargetFacts,
  mergeTargetFacts,
  type TargetReport,
  type WorkerReport,
} from './dashboard-report.ts';
import { failedAttempt } from './failed-attempt.ts';
import { TargetSampler } from './target-sampler.ts';
import { type TimelineEntry, watchTimeline } from './target-timeline.ts';
import { TargetTraffic } from './target-traffic.ts';

export type { TimelineEntry } from './target-timeline.ts';

/**
 * A target's state as the dashboard words it: drained and down (health checks) win over what
 * outlier detection says, since either keeps traffic away whatever the breaker's state.
 */
export type TargetDisplayState = 'closed' | 'half-open' | 'ejected' | 'down' | 'drained';

/** One target's row in a view. */
export interface TargetView {
  readonly index: number;
  readonly url: string;
  readonly state: TargetDisplayState;
  readonly drained: boolean;
  readonly rps: number;
  readonly errorPercent: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly inFlight: number;
  /** The target's adaptive concurrency limit now; null without `adaptiveConcurrency`. */
  readonly concurrencyLimit: number | null;
  readonly ejections: number;
  /** Until the next trial, in ms; 0 when not ejected. */
  readonly retryAfterMs: number;
  /** The last ejection's reason in words; null before the first. */
  readonly reason: string | null;
  /** Attempts per second, oldest first; only in the first view after connecting. */
  readonly history?: readonly number[];
  /** Cluster mode: each worker's share, in process order. */
  readonly workers?: readonly WorkerTargetView[];
}

/** One worker's part of a target's row (cluster mode). */
export interface WorkerTargetView {
  readonly pid: number;
  /** The worker's breaker state (`disabled` without outlier detection). */
  readonly breaker: string;
  readonly inFlight: number;
  /** Attempts per second since the previous report. */
  readonly rps: number;
}

/** What `event: view` carries. */
export interface DashboardView {
  /** The first view after connecting, with each target's history. */
  readonly full: boolean;
  readonly reloadable: boolean;
  readonly upstreams: readonly { readonly name: string; readonly targets: TargetView[] }[];
}

/** What the feed needs from the running proxy. */
export interface DashboardFeedContext {
  readonly pools: () => Iterable<UpstreamPool>;
  /**
   * Subscribes to every attempt's end (the forwarder's `onAttempt`); returns the unsubscribe.
   * Absent in a cluster's primary, which forwards nothing.
   */
  readonly onAttempt?: (listener: AttemptListener) => () => void;
  /**
   * Cluster mode: asks every worker for its report (a worker that does not answer in time is
   * left out of that tick). Absent in a single process.
   */
  readonly workers?: () => Promise<readonly WorkerReport[]>;
  readonly reloadable: boolean;
  readonly logger: Logger;
}

/** Timeline entries kept for pages that connect later. */
const TIMELINE_KEPT = 100;
/** A page that stops reading is cut off once this much is queued for it. */
const MAX_QUEUED_BYTES = 1 << 20;

/** A worker whose reports stop coming is forgotten after this many ticks. */
const FORGET_WORKER_TICKS = 30;

interface Watched {
  readonly traffic: TargetTraffic;
  readonly sampler: TargetSampler;
  reason: string | null;
  drained: boolean;
  /** Cluster mode: the workers' merged facts at the last tick, and each worker's part. */
  cluster?: { readonly facts: MergedTargetFacts; readonly workers: WorkerTargetView[] };
  /** Cluster mode: each worker's counts at its last report, to add only the increase. */
  readonly counted: Map<number, CountedTraffic>;
  /** Subscribes to a breaker or checker a reload gave the target since the last look. */
  follow: () => void;
}

interface CountedTraffic {
  readonly attempts: number;
  readonly failures: number;
  readonly latency: readonly number[];
  readonly at: number;
  readonly tick: number;
}

/**
 * The live feed. `start()` begins sampling (the sparklines cover the time before a page opens);
 * `stop()` ends it and every stream.
 *
 * @example
 * ```ts
 * const feed = new DashboardFeed({ pools: () => upstreams.values(), reloadable: true, logger });
 * feed.start();
 * feed.stream(res); // GET /api/events
 * ```
 */
export class DashboardFeed {
  readonly #context: DashboardFeedContext;
  readonly #watched = new WeakMap<Target, Watched>();
  readonly #clients = new Set<ServerResponse>();
  readonly #timeline: TimelineEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #offAttempts: (() => void) | undefined;
  /** Cluster mode: a tick waiting for the workers' reports; the next one does not start. */
  #collecting = false;
  #ticks = 0;

  constructor(context: DashboardFeedContext) {
    this.#context = context;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#offAttempts = this.#context.onAttempt?.((pool, target, outcome, status, durationMs) => {
      this.#watch(pool.name, target).traffic.record(durationMs, failedAttempt(outcome, status));
    });
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), 1_000);
    // The feed never keeps a proxy's process alive by itself.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#offAttempts?.();
    this.#offAttempts = undefined;
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }

  /** Answers `GET /api/events`: the stream stays open until the page or the proxy closes it. */
  stream(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Tells a buffering reverse proxy in front of the admin port (nginx) to pass events on.
      'x-accel-buffering': 'no',
    });
    this.#clients.add(res);
    res.on('close', () => this.#clients.delete(res));
    for (const entry of this.#timeline) send(res, 'timeline', entry);
    send(res, 'view', this.#view(true));
  }

  /** Adds an entry made outside the feed's own watching (a reload, a drain by the admin API). */
  note(entry: Omit<TimelineEntry, 'at'>): void {
    this.#noteAt({ at: Date.now(), ...entry });
  }

  #noteAt(full: TimelineEntry): void {
    this.#timeline.push(full);
    if (this.#timeline.length > TIMELINE_KEPT) this.#timeline.shift();
    if (this.#clients.size === 0) return;
    this.#broadcast('timeline', full);
    this.#broadcast('view', this.#view(false));
  }

  /** Looks for drains at once (an operator's, through the admin API) instead of at the tick. */
  refresh(): void {
    if (this.#noteDrains() === 0 && this.#clients.size > 0)
      this.#broadcast('view', this.#view(false));
  }

  #tick(): void {
    const workers = this.#context.workers;
    if (workers === undefined) {
      this.#sample();
      return;
    }
    if (this.#collecting) return;
    this.#collecting = true;
    workers()
      .then(
        (reports) => {
          if (this.#timer !== undefined) this.#absorb(reports);
        },
        (error: unknown) =>
          this.#context.logger.warn({ err: error }, "collecting the workers' dashboard failed"),
      )
      .finally(() => {
        this.#collecting = false;
        if (this.#timer !== undefined) this.#sample();
      });
  }

  /**
   * Takes in the workers' reports: each worker's increase in traffic counts since its previous
   * report (none from a worker not counted yet, all of it from one whose counts went back, i.e. a
   * rebuilt target), their merged facts, and their timeline entries.
   */
  #absorb(reports: readonly WorkerReport[]): void {
    const tick = ++this.#ticks;
    const now = performance.now();
    const rows = new Map<string, { pid: number; row: TargetReport }[]>();
    for (const { pid, report } of reports) {
      for (const row of report.targets) {
        const key = `${row.upstream}\n${row.url}`;
        const list = rows.get(key);
        if (list === undefined) rows.set(key, [{ pid, row }]);
        else list.push({ pid, row });
      }
    }
    for (const pool of this.#context.pools()) {
      for (const target of pool.targets) {
        const watched = this.#watch(pool.name, target);
        const seen = rows.get(`${pool.name}\n${target.id}`) ?? [];
        // No worker answered in time (a busy machine): the last tick's facts stand.
        if (seen.length === 0 && watched.cluster !== undefined) continue;
        const workers: WorkerTargetView[] = [];
        for (const { pid, row } of seen) {
          const before = watched.counted.get(pid);
          if (before === undefined) {
            // The report a worker's next increase is measured from, nothing to add: a new
            // worker's reporter starts counting at the primary's first question, so its first
            // counts are none, while one forgotten after missing reports would bring its lifetime
            // counts, already shown, a second time in one tick.
            workers.push({ pid, breaker: row.breaker, inFlight: row.inFlight, rps: 0 });
          } else {
            // Counts that went back belong to a rebuilt target: all of them are new.
            const fresh = row.attempts < before.attempts;
            const attempts = fresh ? row.attempts : row.attempts - before.attempts;
            const latency = fresh
              ? row.latency
              : row.latency.map((count, i) => count - (before.latency[i] ?? 0));
            watched.traffic.add(
              attempts,
              fresh ? row.failures : row.failures - before.failures,
              latency,
            );
            const seconds = (now - before.at) / 1000;
            workers.push({
              pid,
              breaker: row.breaker,
              inFlight: row.inFlight,
              rps: seconds > 0 && !fresh ? round(attempts / seconds) : 0,
            });
          }
          watched.counted.set(pid, {
            attempts: row.attempts,
            failures: row.failures,
            latency: row.latency,
            at: now,
            tick,
          });
        }
        for (const [pid, counted] of watched.counted) {
          if (tick - counted.tick > FORGET_WORKER_TICKS) watched.counted.delete(pid);
        }
        const facts = mergeTargetFacts(seen.map(({ row }) => row));
        if (facts.reason !== null) watched.reason = facts.reason;
        watched.cluster = { facts, workers };
      }
    }
    const entries = reports.flatMap(({ report }) => report.timeline).sort((a, b) => a.at - b.at);
    for (const entry of entries) if (!this.#repeats(entry)) this.#noteAt(entry);
  }

  /**
   * Whether a worker's entry only repeats another worker's: with outcomes shared, several workers
   * may trip on the same failures, and each may say the target went on trial or came back. A
   * target's breaker goes ejected, trial, then readmitted or ejected again, so the same kind
   * twice in a row for one target is one event told twice.
   */
  #repeats(entry: TimelineEntry): boolean {
    if (entry.kind !== 'ejected' && entry.kind !== 'trial' && entry.kind !== 'recovered') {
      return false;
    }
    const last = this.#timeline.findLast(
      (each) =>
        each.target === entry.target &&
        each.upstream === entry.upstream &&
        (each.kind === 'ejected' || each.kind === 'trial' || each.kind === 'recovered'),
    );
    return last?.kind === entry.kind;
  }

  /** Samples every target's counts and sends the view. */
  #sample(): void {
    const now = performance.now();
    for (const pool of this.#context.pools()) {
      for (const target of pool.targets) {
        const { sampler, traffic } = this.#watch(pool.name, target);
        sampler.sample(traffic, now);
      }
    }
    this.#noteDrains();
    if (this.#clients.size > 0) this.#broadcast('view', this.#view(false));
  }

  /**
   * Adds a timeline entry for each target drained or enabled since the last look (by the admin
   * API, or by a reload removing it); returns how many.
   */
  #noteDrains(): number {
    let changed = 0;
    for (const pool of this.#context.pools()) {
      for (const target of pool.targets) {
        const watched = this.#watch(pool.name, target);
        if (watched.drained === target.drained) continue;
        watched.drained = target.drained;
        changed++;
        this.note({
          kind: target.drained ? 'drained' : 'enabled',
          upstream: pool.name,
          target: target.id,
          text: `${target.id} (${pool.name}) ${target.drained ? 'drained: takes no new requests' : 'enabled again'}`,
        });
      }
    }
    return changed;
  }

  /** Starts watching a target the first time the feed sees it. */
  #watch(upstream: string, target: Target): Watched {
    const existing = this.#watched.get(target);
    if (existing !== undefined) {
      existing.follow();
      return existing;
    }
    const watched: Watched = {
      traffic: new TargetTraffic(),
      sampler: new TargetSampler(),
      reason: null,
      drained: target.drained,
      counted: new Map(),
      follow: () => {},
    };
    this.#watched.set(target, watched);
    // In a cluster the primary's breakers see no traffic: ejections come in the workers' reports.
    watched.follow = watchTimeline(upstream, target, {
      reason: (text) => {
        watched.reason = text;
      },
      entry: (entry) => this.note(entry),
    }).follow;
    return watched;
  }

  #view(full: boolean): DashboardView {
    const upstreams: DashboardView['upstreams'][number][] = [];
    for (const pool of this.#context.pools()) {
      const targets = pool.targets.map((target, index): TargetView => {
        const watched = this.#watch(pool.name, target);
        const reading = watched.sampler.last;
        const cluster = watched.cluster;
        const state =
          cluster === undefined
            ? displayState(target)
            : displayState(target, cluster.facts.breaker);
        return {
          index,
          url: target.id,
          state,
          drained: target.drained,
          rps: round(reading.rps),
          errorPercent: round(reading.errorPercent),
          p50Ms: reading.p50Ms === null ? null : round(reading.p50Ms),
          p99Ms: reading.p99Ms === null ? null : round(reading.p99Ms),
          inFlight: cluster?.facts.inFlight ?? target.activeRequests,
          concurrencyLimit:
            cluster === undefined
              ? (target.limiter?.limit ?? null)
              : cluster.facts.concurrencyLimit,
          ejections: cluster?.facts.ejections ?? target.ejections,
          retryAfterMs:
            state !== 'ejected'
              ? 0
              : (cluster?.facts.retryAfterMs ?? Math.ceil(target.breaker?.retryAfter ?? 0)),
          reason: watched.reason,
          ...(full ? { history: watched.sampler.history.map(round) } : {}),
          ...(cluster === undefined ? {} : { workers: cluster.workers }),
        };
      });
      upstreams.push({ name: pool.name, targets });
    }
    return { full, reloadable: this.#context.reloadable, upstreams };
  }

  #broadcast(event: string, data: unknown): void {
    for (const client of this.#clients) {
      if (client.writableLength > MAX_QUEUED_BYTES) {
        this.#context.logger.warn('dashboard stream dropped: the page stopped reading');
        client.destroy();
        this.#clients.delete(client);
        continue;
      }
      send(client, event, data);
    }
  }
}

/**
 * A reload as a timeline entry: what changed, or why it was refused.
 *
 * @example
 * ```ts
 * feed.note(describeReload(await reloader.reloadFile()));
 * ```
 */
export function describeReload(result: ReloadResult): Omit<TimelineEntry, 'at'> {
  if (result.status === 'rejected') {
    return {
      kind: 'reload',
      upstream: null,
      target: null,
      text: `Reload refused (${result.error.code}): ${result.error.message}; the running config stays`,
    };
  }
  const changes = result.upstreams.map(({ name, change, targets }) => {
    const counts = [
      targets.added.length > 0 ? `${targets.added.length} target(s) added` : '',
      targets.removed.length > 0 ? `${targets.removed.length} removed` : '',
    ].filter((part) => part !== '');
    return `${name} ${change}${counts.length > 0 ? ` (${counts.join(', ')})` : ''}`;
  });
  if (result.routesChanged) changes.push('routes changed');
  changes.push(...result.liveChanges);
  const text =
    result.status === 'unchanged' || changes.length === 0
      ? 'Config reloaded: nothing changed'
      : `Config reloaded: ${changes.join('; ')}`;
  return { kind: 'reload', upstream: null, target: null, text };
}

/**
 * The dashboard's word for a target's state; `breaker` is the workers' merged breaker state in a
 * cluster's primary, whose own breakers see no traffic.
 */
export function displayState(
  target: Target,
  breaker: string | undefined = target.breaker?.state,
): TargetDisplayState {
  if (target.drained) return 'drained';
  if (!target.healthy) return 'down';
  const state = breaker;
  if (state === 'open' || state === 'forced-open') return 'ejected';
  if (state === 'half-open') return 'half-open';
  return 'closed';
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
