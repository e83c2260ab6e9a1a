import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redisSync } from '@breakwater/redis';
import { BreakerRegistry, consecutiveFailures } from 'breakwater';
import { createClient } from 'redis';
import { cleanUp, REDIS_URL, uniquePrefix } from './support/redis.ts';

test('the README’s registry shared through Redis runs as written', async () => {
  const previous = process.env.REDIS_URL;
  process.env.REDIS_URL = REDIS_URL;
  const prefix = uniquePrefix();
  try {
    // README: redis-registry
    const client = createClient({ url: process.env.REDIS_URL });
    client.on('error', (error) => console.warn('redis:', error.message));
    await client.connect();
    const sync = redisSync({ client, prefix: 'checkout:breakers:' });
    const breakers = new BreakerRegistry({
      defaults: { policy: consecutiveFailures(5), openDuration: 30_000 },
      overrides: { search: { syncMode: 'outcomes' } },
      sync,
    });
    // README end
    // The same, under a prefix of this test's own, to check what it shares.
    const ownSync = redisSync({ client, prefix });
    const mine = new BreakerRegistry({
      defaults: { policy: consecutiveFailures(5) },
      overrides: { search: { syncMode: 'outcomes' } },
      sync: ownSync,
    });
    assert.deepEqual(
      ['payments', 'search'].map((name) => mine.get(name).snapshot().sync?.mode),
      ['transitions', 'outcomes'],
    );
    assert.equal(breakers.get('payments').state, 'closed');
    for (const [, breaker] of breakers.entries()) breaker.dispose();
    for (const [, breaker] of mine.entries()) breaker.dispose();
    await sync.close();
    await ownSync.close();
    await cleanUp(client, prefix);
    client.destroy();
  } finally {
    if (previous === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = previous;
  }
});
