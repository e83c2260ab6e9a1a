/**
 * Upstream thresholds end to end (`upstreams.<name>.limits`, after Envoy's cluster circuit
 * breakers): maxConnections per target, maxPending and maxRequests per upstream answered with
 * 503 OVERLOADED and Retry-After, maxRetries turning a retry away; counted in the admin API and
 * metrics. The upstream holds requests until the test lets them go, so nothing depends on timing.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import {
  closedPort,
  httpRequest,
  type SimpleResponse,
  startServer,
  startTestProxy,
  type TestServer,
} from '../support/proxy-harness.ts';
import { until } from '../support/servers.ts';

/** An upstream that answers only when released, and counts the connections made to it. */
async function holdingUpstream() {
  const held: ServerResponse[] = [];
  let connections = 0;
  let peakConnections = 0;
  const server: TestServer = await startServer((_req: IncomingMessage, res: ServerResponse) => {
    held.push(res);
  });
  server.server.on('connection', (socket) => {
    connections++;
    peakConnections = Math.max(peakConnections, connections);
    socket.once('close', () => connections--);
  });
  return {
    server,
    held,
    get peakConnections() {
      return peakConnections;
    },
    release() {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}

/** Polls an asynchronous condition (here, the admin API) until it holds, for at most 5 s. */
async function eventually(condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function yaml(targets: readonly string[], upstreamExtra: string): string {
  return `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
log: { level: silent }
upstreams:
  app:
    targets:
${targets.map((url) => `      - url: ${url}`).join('\n')}
${upstreamExtra}
routes: [ { upstream: app } ]
`;
}

describe('upstream limits', () => {
  test('maxConnections and maxPending: one connection, one waiting, the next gets 503 OVERLOADED', async () => {
    const upstream = await holdingUpstream();
    const proxy = await startTestProxy(
      yaml([upstream.server.url], '    limits: { maxConnections: 1, maxPending: 1 }'),
    );
    try {
      const first = httpRequest(proxy.url);
      await until(() => upstream.held.length === 1);
      const second = httpRequest(proxy.url); // waits for the one connection
      await eventually(async () => {
        const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
        return view.upstreams[0].pending === 1;
      });
      const third = await httpRequest(proxy.url);
      assert.equal(third.status, 503);
      assert.equal(third.headers['retry-after'], '1');
      assert.equal(JSON.parse(third.body).error.code, 'OVERLOADED');
      upstream.release();
      assert.equal((await first).status, 200);
      await until(() => upstream.held.length === 1);
      upstream.release();
      assert.equal((await second).status, 200);
      assert.equal(upstream.peakConnections, 1, 'never more than maxConnections to the target');
      const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
      assert.deepEqual(view.upstreams[0].overloads, {
        maxRequests: 0,
        maxPending: 1,
        maxRetries: 0,
        adaptiveConcurrency: 0,
      });
      const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
      assert.match(
        metrics,
        /breakwater_upstream_overloads_total\{upstream="app",limit="maxPending"\} 1/,
      );
    } finally {
      upstream.release();
      await proxy.close();
      await upstream.server.close();
    }
  });

  test('a target with a free connection takes the request before a busy one makes it wait', async () => {
    const a = await holdingUpstream();
    const b = await holdingUpstream();
    // Consistent hashing on the path would send every request to one target; a free connection wins.
    const proxy = await startTestProxy(
      yaml(
        [a.server.url, b.server.url],
        '    balance: consistent-hash\n    hashOn: path\n    limits: { maxConnections: 1, maxPending: 0 }',
      ),
    );
    try {
      const first = httpRequest(`${proxy.url}/same`);
      await until(() => a.held.length + b.held.length === 1);
      const second = httpRequest(`${proxy.url}/same`);
      await until(() => a.held.length === 1 && b.held.length === 1);
      const third = await httpRequest(`${proxy.url}/same`);
      assert.equal(third.status, 503, 'both connections busy and no waiting allowed');
      a.release();
      b.release();
      assert.deepEqual([(await first).status, (await second).status], [200, 200]);
    } finally {
      a.release();
      b.release();
      await proxy.close();
      await a.server.close();
      await b.server.close();
    }
  });

  test('maxRequests: beyond it in flight, 503 OVERLOADED without reaching a target', async () => {
    const upstream = await holdingUpstream();
    const proxy = await startTestProxy(
      yaml([upstream.server.url], '    limits: { maxRequests: 2 }'),
    );
    try {
      const inFlight: Promise<SimpleResponse>[] = [httpRequest(proxy.url), httpRequest(proxy.url)];
      await until(() => upstream.held.length === 2);
      const refused = await httpRequest(proxy.url, { method: 'POST', body: 'x' });
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.body).error.code, 'OVERLOADED');
      assert.match(JSON.parse(refused.body).error.message, /limits\.maxRequests \(2\)/);
      assert.equal(upstream.held.length, 2);
      upstream.release();
      for (const response of await Promise.all(inFlight)) assert.equal(response.status, 200);
    } finally {
      upstream.release();
      await proxy.close();
      await upstream.server.close();
    }
  });

  test('maxRetries: 0 turns every retry away and counts it', async () => {
    const dead = await closedPort();
    const alive = await startServer((_req, res) => res.end('alive'));
    const proxy = await startTestProxy(
      yaml(
        [`http://127.0.0.1:${dead}`, alive.url],
        '    balance: round-robin\n    outlierDetection: false\n    limits: { maxRetries: 0 }',
      ),
    );
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await httpRequest(proxy.url)).status);
      assert.deepEqual(statuses.sort(), [200, 200, 502, 502]);
      const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
      assert.equal(view.upstreams[0].overloads.maxRetries, 2);
    } finally {
      await proxy.close();
      await alive.close();
    }
  });

  test('maxRetries: a retry waiting out its backoff counts, so a second one is turned away', async () => {
    // The first two requests are held, then both answered 503 in the same tick: both retries are
    // decided before either backoff ends. Later requests (the retries) are answered at once.
    const held: ServerResponse[] = [];
    let received = 0;
    const upstream = await startServer((_req: IncomingMessage, res: ServerResponse) => {
      received++;
      if (received <= 2) held.push(res);
      else res.end('retried');
    });
    const proxy = await startTestProxy(
      yaml(
        [upstream.url],
        '    outlierDetection: false\n    limits: { maxRetries: 1 }\n' +
          '    retry: { attempts: 2, on: [503], backoff: { initial: 100ms, max: 100ms } }',
      ),
    );
    try {
      const responses = [httpRequest(proxy.url), httpRequest(proxy.url)];
      await until(() => held.length === 2);
      for (const res of held.splice(0)) {
        res.writeHead(503, { 'content-length': 4 });
        res.end('busy');
      }
      const statuses = (await Promise.all(responses)).map((response) => response.status);
      assert.deepEqual(statuses.sort(), [200, 503], 'one retry allowed, the other answer stands');
      assert.equal(received, 3, 'the upstream saw two requests and one retry');
      const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
      assert.equal(view.upstreams[0].overloads.maxRetries, 1);
      assert.equal(view.upstreams[0].retriesInFlight, 0);
    } finally {
      for (const res of held.splice(0)) res.end();
      await proxy.close();
      await upstream.close();
    }
  });

  test('maxRetries: a retry that fails may be replaced by the next one, which adds no retry in flight', async () => {
    // The first two tries are cut off (reset), the third answers: with maxRetries 1 the request
    // never has more than one retry in flight, so attempts: 3 is honoured.
    let received = 0;
    const upstream = await startServer((req: IncomingMessage, res: ServerResponse) => {
      received++;
      if (received <= 2) req.socket.destroy();
      else res.end('third time');
    });
    const proxy = await startTestProxy(
      yaml(
        [upstream.url],
        '    outlierDetection: false\n    limits: { maxRetries: 1 }\n    retry: { attempts: 3 }',
      ),
    );
    try {
      const response = await httpRequest(proxy.url);
      assert.equal(response.status, 200);
      assert.equal(received, 3);
      const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
      assert.equal(view.upstreams[0].overloads.maxRetries, 0);
      assert.equal(view.upstreams[0].retriesInFlight, 0);
    } finally {
      await proxy.close();
      await upstream.close();
    }
  });
});
