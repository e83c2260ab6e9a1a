import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { CircuitOpenError, consecutiveFailures, ManualClock, RetryBudget } from 'breakwater';
import { protectedFetch } from '../src/protected-fetch.ts';
import { startServer, type TestServer, until } from './support/server.ts';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

/** A server answering with `script[i]` for its i-th request (the last one repeats). */
async function scripted(
  script: Array<{ status: number; headers?: Record<string, string>; body?: string }>,
): Promise<TestServer> {
  const server = await startServer(async (req, res) => {
    for await (const _ of req); // read the request body, as a real server would
    const step = script[Math.min(server.hits.total, script.length) - 1]!;
    res.writeHead(step.status, step.headers);
    res.end(step.body ?? `status ${step.status}`);
  });
  servers.push(server);
  return server;
}

describe('protectedFetch retries', () => {
  it('retries a GET that got a 503 and returns the later success', async () => {
    const server = await scripted([{ status: 503 }, { status: 200, body: 'ok' }]);
    const http = protectedFetch({ retry: { backoff: 0 } });
    const response = await http(server.origin);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok');
    assert.equal(server.hits.total, 2);
  });

  it('retries a connection error and counts every attempt', async () => {
    const server = await scripted([{ status: 200 }]);
    await server.close();
    const http = protectedFetch({ retry: { maxAttempts: 3, backoff: 0 } });
    await assert.rejects(http(server.origin), TypeError);
    assert.equal(http.breakers?.get(server.origin).snapshot().totals.failures, 3);
  });

  it('sends a POST once by default, even when it fails', async () => {
    const server = await scripted([{ status: 503 }, { status: 200 }]);
    const http = protectedFetch({ retry: { backoff: 0 } });
    const response = await http(server.origin, { method: 'POST', body: 'order' });
    assert.equal(response.status, 503);
    assert.equal(server.hits.total, 1);
  });

  it('retries a POST when retryMethods allows it, replaying its body', async () => {
    const bodies: string[] = [];
    const server = await startServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      bodies.push(body);
      res.statusCode = bodies.length === 1 ? 502 : 201;
      res.end();
    });
    servers.push(server);
    const http = protectedFetch({ retry: { backoff: 0 }, retryMethods: ['post'] });
    const response = await http(server.origin, { method: 'POST', body: 'order-42' });
    assert.equal(response.status, 201);
    assert.deepEqual(bodies, ['order-42', 'order-42']);
  });

  it('does not retry a request whose body is a stream', async () => {
    const server = await scripted([{ status: 503 }, { status: 200 }]);
    const http = protectedFetch({ retry: { backoff: 0 } });
    const body = new Blob(['chunk']).stream();
    const response = await http(server.origin, {
      method: 'PUT',
      body,
      duplex: 'half',
    } as RequestInit);
    assert.equal(response.status, 503);
    assert.equal(server.hits.total, 1);
  });

  it('returns the last failing response once attempts run out', async () => {
    const server = await scripted([{ status: 500, body: 'still broken' }]);
    const http = protectedFetch({ retry: { maxAttempts: 3, backoff: 0 } });
    const response = await http(server.origin);
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'still broken');
    assert.equal(server.hits.total, 3);
  });

  it('cancels the body of a response it discards before retrying', async () => {
    const server = await scripted([{ status: 503, body: 'x'.repeat(100_000) }, { status: 200 }]);
    const seen: Response[] = [];
    const http = protectedFetch({
      retry: { backoff: 0 },
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        seen.push(response);
        return response;
      },
    });
    const response = await http(server.origin);
    assert.equal(response.status, 200);
    assert.equal(seen.length, 2);
    assert.equal(seen[0]?.bodyUsed, true);
    assert.equal(seen[1]?.bodyUsed, false);
  });

  it('waits as long as Retry-After asks on a 503', async () => {
    const clock = new ManualClock();
    const server = await scripted([
      { status: 503, headers: { 'retry-after': '2' } },
      { status: 200 },
    ]);
    const http = protectedFetch({ clock, retry: { backoff: 0 } });
    const pending = http(server.origin);
    await until(() => clock.pendingTimers === 1, 'the retry wait');
    clock.advance(1_999);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(server.hits.total, 1);
    clock.advance(1);
    assert.equal((await pending).status, 200);
    assert.equal(server.hits.total, 2);
  });

  it('honours a Retry-After date on a 429, capped at maxRetryAfter', async () => {
    const clock = new ManualClock();
    const now = new Date();
    const server = await scripted([
      {
        status: 429,
        headers: {
          date: now.toUTCString(),
          'retry-after': new Date(now.getTime() + 3_600_000).toUTCString(),
        },
      },
      { status: 200 },
    ]);
    const http = protectedFetch({ clock, retry: { backoff: 0, maxRetryAfter: 1_000 } });
    const pending = http(server.origin);
    await until(() => clock.pendingTimers === 1, 'the retry wait');
    clock.advance(1_000);
    assert.equal((await pending).status, 200);
    assert.equal(server.hits.total, 2);
  });

  it('stops retrying when the breaker opens', async () => {
    const server = await scripted([{ status: 500 }]);
    const http = protectedFetch({
      retry: { maxAttempts: 5, backoff: 0 },
      breaker: { policy: consecutiveFailures(2) },
    });
    await assert.rejects(http(server.origin), CircuitOpenError);
    assert.equal(server.hits.total, 2);
  });

  it('stops waiting and retrying when the caller aborts', async () => {
    const clock = new ManualClock();
    const server = await scripted([{ status: 503 }]);
    const http = protectedFetch({ clock, retry: { backoff: 10_000 } });
    const controller = new AbortController();
    const pending = http(server.origin, { signal: controller.signal });
    await until(() => clock.pendingTimers === 1, 'the retry wait');
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(clock.pendingTimers, 0);
    assert.equal(server.hits.total, 1);
  });

  it('gives up when the retry budget is spent', async () => {
    const server = await scripted([{ status: 503 }]);
    const budget = new RetryBudget({ ratio: 0, minPerSecond: 0 });
    const http = protectedFetch({ retry: { backoff: 0, budget } });
    assert.equal((await http(server.origin)).status, 503);
    assert.equal(server.hits.total, 1);
  });

  it('retries nothing with retry: false', async () => {
    const server = await scripted([{ status: 503 }, { status: 200 }]);
    const http = protectedFetch({ retry: false });
    assert.equal((await http(server.origin)).status, 503);
    assert.equal(server.hits.total, 1);
  });
});
