import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  BreakerRegistry,
  CircuitOpenError,
  consecutiveFailures,
  InvalidOptionError,
  ManualClock,
  type Policy,
  TimeoutError,
} from 'breakwater';
import { defaultOriginBounds, protectedFetch } from '../src/protected-fetch.ts';
import { startServer, type TestServer } from './support/server.ts';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

/** A server answering `status` (and `body`) on every path; `/slow` never answers. */
async function serve(status: number, body = `status ${status}`): Promise<TestServer> {
  const server = await startServer((req, res) => {
    if (req.url === '/slow') return; // held until the server closes
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  });
  servers.push(server);
  return server;
}

function breakerOf(http: ReturnType<typeof protectedFetch>, origin: string) {
  assert.ok(http.breakers);
  return http.breakers.get(origin);
}

describe('protectedFetch', () => {
  it('returns the very Response the underlying fetch produced', async () => {
    const server = await serve(200, 'hello');
    const produced: Response[] = [];
    const http = protectedFetch({
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        produced.push(response);
        return response;
      },
    });
    const response = await http(`${server.origin}/a`);
    assert.equal(response, produced[0]);
    assert.equal(await response.text(), 'hello');
    assert.equal(breakerOf(http, server.origin).snapshot().totals.successes, 1);
  });

  it('hands a 500 back as a Response while counting it as a failure', async () => {
    const server = await serve(500, 'boom');
    const http = protectedFetch({ retry: false });
    const response = await http(`${server.origin}/a`);
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'boom');
    assert.equal(breakerOf(http, server.origin).snapshot().totals.failures, 1);
  });

  it('counts a 404 as a success', async () => {
    const server = await serve(404);
    const http = protectedFetch({ retry: false, breaker: { policy: consecutiveFailures(1) } });
    assert.equal((await http(`${server.origin}/missing`)).status, 404);
    assert.equal(breakerOf(http, server.origin).state, 'closed');
  });

  it('opens after N failing responses, then rejects without reaching the server', async () => {
    const server = await serve(503);
    const clock = new ManualClock();
    const http = protectedFetch({
      retry: false,
      breaker: { policy: consecutiveFailures(3), openDuration: 5_000 },
      clock,
    });
    for (let i = 0; i < 3; i++) {
      const response = await http(`${server.origin}/a`);
      assert.equal(response.status, 503);
      await response.arrayBuffer();
    }
    const error = await http(`${server.origin}/a`).then(
      () => assert.fail('expected a rejection'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CircuitOpenError);
    assert.equal(error.code, 'ERR_CIRCUIT_OPEN');
    assert.equal(error.retryAfter, 5_000);
    assert.equal(server.hits.total, 3);
  });

  it('lets requests through again once the open duration has passed', async () => {
    let status = 500;
    const server = await startServer((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    servers.push(server);
    const clock = new ManualClock();
    const http = protectedFetch({
      retry: false,
      breaker: { policy: consecutiveFailures(2), openDuration: 5_000 },
      clock,
    });
    await http(server.origin);
    await http(server.origin);
    await assert.rejects(http(server.origin), CircuitOpenError);
    status = 200;
    clock.advance(4_999);
    await assert.rejects(http(server.origin), CircuitOpenError);
    clock.advance(1);
    assert.equal((await http(server.origin)).status, 200);
    assert.equal(breakerOf(http, server.origin).state, 'closed');
    assert.equal(server.hits.total, 3);
  });

  it('keeps a breaker per origin: one failing host leaves the other alone', async () => {
    const failing = await serve(500);
    const healthy = await serve(200);
    const http = protectedFetch({ retry: false, breaker: { policy: consecutiveFailures(2) } });
    await http(failing.origin);
    await http(failing.origin);
    await assert.rejects(http(failing.origin), CircuitOpenError);
    const response = await http(`${healthy.origin}/ok`);
    assert.equal(response.status, 200);
    assert.equal(breakerOf(http, failing.origin).state, 'open');
    assert.equal(breakerOf(http, healthy.origin).state, 'closed');
  });

  it("ignores the caller's own abort: it never trips the breaker", async () => {
    const server = await serve(200);
    const http = protectedFetch({ retry: false, breaker: { policy: consecutiveFailures(1) } });
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = http(`${server.origin}/slow`, { signal: controller.signal });
      controller.abort();
      await assert.rejects(pending, { name: 'AbortError' });
    }
    const breaker = breakerOf(http, server.origin);
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().totals.failures, 0);
    assert.equal(breaker.snapshot().totals.ignored, 3);
  });

  it('counts an attempt that runs out of time as a failure', async () => {
    const server = await serve(200);
    const clock = new ManualClock();
    const http = protectedFetch({
      retry: false,
      timeout: 1_000,
      clock,
      breaker: { policy: consecutiveFailures(1) },
    });
    const pending = http(`${server.origin}/slow`);
    clock.advance(1_000);
    await assert.rejects(pending, TimeoutError);
    assert.equal(breakerOf(http, server.origin).state, 'open');
  });

  it('throws a request that cannot be built without counting it', async () => {
    const http = protectedFetch();
    await assert.rejects(http('not a url'), TypeError);
    await assert.rejects(
      http('http://127.0.0.1:1/', { headers: { 'bad header': 'x' } }),
      TypeError,
    );
    assert.equal(http.breakers?.size, 0);
  });

  it('counts a connection error as a failure', async () => {
    const server = await serve(200);
    const origin = server.origin;
    await server.close();
    const http = protectedFetch({ retry: false, breaker: { policy: consecutiveFailures(1) } });
    await assert.rejects(http(origin), TypeError);
    assert.equal(breakerOf(http, origin).state, 'open');
  });

  it('runs each request through policyFor(origin) when given', async () => {
    const server = await serve(200);
    const origins: string[] = [];
    const passThrough: Policy = {
      execute: (fn, options) =>
        Promise.resolve(
          fn({ signal: options?.signal ?? new AbortController().signal, attempt: 1 }),
        ),
    };
    const http = protectedFetch({
      policyFor: (origin) => {
        origins.push(origin);
        return passThrough;
      },
    });
    assert.equal((await http(`${server.origin}/x?y=1`)).status, 200);
    assert.deepEqual(origins, [server.origin]);
    assert.equal(http.breakers, undefined);
  });

  it('uses a given registry, so per-origin overrides apply', async () => {
    const server = await serve(500);
    const breakers = new BreakerRegistry({
      defaults: { policy: consecutiveFailures(5) },
      overrides: { [server.origin]: { policy: consecutiveFailures(1) } },
    });
    const http = protectedFetch({ breakers, retry: false });
    await http(server.origin);
    assert.equal(breakers.get(server.origin).state, 'open');
  });
});

describe('protectedFetch.read', () => {
  it('returns what the reader made of the body', async () => {
    const server = await serve(200, '{"ok":true}');
    const http = protectedFetch();
    assert.deepEqual(await http.read(server.origin, (r) => r.json()), { ok: true });
  });

  it('counts a body that breaks off as a failure of the attempt', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only part of it');
      setTimeout(() => res.destroy(), 10);
    });
    servers.push(server);
    const http = protectedFetch({ retry: false, breaker: { policy: consecutiveFailures(1) } });
    await assert.rejects(
      http.read(server.origin, (r) => r.text()),
      TypeError,
    );
    assert.equal(breakerOf(http, server.origin).state, 'open');
  });

  it('hands a failing response to the reader after counting it', async () => {
    const server = await serve(502, 'bad gateway');
    const http = protectedFetch({ retry: false });
    const text = await http.read(server.origin, (r) => r.text());
    assert.equal(text, 'bad gateway');
    assert.equal(breakerOf(http, server.origin).snapshot().totals.failures, 1);
  });
});

describe('protectedFetch options', () => {
  it('rejects options that would be ignored, naming them', () => {
    const policyFor = () => ({ execute: <T>() => Promise.resolve(undefined as T) });
    assert.throws(() => protectedFetch({ policyFor, timeout: 5 }), {
      code: 'ERR_INVALID_OPTION',
      option: 'timeout',
    });
    assert.throws(
      () => protectedFetch({ breakers: new BreakerRegistry({ defaults: {} }), breaker: {} }),
      { option: 'breaker' },
    );
  });

  it('rejects bad values, naming the option', () => {
    assert.throws(() => protectedFetch({ retryMethods: ['GET', 'NOT A METHOD'] }), {
      option: 'retryMethods[1]',
    });
    assert.throws(() => protectedFetch({ timeout: -1 }), { option: 'timeout' });
    assert.throws(() => protectedFetch({ retry: { maxAttempts: 0 } }), {
      option: 'retry.maxAttempts',
    });
    assert.throws(() => protectedFetch({ failureStatuses: [600] }), InvalidOptionError);
  });

  it('rejects unknown options instead of ignoring them', () => {
    assert.throws(() => protectedFetch({ retries: 3 } as never), { option: 'retries' });
    assert.throws(() => protectedFetch({ retry: { attempts: 3 } } as never), {
      option: 'retry.attempts',
    });
  });

  it('rejects a policyFor that returns no policy, naming the origin', async () => {
    const http = protectedFetch({ policyFor: () => undefined as never });
    await assert.rejects(http('http://127.0.0.1:1/'), {
      option: 'policyFor',
      message: /http:\/\/127\.0\.0\.1:1/,
    });
  });
});

describe('protectedFetch per-origin bounds', () => {
  it('keeps at most defaultOriginBounds.maxSize origins, evicting the least recently used', async () => {
    const http = protectedFetch({ fetch: async () => new Response('ok'), timeout: 1_000 });
    const origins = defaultOriginBounds.maxSize + 1;
    for (let i = 0; i < origins; i++) await http(`http://host-${i}.test/`);
    assert.equal(http.breakers?.size, defaultOriginBounds.maxSize);
    assert.equal(http.breakers?.has('http://host-0.test'), false);
    assert.equal(http.breakers?.has(`http://host-${origins - 1}.test`), true);
    // An evicted origin comes back with a fresh breaker and still works.
    assert.equal((await http('http://host-0.test/')).status, 200);
  });
});
