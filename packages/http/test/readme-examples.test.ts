/**
 * The README's examples, run. Each test holds one example verbatim between `README:` markers
 * (only the server it talks to and the stubs it calls are set up around it), then checks it
 * behaves as the README says.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { protectedFetch } from '@breakwater/http';
import { expressBreaker } from '@breakwater/http/express';
import { fastifyBreaker } from '@breakwater/http/fastify';
import { protectHandler } from '@breakwater/http/node';
import { consecutiveFailures } from 'breakwater';
import express from 'express';
import Fastify from 'fastify';
import { close, listen, startServer } from './support/server.ts';

const cleanups: Array<() => Promise<void>> = [];
after(() => Promise.all(cleanups.map((cleanup) => cleanup())));

/** Stand-ins for the application code the examples call. */
const users = {
  failing: false,
  async get(id: string) {
    if (users.failing) throw new Error('user store down');
    return { id, name: `user ${id}` };
  },
};
async function greet(req: { url?: string | undefined }, signal: AbortSignal) {
  signal.throwIfAborted();
  const name = new URL(req.url ?? '/', 'http://x').searchParams.get('name') ?? 'world';
  if (name === 'error') throw new Error('could not greet');
  return `Hello, ${name}!`;
}

describe('README examples', () => {
  it('protectedFetch: a breaker per origin, timeouts, retries', async () => {
    let status = 200;
    const upstream = await startServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{"id":"1"}');
    });
    cleanups.push(() => upstream.close());
    const api = upstream.origin;

    // README: protectedFetch
    const http = protectedFetch({
      breaker: { policy: consecutiveFailures(5), openDuration: 10_000 },
      timeout: 2_000, // per attempt; a timeout counts as a failure
      retry: { maxAttempts: 3, backoff: 200 }, // idempotent methods only; honours Retry-After
    });

    const response = await http(`${api}/users/1`); // a 5xx is returned too, and counted
    const user = await http.read(`${api}/users/1`, (r) => r.json()); // a broken body counts too
    // README end

    assert.equal(response.status, 200);
    assert.deepEqual(user, { id: '1' });
    status = 500;
    const failed = await http(`${api}/users/1`, { method: 'POST' }); // not retried
    assert.equal(failed.status, 500);
    assert.equal(http.breakers?.get(api).snapshot().totals.failures, 1);
  });

  it('protectHandler: node:http', async () => {
    // README: node:http
    const breaker = { policy: consecutiveFailures(3), openDuration: 5_000 };
    const hello = protectHandler(
      async (req, res, { signal }) => {
        res.end(await greet(req, signal)); // throws → 500, counted as a failure
      },
      { name: '/hello', breaker, timeout: 2_000 },
    );

    const server = createServer((req, res) => {
      if (req.url?.startsWith('/hello')) return void hello(req, res);
      res.statusCode = 404;
      res.end();
    });
    // README end

    cleanups.push(() => close(server));
    const origin = await listen(server);
    assert.equal(await (await fetch(`${origin}/hello?name=ada`)).text(), 'Hello, ada!');
    for (let i = 0; i < 3; i++)
      assert.equal((await fetch(`${origin}/hello?name=error`)).status, 500);
    const rejected = await fetch(`${origin}/hello?name=ada`);
    assert.equal(rejected.status, 503);
    assert.equal(rejected.headers.get('retry-after'), '5');
  });

  it('expressBreaker: Express', async () => {
    // README: Express
    const app = express();
    const breaker = expressBreaker({
      breaker: { policy: consecutiveFailures(3), openDuration: 5_000 },
      timeout: 2_000,
    });
    app.get('/users/:id', breaker, async (req, res) => {
      res.json(await users.get(req.params.id)); // a rejection goes to next(err) → 500
    });
    app.get('/health', breaker, (_req, res) => {
      res.send('ok'); // its own breaker
    });
    // README end

    app.set('env', 'test'); // keep Express's final handler from logging the expected errors
    const server: Server = createServer(app);
    cleanups.push(() => close(server));
    const origin = await listen(server);
    users.failing = true;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${origin}/users/1`)).status, 500);
    assert.equal((await fetch(`${origin}/users/2`)).status, 503);
    assert.equal((await fetch(`${origin}/health`)).status, 200);
    users.failing = false;
  });

  it('fastifyBreaker: Fastify', async () => {
    // README: Fastify
    const app = Fastify();
    await app.register(fastifyBreaker, {
      breaker: { policy: consecutiveFailures(3), openDuration: 5_000 },
      timeout: 2_000,
    });
    app.get<{ Params: { id: string } }>('/users/:id', async (request) =>
      users.get(request.params.id),
    );
    app.get('/health', { config: { breaker: false } }, async () => 'ok'); // unprotected
    // README end

    cleanups.push(() => app.close());
    const origin = await app.listen({ port: 0, host: '127.0.0.1' });
    assert.deepEqual(await (await fetch(`${origin}/users/7`)).json(), { id: '7', name: 'user 7' });
    users.failing = true;
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${origin}/users/1`)).status, 500);
    const rejected = await fetch(`${origin}/users/1`);
    assert.equal(rejected.status, 503);
    assert.equal(
      ((await rejected.json()) as { error: { code: string } }).error.code,
      'ERR_CIRCUIT_OPEN',
    );
    assert.equal((await fetch(`${origin}/health`)).status, 200);
    users.failing = false;
  });
});
