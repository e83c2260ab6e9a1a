/**
 * A worker's side of the cluster protocol: applies the primary's target states (health, drains),
 * applies reloads the primary validated, answers its requests for this worker's view, listeners
 * and dashboard report, and stops gracefully when told to (rolling restart, shutdown).
 */

import type { Registry } from 'prom-client';
import { DashboardReporter } from '../admin/dashboard-report.ts';
import { listenersView } from '../admin/listeners-view.ts';
import type { UpstreamsView } from '../admin/server.ts';
import { upstreamsView } from '../admin/server.ts';
import type { ProxyConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { ReloadResult } from '../reload/reload.ts';
import type { AttemptListener } from '../request/host.ts';
import type { Listener } from '../request/listeners.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import { isProxyMessage, type ToPrimary, type ToWorker } from './messages.ts';
import { applyTargetStates } from './target-states.ts';

/** What the agent needs of the worker's running proxy. */
export interface WorkerProxy {
  readonly upstreams: ReadonlyMap<string, UpstreamPool>;
  readonly listeners: readonly Listener[];
  readonly forwarder: { onAttempt(listener: AttemptListener): () => void };
  readonly metrics: { readonly registry: Pick<Registry, 'getMetricsAsJSON'> };
  reload(config: ProxyConfig): Promise<ReloadResult>;
  stopAccepting(): void;
  close(): Promise<void>;
}

/**
 * How long a stopping worker keeps its open connections before closing the idle ones: enough for
 * a connection the primary handed over just before the listener closed to send its request.
 */
const HANDOFF_GRACE_MS = 250;

/**
 * Handles the primary's messages for `proxy` until the process exits. `send` is the IPC channel
 * (`process.send`); `exit` ends the process once a stop has finished.
 *
 * @example
 * ```ts
 * attachWorkerAgent(proxy, (message) => process.send?.(message), (code) => process.exit(code), logger);
 * ```
 */
export function attachWorkerAgent(
  proxy: WorkerProxy,
  send: (message: ToPrimary) => void,
  exit: (code: number) => void,
  logger: Pick<Logger, 'error'>,
): (message: unknown) => void {
  let stopping = false;
  // Counting for the dashboard starts when a primary with an admin listener first asks.
  let reporter: DashboardReporter | undefined;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Its listeners (the forwarder's attempts, each breaker and checker) would count the drain
    // and report ejections this worker no longer answers for.
    reporter?.stop();
    proxy.stopAccepting();
    new Promise((resolve) => setTimeout(resolve, HANDOFF_GRACE_MS))
      .then(() => proxy.close())
      .then(
        () => exit(0),
        () => exit(1),
      );
  };
  return (value: unknown) => {
    if (!isProxyMessage(value)) return;
    const message = value as ToWorker;
    switch (message.type) {
      case 'targets':
        applyTargetStates(proxy.upstreams, message.targets);
        return;
      case 'view': {
        const view: UpstreamsView = upstreamsView(proxy.upstreams.values());
        send({ bw: 'proxy', type: 'view', id: message.id, view });
        return;
      }
      case 'listeners':
        send({
          bw: 'proxy',
          type: 'listeners',
          id: message.id,
          listeners: listenersView(proxy.listeners, Date.now()),
        });
        return;
      case 'dashboard':
        reporter ??= new DashboardReporter({
          pools: () => proxy.upstreams.values(),
          onAttempt: (listener) => proxy.forwarder.onAttempt(listener),
        });
        // The primary may ask a stopping worker until it exits: it answers, counting no more.
        if (stopping) reporter.stop();
        send({ bw: 'proxy', type: 'dashboard', id: message.id, report: reporter.report() });
        return;
      case 'metrics':
        proxy.metrics.registry.getMetricsAsJSON().then(
          (metrics) => send({ bw: 'proxy', type: 'metrics', id: message.id, metrics }),
          // Unanswered, the primary's question times out and the scrape fails: logged here,
          // instead of an unhandled rejection ending the worker.
          (error: unknown) => logger.error({ err: error }, 'collecting metrics failed'),
        );
        return;
      case 'reload':
        proxy.reload(message.config).then((result) => {
          send(
            result.status === 'rejected'
              ? {
                  bw: 'proxy',
                  type: 'reloaded',
                  id: message.id,
                  ok: false,
                  error: result.error.message,
                }
              : { bw: 'proxy', type: 'reloaded', id: message.id, ok: true },
          );
        });
        return;
      case 'stop':
        stop();
        return;
      default:
        return;
    }
  };
}
