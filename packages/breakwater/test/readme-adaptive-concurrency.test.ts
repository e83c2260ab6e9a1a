/**
 * Runs the README's adaptive concurrency example against a real HTTP server. The block between
 * the markers (`README: adaptive concurrency` … `README end`) is the README snippet, verbatim:
 * change both together.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';

// README: adaptive concurrency
import { adaptiveConcurrency, pipeline, timeout } from 'breakwater';

const limiter = adaptiveConcurrency({ initialLimit: 20, minLimit: 2, maxLimit: 500 });
limiter.on('limit', ({ from, to, rtt }) =>
  console.log(`search: limit ${from} → ${to} (${rtt} ms)`),
);
// A timeout inside the limiter counts as a drop: a signal to back off.
const search = pipeline(limiter, timeout(2_000));

export function find(url: string) {
  return search.execute(async ({ signal }) => (await fetch(url, { signal })).text());
}
// README end

/** Responses held open until the test lets them go. */
const held: ServerResponse[] = [];
const server = createServer((request, response) => {
  request.resume();
  held.push(response);
});
let url = '';

before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/search`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

test('admits calls up to the limit and turns the rest away at once', async () => {
  const calls = Array.from({ length: 25 }, () =>
    find(url).then(
      (body) => body,
      (error: { code?: string }) => error.code,
    ),
  );
  const turnedAway = (await Promise.all(calls.slice(20))) as string[];
  assert.deepEqual(new Set(turnedAway), new Set(['ERR_CONCURRENCY_LIMIT']));
  while (held.length < 20) await new Promise((resolve) => setImmediate(resolve));
  for (const response of held.splice(0)) response.end('found');
  assert.deepEqual(new Set(await Promise.all(calls.slice(0, 20))), new Set(['found']));
  assert.equal(limiter.inFlight, 0);
});
