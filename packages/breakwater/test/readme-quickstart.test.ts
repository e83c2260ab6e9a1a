/**
 * The README's first example, run against a real server that fails on demand. The block between
 * the `README:` markers is in README.md verbatim (test/readme.test.ts checks that).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

test('the quick-start breaker trips after three failures and reports when to retry', async () => {
  let requests = 0;
  const server = createServer((request, response) => {
    requests++;
    request.resume();
    response.writeHead(503, { connection: 'close' }).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const logged: string[] = [];
  const console = { log: (line: string) => logged.push(line) };

  const call = async () => {
    // README: quickstart
    try {
      const user = await breaker.execute(async ({ signal }) => {
        const response = await fetch(`${api}/users/1`, { signal });
        if (!response.ok) throw new Error(`users answered ${response.status}`);
        return response.json();
      });
      console.log(`hello ${user.name}`);
    } catch (error) {
      if (error instanceof CircuitOpenError) console.log(`down; retry in ${error.retryAfter} ms`);
      else console.log(`failed: ${(error as Error).message}`); // fn's own error, unchanged
    }
    // README end
  };
  for (let i = 0; i < 4; i++) await call();
  server.close();

  assert.equal(requests, 3, 'the open breaker never called the server a fourth time');
  assert.deepEqual(logged.slice(0, 3), Array(3).fill('failed: users answered 503'));
  assert.match(logged[3] ?? '', /^down; retry in \d+ ms$/);
});

// README: quickstart-setup
import { CircuitBreaker, CircuitOpenError, consecutiveFailures } from 'breakwater';

const breaker = new CircuitBreaker({ policy: consecutiveFailures(3), openDuration: 10_000 });
// README end
