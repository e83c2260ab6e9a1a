/**
 * The dashboard's live feed behind `GET /api/events`: once a second it samples every target's
 * traffic and sends each connected page the whole view (small: one row per target); when a
 * target is ejected, readmitted, changes health or is drained, or the config is reloaded, it
 * adds a timeline entry and sends it and a fresh view at once. Breakers and health checkers are
 * watched through their events; each attempt only adds to its target's {@link TargetTraffic}
 * through the forwarder's attempt listener.
 */
import type { ServerResponse } from 'node:http';
import { CircuitBreaker, type TripReason } from 'breakwater';
import type { Logger } from '../logger.ts';
import type { ReloadResult } from '../reload/reload.ts';
import type { AttemptListener } from '../request/host.ts';
import type { AttemptOutcome } from '../upstream/attempt-result.ts';
import type { Target } from '../upstream/target.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { TargetSampler } from './target-sampler.ts';
import { TargetTraffic } from './target-traffic.ts';

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
}

/** What `event: view` carries. */
export interface DashboardView {
  /** The first view after connecting, with each target's history. */
  readonly full: boolean;
  readonly reloadable: boolean;
  readonly upstreams: readonly { readonly name: string; readonly targets: TargetView[] }[];
}

/** What `event: timeline` carries. */
export interface TimelineEntry {
  /** Wall-clock time, ms since the epoch. */
  readonly at: number;
  readonly kind:
    | 'ejected'
    | 'trial'
    | 'recovered'
    | 'health-down'
    | 'health-up'
    | 'drained'
    | 'enabled'
    | 'reload';
  readonly upstream: string | null;
  readonly target: string | null;
  /** The entry in words, reason included. */
  readonly text: string;
}

/** What the feed needs from the running proxy. */
export interface DashboardFeedContext {
  readonly pools: () => Iterable<UpstreamPool>;
  /** Subscribes to every attempt's end (the forwarder's `onAttempt`); returns the unsubscribe. */
  readonly onAttempt: (listener: AttemptListener) => () => void;
  readonly reloadable: boolean;
  readonly logger: Logger;
}

/** Timeline entries kept for pages that connect later. */
const TIMELINE_KEPT = 100;
/** A page that stops reading is cut off once this much is queued for it. */
const MAX_QUEUED_BYTES = 1 << 20;

interface Watched {
  readonly traffic: TargetTraffic;
  readonly sampler: TargetSampler;
  reason: string | null;
  healthy: boolean;
  drained: boolean;
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

  constructor(context: DashboardFeedContext) {
    this.#context = context;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#offAttempts = this.#context.onAttempt((pool, target, outcome, status, durationMs) => {
      this.#watch(pool.name, target).traffic.record(durationMs, failed(outcome, status));
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
    const full: TimelineEntry = { at: Date.now(), ...entry };
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
    if (existing !== undefined) return existing;
    const watched: Watched = {
      traffic: new TargetTraffic(),
      sampler: new TargetSampler(),
      reason: null,
      healthy: target.healthy,
      drained: target.drained,
    };
    this.#watched.set(target, watched);
    const breaker = target.breaker;
    if (breaker instanceof CircuitBreaker) {
      const who = `${target.id} (${upstream})`;
      breaker.on('open', ({ attempt, openDuration, reason }) => {
        watched.reason = describeEjection(reason, openDuration);
        this.note({
          kind: 'ejected',
          upstream,
          target: target.id,
          text: `${who} ejected${attempt > 0 ? ' again' : ''}: ${watched.reason}`,
        });
      });
      breaker.on('half-open', () => {
        this.note({ kind: 'trial', upstream, target: target.id, text: `${who} on trial` });
      });
      breaker.on('close', ({ reason }) => {
        this.note({
          kind: 'recovered',
          upstream,
          target: target.id,
          text: `${who} readmitted: ${reason}`,
        });
      });
    }
    target.checker?.on('change', ({ healthy, check }) => {
      watched.healthy = healthy;
      const detail = check.error ?? (check.status === undefined ? '' : `status ${check.status}`);
      this.note({
        kind: healthy ? 'health-up' : 'health-down',
        upstream,
        target: target.id,
        text: `${target.id} (${upstream}) ${healthy ? 'passes' : 'fails'} its health checks${detail ? `: ${detail}` : ''}`,
      });
    });
    return watched;
  }

  #view(full: boolean): DashboardView {
    const upstreams: DashboardView['upstreams'][number][] = [];
    for (const pool of this.#context.pools()) {
      const targets = pool.targets.map((target, index): TargetView => {
        const watched = this.#watch(pool.name, target);
        const reading = watched.sampler.last;
        const state = displayState(target);
        return {
          index,
          url: target.id,
          state,
          drained: target.drained,
          rps: round(reading.rps),
          errorPercent: round(reading.errorPercent),
          p50Ms: reading.p50Ms === null ? null : round(reading.p50Ms),
          p99Ms: reading.p99Ms === null ? null : round(reading.p99Ms),
          inFlight: target.activeRequests,
          concurrencyLimit: target.limiter?.limit ?? null,
          ejections: target.ejections,
          retryAfterMs: state === 'ejected' ? Math.ceil(target.breaker?.retryAfter ?? 0) : 0,
          reason: watched.reason,
          ...(full ? { history: watched.sampler.history.map(round) } : {}),
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
 * Whether an attempt counts as an error on the dashboard: no response (connect error, timeout,
 * reset) or a 5xx. A client's own abort and the proxy's refusal to send are not the target's.
 */
function failed(outcome: AttemptOutcome, status: number): boolean {
  if (outcome === 'response') return status >= 500;
  return outcome === 'connect-error' || outcome === 'timeout' || outcome === 'reset';
}

/** The dashboard's word for a target's state. */
export function displayState(target: Target): TargetDisplayState {
  if (target.drained) return 'drained';
  if (!target.healthy) return 'down';
  const state = target.breaker?.state;
  if (state === 'open' || state === 'forced-open') return 'ejected';
  if (state === 'half-open') return 'half-open';
  return 'closed';
}

/**
 * The trip reason in words for the page: the rule with its numbers, the last failure when it has
 * a name, and how long the target stays out.
 */
function describeEjection(reason: TripReason, openDuration: number): string {
  const last = reason.recentFailures.at(-1);
  // A failure settled through a permit without an error says nothing more than the rule.
  const lastFailure =
    last === undefined || last.error === 'undefined'
      ? ''
      : ` (last: ${last.error}${last.message === '' ? '' : `, ${last.message}`})`;
  const wait = Number.isFinite(openDuration)
    ? `out for ${formatSeconds(openDuration)}`
    : 'out until enabled';
  return `${reason.text}${lastFailure}; ${wait}`;
}

function formatSeconds(ms: number): string {
  return ms >= 1_000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}
