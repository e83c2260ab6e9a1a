/**
 * `GET /api/upstreams` for a cluster: the primary's view (configuration, active-check health,
 * drains) with what only the workers know laid over it: requests in flight (summed), breaker
 * state (shared through `clusterSync()`, so workers agree but for the moment a transition takes
 * to travel), eligibility and ejections, and the per-process learning of latency-aware balancers
 * and adaptive concurrency: each worker learns its own limit for a target, so the fleet's limit
 * is their sum; a peak-ewma balancer's latency is the slowest worker's belief, since the figure is
 * there to show a target going slow and any worker seeing it is the news. Each target also lists
 * its per-worker rows.
 */
import type { UpstreamsView } from '../admin/server.ts';
import { breakerStateRank } from '../upstream/breaker-state-rank.ts';

type UpstreamView = UpstreamsView['upstreams'][number];
type TargetView = UpstreamView['targets'][number];

/** One worker's answer, with its process id. */
export interface WorkerView {
  readonly pid: number;
  readonly view: UpstreamsView;
}

/** A target as one worker sees it. */
export interface WorkerTargetRow {
  readonly pid: number;
  readonly eligible: boolean;
  readonly activeRequests: number;
  readonly breaker: TargetView['breaker'];
  /** This worker's peak-ewma estimate (ms), when the balancer has one. */
  readonly latency?: number | null;
  /** This worker's adaptive concurrency limit and the requests holding it. */
  readonly concurrency?: { limit: number; inFlight: number };
}

/** The merged body: the single-process shape, plus `workers` on every target. */
export interface ClusterUpstreamsView {
  upstreams: (Omit<UpstreamView, 'targets'> & {
    targets: (TargetView & { workers: WorkerTargetRow[] })[];
  })[];
}

/**
 * Merges the primary's view with the workers' answers. A worker that did not answer is absent
 * from the rows; with no answer at all the primary's own view stands.
 *
 * @example
 * ```ts
 * mergeViews(upstreamsView(pools.values()), [{ pid: 4242, view }]);
 * ```
 */
export function mergeViews(
  primary: UpstreamsView,
  workers: readonly WorkerView[],
): ClusterUpstreamsView {
  return {
    upstreams: primary.upstreams.map((upstream) => ({
      ...upstream,
      ...upstreamCounts(
        upstream,
        workers.map(({ view }) => view.upstreams.find((each) => each.name === upstream.name)),
      ),
      targets: upstream.targets.map((target) => {
        const rows: WorkerTargetRow[] = [];
        let ejections = 0;
        for (const { pid, view } of workers) {
          const seen = view.upstreams
            .find((each) => each.name === upstream.name)
            ?.targets.find((each) => each.url === target.url);
          if (seen === undefined) continue;
          ejections = Math.max(ejections, seen.ejections);
          rows.push({
            pid,
            eligible: seen.eligible,
            activeRequests: seen.activeRequests,
            breaker: seen.breaker,
            ...(seen.latency === undefined ? {} : { latency: seen.latency }),
            ...(seen.concurrency === undefined ? {} : { concurrency: seen.concurrency }),
          });
        }
        if (rows.length === 0) return { ...target, workers: rows };
        let breaker = rows[0]!.breaker;
        for (const row of rows) {
          const rank = breakerStateRank(row.breaker.state);
          const best = breakerStateRank(breaker.state);
          if (rank > best || (rank === best && row.breaker.retryAfter < breaker.retryAfter)) {
            breaker = row.breaker;
          }
        }
        return {
          ...target,
          eligible: rows.some((row) => row.eligible),
          activeRequests: rows.reduce((sum, row) => sum + row.activeRequests, 0),
          breaker,
          ejections,
          ...learnt(target, rows),
          workers: rows,
        };
      }),
    })),
  };
}

/**
 * The latency-aware balancer's estimate and the adaptive concurrency limit, from the workers (the
 * primary forwards nothing, so its own are never more than their starting values): the slowest
 * estimate any worker holds, and the limits and their holders summed.
 */
function learnt(
  primary: TargetView,
  rows: readonly WorkerTargetRow[],
): Pick<TargetView, 'latency' | 'concurrency'> {
  const merged: Pick<TargetView, 'latency' | 'concurrency'> = {};
  if (primary.latency !== undefined) {
    let latency: number | null = null;
    for (const row of rows) {
      if (row.latency != null && (latency === null || row.latency > latency)) latency = row.latency;
    }
    merged.latency = latency;
  }
  if (primary.concurrency !== undefined) {
    const limited = rows.filter((row) => row.concurrency !== undefined);
    merged.concurrency =
      limited.length === 0
        ? primary.concurrency
        : {
            limit: limited.reduce((sum, row) => sum + row.concurrency!.limit, 0),
            inFlight: limited.reduce((sum, row) => sum + row.concurrency!.inFlight, 0),
          };
  }
  return merged;
}

/** Requests in flight, pending and retried, and overloads: each worker's own, summed. */
function upstreamCounts(
  primary: UpstreamView,
  seen: readonly (UpstreamView | undefined)[],
): Pick<UpstreamView, 'inFlight' | 'pending' | 'retriesInFlight' | 'overloads'> {
  const answered = seen.filter((view) => view !== undefined);
  if (answered.length === 0) return primary;
  const sum = (read: (view: UpstreamView) => number) =>
    answered.reduce((total, view) => total + read(view), 0);
  return {
    inFlight: sum((view) => view.inFlight),
    pending: sum((view) => view.pending),
    retriesInFlight: sum((view) => view.retriesInFlight),
    overloads: {
      maxRequests: sum((view) => view.overloads.maxRequests),
      maxPending: sum((view) => view.overloads.maxPending),
      maxRetries: sum((view) => view.overloads.maxRetries),
      adaptiveConcurrency: sum((view) => view.overloads.adaptiveConcurrency),
    },
  };
}
