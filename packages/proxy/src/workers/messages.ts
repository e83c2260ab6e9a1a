/**
 * The messages between a cluster's primary and its workers, over node:cluster's IPC channel.
 * Every one carries `bw: 'proxy'` so they are told apart from `clusterSync()`'s and prom-client's
 * messages on the same channel. Targets are named by upstream and URL, never by position, so a
 * message stays right across a reload that reorders targets.
 */

import type { Registry } from 'prom-client';
import type { DashboardReport } from '../admin/dashboard-report.ts';
import type { ListenerView } from '../admin/listeners-view.ts';
import type { UpstreamsView } from '../admin/server.ts';
import type { ProxyConfig } from '../config/schema.ts';

/** What the primary knows of one target and every worker must apply. */
export interface TargetState {
  readonly upstream: string;
  readonly url: string;
  /** The primary's active health checks. */
  readonly healthy: boolean;
  /** The operator's drain, or a reload's. */
  readonly drained: boolean;
}

/** Primary → worker. */
export type ToWorker =
  | {
      readonly bw: 'proxy';
      readonly type: 'start';
      readonly config: ProxyConfig;
      readonly targets: readonly TargetState[];
    }
  | { readonly bw: 'proxy'; readonly type: 'targets'; readonly targets: readonly TargetState[] }
  | {
      readonly bw: 'proxy';
      readonly type: 'reload';
      readonly id: number;
      readonly config: ProxyConfig;
    }
  | { readonly bw: 'proxy'; readonly type: 'view'; readonly id: number }
  | { readonly bw: 'proxy'; readonly type: 'listeners'; readonly id: number }
  | { readonly bw: 'proxy'; readonly type: 'dashboard'; readonly id: number }
  | { readonly bw: 'proxy'; readonly type: 'metrics'; readonly id: number }
  | { readonly bw: 'proxy'; readonly type: 'stop' };

/** Worker → primary. */
export type ToPrimary =
  | { readonly bw: 'proxy'; readonly type: 'ready'; readonly listen: readonly string[] }
  | {
      readonly bw: 'proxy';
      readonly type: 'reloaded';
      readonly id: number;
      readonly ok: boolean;
      readonly error?: string;
    }
  | {
      readonly bw: 'proxy';
      readonly type: 'view';
      readonly id: number;
      readonly view: UpstreamsView;
    }
  | {
      readonly bw: 'proxy';
      readonly type: 'listeners';
      readonly id: number;
      readonly listeners: readonly ListenerView[];
    }
  | {
      readonly bw: 'proxy';
      readonly type: 'dashboard';
      readonly id: number;
      readonly report: DashboardReport;
    }
  | {
      readonly bw: 'proxy';
      readonly type: 'metrics';
      readonly id: number;
      /** The worker's registry as `getMetricsAsJSON()` gives it, for `AggregatorRegistry`. */
      readonly metrics: WorkerMetrics;
    };

/** One worker's metrics, as prom-client's `Registry.getMetricsAsJSON()` returns them. */
export type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Whether `value` is one of these messages (the rest of the channel is someone else's). */
export function isProxyMessage(
  value: unknown,
): value is { readonly bw: 'proxy'; readonly type: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { bw?: unknown }).bw === 'proxy' &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
