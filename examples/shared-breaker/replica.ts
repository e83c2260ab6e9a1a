/**
 * One replica of a checkout service: an HTTP server whose `/checkout` calls a payments service
 * through a `payments` breaker shared with the other replicas through Redis. `/breaker` shows the
 * breaker's snapshot (state, and where it came from). Started by `index.ts`; prints its port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { redisSync } from '@breakwater/redis';
import { CircuitBreaker, CircuitOpenError, consecutiveFailures } from 'breakwater';
import { createClient } from 'redis';

const paymentsUrl = process.env.PAYMENTS_URL ?? 'http://127.0.0.1:9000';
const replica = process.env.REPLICA ?? 'replica';

const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
client.on('error', (error) => console.warn(`${replica}: redis: ${error.message}`));
await client.connect();
const sync = redisSync({ client, prefix: process.env.PREFIX ?? 'example:', instanceId: replica });

const payments = new CircuitBreaker({
  name: 'payments',
  policy: consecutiveFailures(5),
  openDuration: 2_000,
  sync,
  // Share outcomes too: five failures in a row across the replicas trip it, wherever they land.
  syncMode: 'outcomes',
});
payments.on('state', ({ from, to }) => {
  const source = payments.snapshot().sync?.source;
  console.log(
    `${replica}: payments ${from} → ${to}${source === 'local' ? '' : ` (from ${source})`}`,
  );
});

const server = createServer(async (request, response) => {
  if (request.url === '/breaker') {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(payments.snapshot()));
    return;
  }
  try {
    const receipt = await payments.execute(async ({ signal }) => {
      const answer = await fetch(`${paymentsUrl}/charge`, { method: 'POST', signal });
      if (!answer.ok) throw new Error(`payments answered ${answer.status}`);
      return answer.text();
    });
    response.end(receipt);
  } catch (error) {
    response.statusCode = error instanceof CircuitOpenError ? 503 : 502;
    response.end(error instanceof Error ? error.message : 'failed');
  }
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('disconnect', async () => {
  server.close();
  payments.dispose();
  await sync.close();
  client.destroy();
  process.exit(0);
});
