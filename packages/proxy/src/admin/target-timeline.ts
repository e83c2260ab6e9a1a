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

/**
 * Subscribes to `target`'s breaker and health checker, and returns `follow`: a reload that keeps
 * the target may give it a new breaker (changed `outlierDetection`) or checker (changed
 * `healthCheck`), so the watcher calls `follow()` whenever it looks at the target again, and it
 * subscribes to the ones the target has now.
 *
 * @example
 * ```ts
 * const follow = watchTimeline('api', target, { entry: (entry) => feed.note(entry) });
 * follow(); // at each later look at the target
 * ```
 */
export function watchTimeline(upstream: string, target: Target, watch: TimelineWatch): () => void {
  let breakerSeen: Target['breaker'] | undefined;
  let checkerSeen: Target['checker'] | undefined;
  const follow = () => {
    if (target.breaker !== breakerSeen) {
      breakerSeen = target.breaker;
      watchBreaker(upstream, target, watch);
    }
    if (target.checker !== checkerSeen) {
      checkerSeen = target.checker;
      watchChecker(upstream, target, watch);
    }
  };
  follow();
  return follow;
}

function watchBreaker(upstream: string, target: Target, watch: TimelineWatch): void {
  const breaker = target.breaker;
  const who = `${target.id} (${upstream})`;
  const base = { upstream, target: target.id } as const;
  if (breaker instanceof CircuitBreaker) {
    breaker.on('open', ({ attempt, openDuration, reason }) => {
      if (watch.ownOnly === true && reason.rule === 'shared') return;
      const text = describeEjection(reason, openDuration);
      watch.reason?.(text);
      watch.entry({
        ...base,
        kind: 'ejected',
        text: `${who} ejected${attempt > 0 ? ' again' : ''}: ${text}`,
      });
    });
    breaker.on('half-open', () => {
      watch.entry({ ...base, kind: 'trial', text: `${who} on trial` });
    });
    breaker.on('close', ({ reason }) => {
      if (watch.ownOnly === true && reason.startsWith('closed by instance')) return;
      watch.entry({ ...base, kind: 'recovered', text: `${who} readmitted: ${reason}` });
    });
  }
}

function watchChecker(upstream: string, target: Target, watch: TimelineWatch): void {
  const who = `${target.id} (${upstream})`;
  const base = { upstream, target: target.id } as const;
  target.checker?.on('change', ({ healthy, check }) => {
    watch.health?.(healthy);
    const detail = check.error ?? (check.status === undefined ? '' : `status ${check.status}`);
    watch.entry({
      ...base,
      kind: healthy ? 'health-up' : 'health-down',
      text: `${who} ${healthy ? 'passes' : 'fails'} its health checks${detail ? `: ${detail}` : ''}`,
    });
  });
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
