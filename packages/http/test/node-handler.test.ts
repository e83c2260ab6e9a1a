import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, describe, it } from 'node:test';
import { consecutiveFailures, InvalidOptionError, ManualClock, TimeoutError } from 'breakwater';
import { type NodeHandler, protectHandler } from '../src/node-handler.ts';
import { close, errorCode, fetchPastTimeout, listen, until } from './support/server.ts';

const servers: Server[] = [];
after(() => Promise.all(servers.map(close)));

/** Serves each handler at its path; 404 elsewhere. */
async function serve(routes: Record<string, (req: never, res: never) => unknown>): Promise<string> {
  const server = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    if (route === undefined) {
      res.statusCode = 404;
      res.end();
      return;
    }
    route(req as never, res as never);
  });
  servers.push(server);
  return listen(server);
}

const failing: NodeHandler = () => {
  throw new Error('database down');
};
const ok: NodeHandler = (_req, res) => {
  res.end('ok');
};

describe('protectHandler', () => {
  it('answers 500 JSON when the handler throws, and counts a failure', async () => {
    const handler = protectHandler(failing, { name: '/fail' });
    const origin = await serve({ '/fail': handler });
    const response = await fetch(`${origin}/fail`);
    assert.equal(response.status, 500);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(await response.json(), {
      error: { code: 'ERR_INTERNAL', message: 'Internal server error' },
    });
    assert.equal(handler.breaker.snapshot().totals.failures, 1);
  });

  it("counts the handler's own 5xx as a failure and a 4xx as a success", async () => {
    let status = 503;
    const handler = protectHandler((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    const origin = await serve({ '/': handler });
    assert.equal((await fetch(origin)).status, 503);
    status = 404;
    assert.equal((await fetch(origin)).status, 404);
    const { totals } = handler.breaker.snapshot();
    assert.equal(totals.failures, 1);
    assert.equal(totals.successes, 1);
  });

  it('answers with the status the handler set before it threw, as a framework would', async () => {
    const handler = protectHandler((_req, res) => {
      res.statusCode = 502;
      throw new Error('upstream answered garbage');
    });
    const origin = await serve({ '/': handler });
    const response = await fetch(origin);
    assert.equal(response.status, 502);
    assert.equal(await errorCode(response), 'ERR_INTERNAL');
    assert.equal(handler.breaker.snapshot().totals.failures, 1);
  });

  it("answers a thrown error's own 4xx status and counts it as a success", async () => {
    const handler = protectHandler(() => {
      throw Object.assign(new Error('no such user'), { statusCode: 404 });
    });
    const origin = await serve({ '/': handler });
    const response = await fetch(origin);
    assert.equal(response.status, 404);
    await response.body?.cancel();
    await until(() => handler.breaker.snapshot().totals.successes === 1);
    assert.equal(handler.breaker.snapshot().totals.failures, 0);
  });

  it('answers 503 with Retry-After and a JSON error once the breaker opened', async () => {
    let calls = 0;
    const handler = protectHandler(
      () => {
        calls++;
        throw new Error('down');
      },
      { name: '/hello', breaker: { policy: consecutiveFailures(3), openDuration: 4_500 } },
    );
    const origin = await serve({ '/hello': handler });
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${origin}/hello`)).status, 500);
    const response = await fetch(`${origin}/hello`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '5');
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'ERR_CIRCUIT_OPEN');
    assert.match(body.error.message, /\/hello/);
    assert.equal(calls, 3);
  });

  it('answers 503 without Retry-After while the breaker is forced open', async () => {
    const handler = protectHandler(() => {}, { name: '/forced' });
    const origin = await serve({ '/forced': handler });
    handler.breaker.forceOpen();
    const response = await fetch(`${origin}/forced`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), null, 'no wait is known until reset');
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'ERR_CIRCUIT_OPEN');
  });

  it('answers 504 when the handler misses its timeout, and aborts its signal', async () => {
    const clock = new ManualClock();
    let reason: unknown;
    let started = false;
    const handler = protectHandler(
      (_req, _res, { signal }) =>
        new Promise<void>((resolve) => {
          started = true;
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            resolve();
          });
        }),
      { timeout: 2_000, clock },
    );
    const origin = await serve({ '/': handler });
    const pending = fetch(origin);
    await until(() => started, 'the handler to start');
    clock.advance(2_000);
    const response = await pending;
    assert.equal(response.status, 504);
    assert.deepEqual(await response.json(), {
      error: {
        code: 'ERR_TIMEOUT',
        message: 'Gateway timeout: the handler did not answer in time',
      },
    });
    assert.ok(reason instanceof TimeoutError);
    assert.equal(handler.breaker.snapshot().totals.failures, 1);
  });

  it('hands an aborted signal to a handler that reads it only after its 504', async () => {
    const clock = new ManualClock();
    let context: { readonly signal: AbortSignal } | undefined;
    let proceed!: () => void;
    const handler = protectHandler(
      async (_req, res, ctx) => {
        context = ctx; // its signal is read only when the next step starts
        await new Promise<void>((resolve) => (proceed = resolve));
        if (!ctx.signal.aborted) res.end('late');
      },
      { timeout: 2_000, clock },
    );
    const origin = await serve({ '/': handler });
    const pending = fetch(origin);
    await until(() => context !== undefined, 'the handler to start');
    clock.advance(2_000);
    assert.equal((await pending).status, 504);
    proceed();
    assert.equal(context?.signal.aborted, true);
    assert.ok(context?.signal.reason instanceof TimeoutError);
  });

  it('survives a handler that answers after its 504', async () => {
    const clock = new ManualClock();
    const { promise: released, resolve: release } = Promise.withResolvers<void>();
    let finished = false;
    const handler = protectHandler(
      async (_req, res) => {
        await released;
        res.write('late');
        res.end('late');
        finished = true;
      },
      { timeout: 1_000, clock },
    );
    const origin = await serve({ '/': handler });
    const response = await fetchPastTimeout(clock, origin, 1_000, 'the handler to start');
    assert.equal(response.status, 504);
    release();
    await until(() => finished, 'the late handler');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await errorCode(response), 'ERR_TIMEOUT');
  });

  it('keeps a breaker per route: one tripped, the other still answers', async () => {
    const options = { breaker: { policy: consecutiveFailures(1), openDuration: 5_000 } };
    const origin = await serve({
      '/a': protectHandler(failing, { ...options, name: '/a' }),
      '/b': protectHandler(ok, { ...options, name: '/b' }),
    });
    assert.equal((await fetch(`${origin}/a`)).status, 500);
    assert.equal((await fetch(`${origin}/a`)).status, 503);
    const response = await fetch(`${origin}/b`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok');
  });

  it('answers again once the open duration has passed', async () => {
    const clock = new ManualClock();
    let fail = true;
    const handler = protectHandler(
      (_req, res) => {
        if (fail) throw new Error('down');
        res.end('back');
      },
      { breaker: { policy: consecutiveFailures(1), openDuration: 5_000 }, clock },
    );
    const origin = await serve({ '/': handler });
    assert.equal((await fetch(origin)).status, 500);
    fail = false;
    assert.equal((await fetch(origin)).status, 503);
    clock.advance(5_000);
    const response = await fetch(origin);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'back');
    assert.equal(handler.breaker.state, 'closed');
  });

  it('ignores a request whose client went away before the answer', async () => {
    let started = false;
    let clientGone = false;
    const handler = protectHandler(
      (_req, res, { signal }) =>
        new Promise<void>((resolve) => {
          started = true;
          signal.addEventListener('abort', () => {
            clientGone = true;
            res.end();
            resolve();
          });
        }),
      { breaker: { policy: consecutiveFailures(1) } },
    );
    const origin = await serve({ '/': handler });
    const controller = new AbortController();
    const pending = fetch(origin, { signal: controller.signal });
    await until(() => started, 'the handler to start');
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await until(() => clientGone, 'the server to notice');
    assert.equal(handler.breaker.state, 'closed');
    assert.equal(handler.breaker.snapshot().totals.ignored, 1);
  });

  it('cuts the connection when the handler throws after it began answering', async () => {
    const handler = protectHandler(async (_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('half');
      await new Promise((resolve) => setTimeout(resolve, 5));
      throw new Error('broke midway');
    });
    const origin = await serve({ '/': handler });
    const response = await fetch(origin);
    await assert.rejects(response.text(), TypeError);
    assert.equal(handler.breaker.snapshot().totals.failures, 1);
  });

  it('rejects bad options, naming them', () => {
    assert.throws(() => protectHandler('nope' as never), { option: 'handler' });
    assert.throws(() => protectHandler(ok, { timeout: 0 }), { option: 'timeout' });
    assert.throws(() => protectHandler(ok, { timeOut: 5 } as never), { option: 'timeOut' });
    assert.throws(
      () => protectHandler(ok, { breaker: { openDuration: -1 } }),
      (error: unknown) => error instanceof InvalidOptionError && /openDuration/.test(error.message),
    );
  });
});
