/**
 * The entry point of a cluster worker process (forked by `workers/supervisor.ts`, never run by
 * hand): waits for the primary's start message, starts a proxy on its config with breakers
 * shared through `clusterSync()` and no admin listener or health checks (the primary's), tells
 * the primary it is serving, then follows the primary's messages. A worker whose primary is gone
 * finishes its requests and exits.
 */
import { clusterSync } from 'breakwater/cluster';
import { createLogger } from './logger.ts';
import { startProxy } from './proxy.ts';
import { isProxyMessage, type ToPrimary, type ToWorker } from './workers/messages.ts';
import { applyTargetStates } from './workers/target-states.ts';
import { attachWorkerAgent } from './workers/worker-agent.ts';

const send = (message: ToPrimary) => {
  if (process.connected) process.send?.(message);
};
const slot = process.env.BREAKWATER_WORKER_SLOT ?? '?';
// Ctrl-C reaches the whole process group; the primary decides how its workers stop.
process.on('SIGINT', () => {});

const onStart = (value: unknown) => {
  if (!isProxyMessage(value) || (value as ToWorker).type !== 'start') return;
  process.off('message', onStart);
  const { config, targets } = value as Extract<ToWorker, { type: 'start' }>;
  const logger = createLogger(config.log.level).child({ worker: Number(slot) });
  // With cluster.redis the workers share through Redis like any other instance (startProxy
  // connects); otherwise through the primary's hub. Made before the breakers attach.
  const sync =
    config.cluster.redis === undefined
      ? clusterSync({ instanceId: `worker-${slot}-${process.pid}` })
      : undefined;
  startProxy(config, {
    logger,
    ...(sync !== undefined ? { sync } : {}),
    prepare: (upstreams) => applyTargetStates(upstreams, targets),
    reusePort: config.cluster.accept === 'reuse-port',
  }).then(
    (proxy) => {
      const exit = (code: number) => logger.flush(() => process.exit(code));
      const agent = attachWorkerAgent(proxy, send, exit);
      process.on('message', agent);
      process.on('SIGTERM', () => agent({ bw: 'proxy', type: 'stop' }));
      process.on('disconnect', () => agent({ bw: 'proxy', type: 'stop' }));
      send({
        bw: 'proxy',
        type: 'ready',
        listen: proxy.proxyAddresses.map((address) =>
          address.family === 'IPv6'
            ? `[${address.address}]:${address.port}`
            : `${address.address}:${address.port}`,
        ),
      });
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'worker failed to start');
      logger.flush(() => process.exit(1));
    },
  );
};
process.on('message', onStart);
