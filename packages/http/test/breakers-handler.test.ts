import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import {
  BreakerRegistry,
  CircuitBreaker,
  consecutiveFailures,
  InvalidOptionError,
  ManualClock,
} from 'breakwater';
import express from 'express';
import Fastify from 'fastify';
import { type BreakersStatus, breakersHandler } from '../src/exports/node.ts';
import { close, listen } from './support/server.ts';

const closers: Array<() => Promise<void>> = [];
after(() => Promise.all(closers.map((close) => close())));

/** A registry with one healthy breaker and one that tripped. */
async function breakers(): Promise<BreakerRegistry> {
  const registry = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(2), openDuration: 5_000 },
    clock: new ManualClock(),
  });
  await registry.get('search').execute(() => Promise.resolve('ok'));
  for (let i = 0; i < 2; i++) {
    await assert.rejects(registry.get('payments').execute(() => Promise.reject(new Error('down'))));
  }
  return registry;
}

const frameworks: Record<string, (handler: ReturnType<typeof breakersHandler>) => Promise<string>> =
  {
    'node:http': async (handler) => {
      const server = createServer((req, res) => {
        if (req.url === '/breakers') handler(req, res);
        else res.writeHead(404).end();
      });
      closers.push(() => close(server));
      return listen(server);
    },
    Express: async (handler) => {
      const app = express();
      app.all('/breakers', handler);
      const server = createServer(app);
      closers.push(() => close(server));
      return listen(server);
    },
    Fastify: async (handler) => {
      const app = Fastify();
      app.route({ method: ['GET', 'POST'], url: '/breakers', handler });
      closers.push(() => app.close());
      return app.listen({ port: 0, host: '127.0.0.1' });
    },
  };

for (const [framework, serve] of Object.entries(frameworks)) {
  describe(`breakersHandler in ${framework}`, () => {
    it("answers every breaker's snapshot and trip reason as JSON", async () => {
      const origin = await serve(breakersHandler(await breakers()));
      const response = await fetch(`${origin}/breakers`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const { breakers: rows } = (await response.json()) as BreakersStatus;
      assert.deepEqual(
        rows.map(({ name, snapshot }) => [name, snapshot.state, snapshot.totals.failures]),
        [
          ['search', 'closed', 0],
          ['payments', 'open', 2],
        ],
      );
      assert.equal(rows[1]!.snapshot.remainingOpenMs, 5_000);
      assert.equal(rows[0]!.snapshot.reason, null, 'a closed breaker has no trip reason');
      const reason = rows[1]!.snapshot.reason!;
      assert.equal(reason.rule, 'consecutiveFailures');
      assert.equal(reason.text, '2 consecutive failures');
      assert.deepEqual(
        reason.recentFailures.map(({ error, message }) => [error, message]),
        [
          ['Error', 'down'],
          ['Error', 'down'],
        ],
      );
    });

    it('refuses other methods with 405 and Allow', async () => {
      const origin = await serve(breakersHandler(await breakers()));
      const response = await fetch(`${origin}/breakers`, { method: 'POST' });
      assert.equal(response.status, 405);
      assert.equal(response.headers.get('allow'), 'GET, HEAD');
      await response.arrayBuffer();
    });
  });
}

describe('breakersHandler', () => {
  it('reads a registry at each request, so breakers made later show up', async () => {
    const registry = new BreakerRegistry({ defaults: {} });
    const origin = await frameworks['node:http']!(breakersHandler(registry));
    const first = (await (await fetch(`${origin}/breakers`)).json()) as BreakersStatus;
    assert.deepEqual(first.breakers, []);
    registry.get('later');
    const second = (await (await fetch(`${origin}/breakers`)).json()) as BreakersStatus;
    assert.deepEqual(
      second.breakers.map((row) => row.name),
      ['later'],
    );
  });

  it('serves a fixed list of named breakers, and refuses a nameless one', async () => {
    const origin = await frameworks['node:http']!(
      breakersHandler([new CircuitBreaker({ name: 'mail' })]),
    );
    const status = (await (await fetch(`${origin}/breakers`)).json()) as BreakersStatus;
    assert.equal(status.breakers[0]!.name, 'mail');
    assert.throws(
      () => breakersHandler([new CircuitBreaker({ name: 'a' }), new CircuitBreaker()]),
      (error) => error instanceof InvalidOptionError && error.option === 'source[1].name',
    );
    assert.throws(
      () => breakersHandler(42 as unknown as BreakerRegistry),
      (error) => error instanceof InvalidOptionError && error.option === 'source',
    );
  });
});
