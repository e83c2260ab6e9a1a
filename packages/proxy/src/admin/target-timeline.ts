/**
 * A target's timeline entries as the dashboard words them: ejected (with the trip's reason),
 * on trial, readmitted, and health checks failing or passing. Made from the target's breaker and
 * health-checker events, off the request path. A cluster worker leaves out what it only took on
 * from another process through the shared breaker (`rule: 'shared'` opens, `closed by instance`
 * closes): the process whose traffic caused the transition reports it, once, with its reason.
 */
import { CircuitBreaker, type TripReason } from 'breakwater';
import type { Target } from '../upstream/target.ts';

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

/** Where a watched target's entries go. */
export interface TimelineWatch {
  /** Each entry as it happens. */
  readonly entry: (entry: Omit<TimelineEntry, 'at'>) => void;
  /** The ejection's reason in words, at each trip (before its entry). */
  readonly reason?: (text: string) => void;
  /** The health checker's verdict, at each change (before its entry). */
  readonly health?: (healthy: boolean) => void;
  /** Leave out transitions taken on from other processes (a cluster worker's report). */
  readonly ownOnly?: boolean;
}

/** A target's watch: `follow` after a reload may have changed it, `stop` to unsubscribe. */
export interface TimelineWatcher {
  /** Subscribes to the breaker and checker the target has now, if not already. */
  readonly follow: () => void;
  /** Unsubscribes from everything the watch subscribed to; nothing more is reported. */
  readonly stop: () => void;
}

/**
 * Subscribes to `target`'s breaker and health checker. A reload that keeps the target may give
 * it a new breaker (changed `outlierDetection`) or checker (changed `healthCheck`), so the
 * watcher calls `follow()` whenever it looks at the target again, and it subscribes to the ones
 * the target has now. `stop()` matters beyond silence: a breaker with an `open` listener times
 * every call for the trip reason, so a stopped watcher must not leave its listeners behind.
 *
 * @example
 * ```ts
 * const watcher = watchTimeline('api', target, { entry: (entry) => feed.note(entry) });
 * watcher.follow(); // at each later look at the target
 * watcher.stop(); // when the watcher is done
 * ```
 */
export function watchTimeline(
  upstream: string,
  target: Target,
  watch: TimelineWatch,
): TimelineWatcher {
  let breakerSeen: Target['breaker'] | undefined;
  let checkerSeen: Target['checker'] | undefined;
  let offBreaker: () => void = () => {};
  let offChecker: () => void = () => {};
  let stopped = false;
  const follow = () => {
    if (stopped) return;
    if (target.breaker !== breakerSeen) {
      breakerSeen = target.breaker;
      offBreaker();
      offBreaker = watchBreaker(upstream, target, watch);
    }
    if (target.checker !== checkerSeen) {
      checkerSeen = target.checker;
      offChecker();
      offChecker = watchChecker(upstream, target, watch);
    }
  };
  follow();
  return {
    follow,
    stop: () => {
      stopped = true;
      offBreaker();
      offChecker();
    },
  };
}

/** Subscribes to the target's breaker now; returns the unsubscribe. */
function watchBreaker(upstream: string, target: Target, watch: TimelineWatch): () => void {
  const breaker = target.breaker;
  const who = `${target.id} (${upstream})`;
  const base = { upstream, target: target.id } as const;
  if (!(breaker instanceof CircuitBreaker)) return () => {};
  const offs = [
    breaker.on('open', ({ attempt, openDuration, reason }) => {
      if (watch.ownOnly === true && reason.rule === 'shared') return;
      const text = describeEjection(reason, openDuration);
      watch.reason?.(text);
      watch.entry({
        ...base,
        kind: 'ejected',
        text: `${who} ejected${attempt > 0 ? ' again' : ''}: ${text}`,
      });
    }),
    breaker.on('half-open', () => {
      watch.entry({ ...base, kind: 'trial', text: `${who} on trial` });
    }),
    breaker.on('close', ({ reason }) => {
      if (watch.ownOnly === true && reason.startsWith('closed by instance')) return;
      watch.entry({ ...base, kind: 'recovered', text: `${who} readmitted: ${reason}` });
    }),
  ];
  return () => {
    for (const off of offs) off();
  };
}

/** Subscribes to the target's health checker now; returns the unsubscribe. */
function watchChecker(upstream: string, target: Target, watch: TimelineWatch): () => void {
  const who = `${target.id} (${upstream})`;
  const base = { upstream, target: target.id } as const;
  const off = target.checker?.on('change', ({ healthy, check }) => {
    watch.health?.(healthy);
    const detail = check.error ?? (check.status === undefined ? '' : `status ${check.status}`);
    watch.entry({
      ...base,
      kind: healthy ? 'health-up' : 'health-down',
      text: `${who} ${healthy ? 'passes' : 'fails'} its health checks${detail ? `: ${detail}` : ''}`,
    });
  });
  return off ?? (() => {});
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
