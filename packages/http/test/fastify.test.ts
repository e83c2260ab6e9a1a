import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BreakerRegistry, consecutiveFailures, ManualClock } from 'breakwater';
import Fastify, { type FastifyInstance } from 'fastify';
import { fastifyBreaker } from '../src/fastify.ts';
import { routeSignal } from '../src/route-guard.ts';
import { errorCode, fetchPastTimeout, until } from './support/server.ts';

const apps: FastifyInstance[] = [];
after(() => Promise.all(apps.map((app) => app.close())));

async function serve(app: FastifyInstance): Promise<string> {
  apps.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

const tripAfterOne = { policy: consecutiveFailures(1), openDuration: 5_000 };

describe('fastifyBreaker', () => {
  it("lets a thrown error reach Fastify's error handling, and counts a failure", async () => {
    const breakers = new BreakerRegistry({ defaults: {} });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    app.get('/fail', async () => {
      throw new Error('down');
    });
    const origin = await serve(app);
    const response = await fetch(`${origin}/fail`);
    assert.equal(response.status, 500);
    assert.equal(((await response.json()) as { message: string }).message, 'down');
    assert.equal(breakers.get('/fail').snapshot().totals.failures, 1);
  });

  it('counts an error Fastify answers with a 4xx as a success', async () => {
    const breakers = new BreakerRegistry({ defaults: tripAfterOne });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    app.get('/missing', async () => {
      throw Object.assign(new Error('no such thing'), { statusCode: 404 });
    });
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/missing`)).status, 404);
    assert.equal((await fetch(`${origin}/missing`)).status, 404);
    assert.equal(breakers.get('/missing').state, 'closed');
  });

  it('answers 503 with Retry-After and a JSON error once the route tripped', async () => {
    let calls = 0;
    const app = Fastify();
    await app.register(fastifyBreaker, {
      breaker: { policy: consecutiveFailures(3), openDuration: 5_000 },
    });
    app.get('/hello', async (_request, reply) => {
      calls++;
      return reply.code(500).send('failed');
    });
    const origin = await serve(app);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${origin}/hello`)).status, 500);
    const response = await fetch(`${origin}/hello`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(await errorCode(response), 'ERR_CIRCUIT_OPEN');
    assert.equal(calls, 3);
  });

  it('answers 504 when the handler misses its timeout', async () => {
    const clock = new ManualClock();
    const breakers = new BreakerRegistry({ defaults: {} });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers, timeout: 1_000, clock });
    let aborted = false;
    app.get('/slow', (request, reply) => {
      const signal = routeSignal(request.raw);
      signal.addEventListener('abort', () => {
        aborted = true;
      });
      void reply; // never answers on its own
    });
    const origin = await serve(app);
    const response = await fetchPastTimeout(clock, `${origin}/slow`, 1_000);
    assert.equal(response.status, 504);
    assert.equal(await errorCode(response), 'ERR_TIMEOUT');
    assert.equal(aborted, true);
    assert.equal(breakers.get('/slow').snapshot().totals.failures, 1);
  });

  it('drops an answer the handler gives after its 504', async () => {
    const clock = new ManualClock();
    const app = Fastify();
    await app.register(fastifyBreaker, { timeout: 1_000, clock });
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    let answered = false;
    app.get('/late', async () => {
      await released;
      answered = true;
      return 'too late';
    });
    const origin = await serve(app);
    const response = await fetchPastTimeout(clock, `${origin}/late`, 1_000);
    assert.equal(response.status, 504);
    release();
    await until(() => answered, 'the late handler');
    assert.equal(await errorCode(response), 'ERR_TIMEOUT');
    const next = await fetch(`${origin}/late`);
    assert.equal(await next.text(), 'too late', 'the app keeps serving');
  });

  it('keys breakers by route pattern: each route its own', async () => {
    const breakers = new BreakerRegistry({ defaults: tripAfterOne });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    app.get('/users/:id', async (request, reply) => {
      const { id } = request.params as { id: string };
      return id === '1' ? reply.code(500).send() : { id };
    });
    app.get('/health', async () => 'ok');
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/users/1`)).status, 500);
    assert.equal((await fetch(`${origin}/users/2`)).status, 503);
    assert.equal((await fetch(`${origin}/health`)).status, 200);
    assert.equal(breakers.get('/users/:id').state, 'open');
    assert.equal(breakers.get('/health').state, 'closed');
  });

  it('takes a name or an opt-out from the route config', async () => {
    const breakers = new BreakerRegistry({ defaults: tripAfterOne });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    app.get('/v1/orders', { config: { breaker: { name: 'orders' } } }, async (_q, reply) =>
      reply.code(500).send(),
    );
    app.get('/v2/orders', { config: { breaker: { name: 'orders' } } }, async () => 'v2');
    app.get('/unprotected', { config: { breaker: false } }, async (_q, reply) =>
      reply.code(500).send(),
    );
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/v1/orders`)).status, 500);
    assert.equal((await fetch(`${origin}/v2/orders`)).status, 503);
    assert.equal((await fetch(`${origin}/unprotected`)).status, 500);
    assert.equal((await fetch(`${origin}/unprotected`)).status, 500);
    assert.deepEqual(
      [...breakers.entries()].map(([name]) => name),
      ['orders'],
    );
  });

  it('answers again once the open duration has passed', async () => {
    const clock = new ManualClock();
    let healthy = false;
    const breakers = new BreakerRegistry({ defaults: { ...tripAfterOne, clock } });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    app.get('/flaky', async (_request, reply) => (healthy ? 'up' : reply.code(502).send()));
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/flaky`)).status, 502);
    healthy = true;
    assert.equal((await fetch(`${origin}/flaky`)).status, 503);
    clock.advance(5_000);
    const response = await fetch(`${origin}/flaky`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'up');
    assert.equal(breakers.get('/flaky').state, 'closed');
  });

  it('leaves unmatched requests (404) alone', async () => {
    const breakers = new BreakerRegistry({ defaults: tripAfterOne });
    const app = Fastify();
    await app.register(fastifyBreaker, { breakers });
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/nothing`)).status, 404);
    assert.equal(breakers.size, 0);
  });

  it('fails registration on bad options, naming them', async () => {
    const app = Fastify();
    apps.push(app);
    await assert.rejects(
      async () => {
        await app.register(fastifyBreaker, { timeout: -5 });
      },
      { code: 'ERR_INVALID_OPTION', option: 'timeout' },
    );
    const other = Fastify();
    apps.push(other);
    await assert.rejects(
      async () => {
        await other.register(fastifyBreaker, { prefix: '/x', timeOut: 5 } as never);
      },
      { option: 'timeOut' },
    );
  });
});
