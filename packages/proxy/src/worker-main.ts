/**
 * The entry point of a cluster worker process (forked by `workers/supervisor.ts`, never run by
 * hand): waits for the primary's start message, starts a proxy on its config with breakers
 * shared through `clusterSync()` and no admin listener or health checks (the primary's), tells
 * the primary it is serving, then follows the primary's messages. A worker whose primary is gone
 * finishes its requests and exits. A stop (the primary's message, SIGTERM, or the primary gone)
 * that comes before the proxy is up is kept: before the start message the worker exits at once,
 * as it has nothing to drain; while its proxy starts, it stops that proxy as soon as it is up,
 * without telling the primary it serves.
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
const STOP: ToWorker = { bw: 'proxy', type: 'stop' };

/**
 * Before the start message, or after it (the proxy starting, then serving). Serving is `agent`
 * being set: from then on every message is the agent's, so no phase of its own is needed.
 */
let phase: 'waiting' | 'starting' = 'waiting';
let stopAsked = false;
/** The serving proxy's message handler (worker-agent.ts). */
let agent: ((message: unknown) => void) | undefined;

const stop = () => {
  if (agent !== undefined) return agent(STOP);
  stopAsked = true;
  if (phase === 'waiting') process.exit(0);
};

const start = ({ config, targets }: Extract<ToWorker, { type: 'start' }>) => {
  phase = 'starting';
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
      agent = attachWorkerAgent(proxy, send, exit, logger);
      // Told to stop while starting: the primary is retiring this worker, so it never serves.
      if (stopAsked) return agent(STOP);
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

process.on('message', (value: unknown) => {
  if (!isProxyMessage(value)) return;
  const message = value as ToWorker;
  if (message.type === 'stop') return stop();
  if (agent !== undefined) return agent(message);
  // Anything else before the proxy is up is the primary's to repeat once this worker serves.
  if (message.type === 'start' && phase === 'waiting') start(message);
});
process.on('SIGTERM', stop);
process.on('disconnect', stop);
// Ctrl-C reaches the whole process group; the primary decides how its workers stop.
process.on('SIGINT', () => {});
