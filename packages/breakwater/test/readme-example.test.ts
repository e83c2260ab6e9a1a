/**
 * Runs the README's composition example against a real HTTP server. The block between the markers
 * (`README: pipeline` … `README end`) is the README snippet, verbatim: change both together.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

// README: pipeline
import {
  CircuitBreaker,
  consecutiveFailures,
  exponential,
  fallback,
  pipeline,
  RetryBudget,
  retry,
  timeout,
} from 'breakwater';

const inventory = pipeline(
  // Outermost: once everything below gave up, answer with a stale, empty list.
  fallback(() => ({ items: [] as string[], stale: true })),
  // Up to 3 attempts, 100 ms then 200 ms apart; retries add at most 20 % to the traffic.
  retry({
    maxAttempts: 3,
    backoff: exponential({ initial: 100 }),
    budget: new RetryBudget({ ratio: 0.2 }),
  }),
  // After 5 failures in a row, stop calling for 10 s. Retry never retries its CircuitOpenError.
  new CircuitBreaker({ name: 'inventory', policy: consecutiveFailures(5), openDuration: 10_000 }),
  // Each attempt gets 2 s; the timeout aborts its fetch through the signal.
  timeout(2_000),
);

export function getStock(url: string) {
  return inventory.execute(async ({ signal }) => {
    const response = await fetch(url, { signal });
    if (!response.ok) throw new Error(`inventory answered ${response.status}`);
    return (await response.json()) as { items: string[]; stale?: boolean };
  });
}
// README end

/** Status codes the server answers with, in order; 200 once they run out. */
let script: number[] = [];
let requests = 0;
const server = createServer((request, response) => {
  requests++;
  const status = script.shift() ?? 200;
  response.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  response.end(status === 200 ? JSON.stringify({ items: ['anchor', 'rope'] }) : '{}');
  request.resume();
});
let url = '';

before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stock`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('answers with the inventory when it is healthy', async () => {
  script = [];
  requests = 0;
  assert.deepEqual(await getStock(url), { items: ['anchor', 'rope'] });
  assert.equal(requests, 1);
});

test('retries a failed request and returns the later success', async () => {
  script = [503];
  requests = 0;
  assert.deepEqual(await getStock(url), { items: ['anchor', 'rope'] });
  assert.equal(requests, 2);
});

test('falls back once every attempt failed', async () => {
  script = [503, 503, 503];
  requests = 0;
  assert.deepEqual(await getStock(url), { items: [], stale: true });
  assert.equal(requests, 3);
});

test('stops calling once the breaker opens and still answers from the fallback', async () => {
  script = [503, 503, 503, 503];
  requests = 0;
  // Two more failures make five in a row: the breaker opens and the third attempt is turned away.
  assert.deepEqual(await getStock(url), { items: [], stale: true });
  assert.equal(requests, 2);
  assert.deepEqual(await getStock(url), { items: [], stale: true });
  assert.equal(requests, 2, 'the open breaker kept the request from the server');
});
