/**
 * `cluster: { redis: { url, prefix } }`: target breakers shared between proxy instances (and
 * between the workers of each) through Redis with `@breakwater/redis`. The proxy owns this
 * client. Startup never waits for Redis: while it is unreachable each process goes on alone,
 * and `redisSync` logs the outage once and catches up when Redis answers again.
 */
import { type RedisSync, redisSync } from '@breakwater/redis';
import { createClient } from 'redis';
import type { ProxyConfig } from '../config/schema.ts';
import type { Logger } from '../logger.ts';

/** A Redis-backed breaker transport and the client it runs on. */
export interface RedisBreakerSync {
  readonly sync: RedisSync;
  /** Closes the subscriber and the client. */
  close(): Promise<void>;
}

/**
 * Connects (in the background) to `settings.url` and shares breaker transitions under
 * `settings.prefix`.
 *
 * @example
 * ```ts
 * const shared = redisBreakerSync(config.cluster.redis, logger); // when cluster.redis is set
 * const pool = UpstreamPool.fromConfig('api', config.upstreams.api, { sync: shared.sync });
 * await shared.close();
 * ```
 */
export function redisBreakerSync(
  settings: NonNullable<ProxyConfig['cluster']['redis']>,
  logger: Logger,
): RedisBreakerSync {
  const client = createClient({
    url: settings.url,
    // Keep trying, at most every 2 s: the proxy serves alone meanwhile.
    socket: { reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
  });
  // Every failed reconnect is an 'error' event; redisSync reports the outage once (below).
  client.on('error', (error: unknown) => logger.debug({ err: error }, 'redis client error'));
  client.connect().catch((error: unknown) => {
    logger.debug({ err: error }, 'redis connect failed; retrying in the background');
  });
  const sync = redisSync({
    client,
    prefix: settings.prefix,
    log: (message, error) => logger.warn({ err: error }, `breaker sync: ${message}`),
  });
  return {
    sync,
    close: async () => {
      await sync.close();
      client.destroy();
    },
  };
}
