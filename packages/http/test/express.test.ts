import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { BreakerRegistry, consecutiveFailures, ManualClock } from 'breakwater';
import express, { type ErrorRequestHandler } from 'express';
import { expressBreaker } from '../src/express.ts';
import { routeSignal } from '../src/route-guard.ts';
import { close, errorCode, fetchPastTimeout, listen } from './support/server.ts';

const servers: Server[] = [];
after(() => Promise.all(servers.map(close)));

async function serve(app: express.Express): Promise<string> {
  const server = createServer(app);
  servers.push(server);
  return listen(server);
}

const tripAfterOne = { policy: consecutiveFailures(1), openDuration: 5_000 };

describe('expressBreaker', () => {
  it("lets a handler's error reach Express's error handling, and counts a failure", async () => {
    const breaker = expressBreaker();
    const app = express();
    app.get('/fail', breaker, () => {
      throw new Error('down');
    });
    const seen: unknown[] = [];
    const onError: ErrorRequestHandler = (error, _req, res, _next) => {
      seen.push(error);
      res.status(500).json({ error: { code: 'APP_FAILURE', message: 'app handled it' } });
    };
    app.use(onError);
    const origin = await serve(app);
    const response = await fetch(`${origin}/fail`);
    assert.equal(response.status, 500);
    assert.equal(await errorCode(response), 'APP_FAILURE');
    assert.equal(seen.length, 1);
    assert.equal(breaker.breakers.get('/fail').snapshot().totals.failures, 1);
  });

  it('counts an error Express answers with a 4xx as a success', async () => {
    const breaker = expressBreaker({ breaker: tripAfterOne });
    const app = express();
    app.set('env', 'test'); // Express's final handler logs errors in any other env
    app.get('/missing', breaker, () => {
      throw Object.assign(new Error('no such thing'), { status: 404 });
    });
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/missing`)).status, 404);
    assert.equal((await fetch(`${origin}/missing`)).status, 404);
    assert.equal(breaker.breakers.get('/missing').state, 'closed');
  });

  it('answers 503 with Retry-After and a JSON error once the route tripped', async () => {
    let calls = 0;
    const breaker = expressBreaker({
      breaker: { policy: consecutiveFailures(3), openDuration: 5_000 },
    });
    const app = express();
    app.get('/hello', breaker, (_req, res) => {
      calls++;
      res.status(500).send('failed');
    });
    const origin = await serve(app);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${origin}/hello`)).status, 500);
    const response = await fetch(`${origin}/hello`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    assert.equal(await errorCode(response), 'ERR_CIRCUIT_OPEN');
    assert.equal(calls, 3);
  });

  it('answers 504 when the handler misses its timeout', async () => {
    const clock = new ManualClock();
    const breaker = expressBreaker({ timeout: 1_000, clock });
    const app = express();
    let aborted = false;
    app.get('/slow', breaker, (req, res) => {
      routeSignal(req).addEventListener('abort', () => {
        aborted = true;
      });
      // never answers on its own
      void res;
    });
    const origin = await serve(app);
    const response = await fetchPastTimeout(clock, `${origin}/slow`, 1_000);
    assert.equal(response.status, 504);
    assert.equal(await errorCode(response), 'ERR_TIMEOUT');
    assert.equal(aborted, true);
    assert.equal(breaker.breakers.get('/slow').snapshot().totals.failures, 1);
  });

  it('keys breakers by route pattern: each route its own, every id of a route one', async () => {
    const breaker = expressBreaker({ breaker: tripAfterOne });
    const app = express();
    const api = express.Router();
    api.get('/users/:id', breaker, (req, res) => {
      if (req.params.id === '1') res.sendStatus(500);
      else res.json({ id: req.params.id });
    });
    api.get('/health', breaker, (_req, res) => {
      res.send('ok');
    });
    app.use('/api', api);
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/api/users/1`)).status, 500);
    assert.equal((await fetch(`${origin}/api/users/2`)).status, 503);
    assert.equal((await fetch(`${origin}/api/health`)).status, 200);
    assert.deepEqual(
      breaker.breakers.list().map(({ name, snapshot }) => [name, snapshot.state]),
      [
        ['/api/users/:id', 'open'],
        ['/api/health', 'closed'],
      ],
    );
  });

  it('answers again once the open duration has passed', async () => {
    const clock = new ManualClock();
    let healthy = false;
    const breaker = expressBreaker({ breaker: { ...tripAfterOne, clock } });
    const app = express();
    app.get('/flaky', breaker, (_req, res) => {
      res.sendStatus(healthy ? 200 : 502);
    });
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/flaky`)).status, 502);
    healthy = true;
    assert.equal((await fetch(`${origin}/flaky`)).status, 503);
    clock.advance(5_000);
    assert.equal((await fetch(`${origin}/flaky`)).status, 200);
    assert.equal(breaker.breakers.get('/flaky').state, 'closed');
  });

  it('protects an app-level mount under an explicit name', async () => {
    const breakers = new BreakerRegistry({ defaults: tripAfterOne });
    const breaker = expressBreaker({ breakers });
    const app = express();
    app.use('/legacy', breaker.named('legacy'), (_req, res) => {
      res.sendStatus(500);
    });
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/legacy/anything`)).status, 500);
    assert.equal((await fetch(`${origin}/legacy/else`)).status, 503);
    assert.equal(breakers.get('legacy').state, 'open');
  });

  it('reports a mount before any route matched as an error instead of guessing', async () => {
    const breaker = expressBreaker();
    const app = express();
    app.use(breaker);
    app.get('/x', (_req, res) => {
      res.send('x');
    });
    let code: unknown;
    const onError: ErrorRequestHandler = (error: { code?: unknown }, _req, res, _next) => {
      code = error.code;
      res.sendStatus(500);
    };
    app.use(onError);
    const origin = await serve(app);
    assert.equal((await fetch(`${origin}/x`)).status, 500);
    assert.equal(code, 'ERR_NO_ROUTE');
    assert.throws(() => breaker.named(''), { option: 'name' });
  });
});
