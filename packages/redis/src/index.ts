/**
 * `@breakwater/redis`: breaker state shared between processes and machines through Redis.
 *
 * @module @breakwater/redis
 */
export {
  type RedisScripting,
  type RedisSubscriber,
  type RedisSync,
  type RedisSyncClient,
  type RedisSyncOptions,
  redisSync,
} from './redis-sync.ts';
