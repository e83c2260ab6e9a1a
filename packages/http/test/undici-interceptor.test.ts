import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  BreakerRegistry,
  CircuitOpenError,
  consecutiveFailures,
  InvalidOptionError,
  ManualClock,
} from 'breakwater';
import { Agent, type Dispatcher, request, fetch as undiciFetch } from 'undici';
import { breakerInterceptor } from '../src/undici-interceptor.ts';
import { refusedOrigin, startServer, type TestServer } from './support/server.ts';

const servers: TestServer[] = [];
const agents: Agent[] = [];
after(async () => {
  await Promise.all(agents.map((agent) => agent.close()));
  await Promise.all(servers.map((server) => server.close()));
});

/** A server answering each request with the status its path names: `/503` → 503. */
async function statusServer(): Promise<TestServer> {
  const server = await startServer((req, res) => {
    res.statusCode = Number(req.url?.slice(1)) || 200;
    res.end('body');
  });
  servers.push(server);
  return server;
}

function protectedAgent(clock: ManualClock, failureStatuses?: number[]) {
  const interceptor = breakerInterceptor({
    breaker: { policy: consecutiveFailures(2), openDuration: 1_000, clock },
    ...(failureStatuses === undefined ? {} : { failureStatuses }),
  });
  const agent = new Agent();
  agents.push(agent);
  return { dispatcher: agent.compose(interceptor), breakers: interceptor.breakers };
}

async function status(url: string, dispatcher: Dispatcher) {
  const { statusCode, body } = await request(url, { dispatcher });
  await body.text();
  return statusCode;
}

describe('breakerInterceptor', () => {
  it('trips on failure statuses, rejects without sending, and recovers after the open duration', async () => {
    const server = await statusServer();
    const clock = new ManualClock();
    const { dispatcher, breakers } = protectedAgent(clock);

    assert.equal(await status(`${server.origin}/200`, dispatcher), 200);
    assert.equal(await status(`${server.origin}/503`, dispatcher), 503);
    assert.equal(await status(`${server.origin}/500`, dispatcher), 500);
    assert.equal(breakers.get(server.origin).state, 'open');

    const before = server.hits.total;
    await assert.rejects(request(`${server.origin}/200`, { dispatcher }), (error: unknown) => {
      assert.ok(error instanceof CircuitOpenError);
      assert.equal(error.retryAfter, 1_000);
      assert.equal(error.breaker, server.origin);
      return true;
    });
    assert.equal(server.hits.total, before, 'a rejected request is never sent');

    clock.advance(1_000);
    assert.equal(await status(`${server.origin}/200`, dispatcher), 200);
    assert.equal(breakers.get(server.origin).state, 'closed');
  });

  it('keeps one breaker per origin: a failing origin does not stop another', async () => {
    const failing = await statusServer();
    const healthy = await statusServer();
    const { dispatcher, breakers } = protectedAgent(new ManualClock());

    await status(`${failing.origin}/502`, dispatcher);
    await status(`${failing.origin}/502`, dispatcher);
    await assert.rejects(request(`${failing.origin}/`, { dispatcher }), CircuitOpenError);
    assert.equal(await status(`${healthy.origin}/200`, dispatcher), 200);
    assert.deepEqual(
      breakers.list().map(({ name, snapshot }) => [name, snapshot.state]),
      [
        [failing.origin, 'open'],
        [healthy.origin, 'closed'],
      ],
    );
  });

  it('counts a refused connection as a failure and a 4xx as a success', async () => {
    const refused = await refusedOrigin();
    const server = await statusServer();
    const { dispatcher, breakers } = protectedAgent(new ManualClock());

    await assert.rejects(request(`${refused}/`, { dispatcher }), { code: 'ECONNREFUSED' });
    await assert.rejects(request(`${refused}/`, { dispatcher }), { code: 'ECONNREFUSED' });
    assert.equal(breakers.get(refused).state, 'open');

    for (let i = 0; i < 3; i++) assert.equal(await status(`${server.origin}/404`, dispatcher), 404);
    assert.equal(breakers.get(server.origin).state, 'closed');
  });

  it('ignores the caller aborting its own request', async () => {
    let hold: (() => void) | undefined;
    const server = await startServer(
      (_req, res) =>
        new Promise<void>((resolve) => {
          hold = () => {
            res.end();
            resolve();
          };
        }),
    );
    servers.push(server);
    const { dispatcher, breakers } = protectedAgent(new ManualClock());
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = request(`${server.origin}/`, { dispatcher, signal: controller.signal });
      while (server.hits.total <= i) await new Promise((resolve) => setImmediate(resolve));
      controller.abort(new Error('caller gave up'));
      await assert.rejects(pending, /caller gave up/);
      hold?.();
    }
    const snapshot = breakers.get(server.origin).snapshot();
    assert.equal(snapshot.state, 'closed');
    assert.equal(snapshot.totals.failures, 0);
  });

  it('protects undici fetch given the composed dispatcher', async () => {
    const server = await statusServer();
    const { dispatcher } = protectedAgent(new ManualClock(), [500, 503]);
    for (const path of ['/503', '/500']) {
      const response = await undiciFetch(`${server.origin}${path}`, { dispatcher });
      await response.arrayBuffer();
    }
    await assert.rejects(undiciFetch(`${server.origin}/`, { dispatcher }), (error: unknown) => {
      assert.ok(error instanceof TypeError, 'fetch wraps dispatch errors in a TypeError');
      assert.ok(error.cause instanceof CircuitOpenError);
      return true;
    });
  });

  it('refuses unknown and conflicting options', () => {
    assert.throws(() => breakerInterceptor({ braker: {} } as never), InvalidOptionError);
    assert.throws(
      () => breakerInterceptor({ breaker: {}, breakers: new BreakerRegistry({ defaults: {} }) }),
      { code: 'ERR_INVALID_OPTION', option: 'breaker' },
    );
  });
});
