/**
 * `GET /api/listeners` for a cluster: the workers hold the listeners (node:cluster hands each one
 * the connections the primary accepts on the shared port), so the primary asks each for its view
 * and merges them. Every worker listens on the same addresses with the same certificates, so
 * those are read from one; connection and handshake counts are each worker's own and are summed,
 * and each listener lists its per-worker counts, which show how evenly connections spread.
 */
import type { ListenerView } from '../admin/listeners-view.ts';

/** One worker's listeners, with its process id. */
export interface WorkerListeners {
  readonly pid: number;
  readonly listeners: readonly ListenerView[];
}

/** A listener as one worker sees it. */
export interface WorkerListenerRow {
  readonly pid: number;
  readonly connections: ListenerView['connections'];
  readonly handshakeFailures?: number;
}

/** The merged listener: the single-process shape with counts summed, plus `workers`. */
export type ClusterListenerView = ListenerView & { readonly workers: WorkerListenerRow[] };

/**
 * Merges the workers' answers, listener by listener in config order. A worker that did not
 * answer is left out; with no answer at all there is nothing to show.
 *
 * @example
 * ```ts
 * sendJson(res, 200, { listeners: mergeListeners([{ pid: 4242, listeners }]) });
 * ```
 */
export function mergeListeners(workers: readonly WorkerListeners[]): ClusterListenerView[] {
  const first = workers[0];
  if (first === undefined) return [];
  return first.listeners.map((listener, index) => {
    const seen = workers
      .map(({ pid, listeners }) => ({ pid, view: listeners[index] }))
      .filter((row): row is { pid: number; view: ListenerView } => row.view !== undefined);
    const views = seen.map(({ view }) => view);
    const merged: ClusterListenerView = {
      ...listener,
      connections: {
        open: sumCounts(views.map((view) => view.connections.open)),
        accepted: sumCounts(views.map((view) => view.connections.accepted)),
      },
      workers: seen.map(({ pid, view }) => ({
        pid,
        connections: view.connections,
        ...(view.tls === undefined ? {} : { handshakeFailures: view.tls.handshakeFailures }),
      })),
    };
    const tls = listener.tls;
    if (tls === undefined) return merged;
    const tlsViews = views.flatMap((view) => (view.tls === undefined ? [] : [view.tls]));
    return {
      ...merged,
      tls: {
        ...tls,
        handshakes: sumCounts(tlsViews.map((view) => view.handshakes)),
        handshakeFailures: tlsViews.reduce((sum, view) => sum + view.handshakeFailures, 0),
        // A certificate reload that failed in any worker is news, though they load the same files.
        certificates: tls.certificates.map((certificate, at) => {
          const failed = tlsViews.find((view) => view.certificates[at]?.lastError !== undefined)
            ?.certificates[at]?.lastError;
          return failed === undefined ? certificate : { ...certificate, lastError: failed };
        }),
      },
    };
  });
}

function sumCounts(counts: readonly Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const each of counts) {
    for (const [key, value] of Object.entries(each)) total[key] = (total[key] ?? 0) + value;
  }
  return total;
}
