/**
 * Per-target adaptive concurrency, seen from outside: beyond a target's limit a request goes to
 * another target, and when every target is at its limit the proxy answers 503 OVERLOADED with
 * Retry-After at once; the limits show in the admin API and the metrics.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { httpRequest, startServer, startTestProxy } from '../support/proxy-harness.ts';

/** A target that holds every response until released. */
async function holdingTarget() {
  const held: ServerResponse[] = [];
  const server = await startServer((req, res) => {
    req.resume();
    held.push(res);
  });
  return {
    server,
    held,
    release() {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(condition(), 'condition not reached within 2.5 s');
}

test('beyond every target’s limit the proxy answers 503 OVERLOADED with Retry-After', async () => {
  const a = await holdingTarget();
  const b = await holdingTarget();
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    balance: round-robin
    targets: [ { url: ${a.server.url} }, { url: ${b.server.url} } ]
    adaptiveConcurrency: { initialLimit: 2, minLimit: 1 }
routes: [ { upstream: app } ]`);
  try {
    const running = Array.from({ length: 4 }, () => httpRequest(proxy.url));
    // Round robin would send two to each anyway; the fifth finds both full.
    await until(() => a.held.length + b.held.length === 4);
    assert.equal(a.held.length, 2);
    assert.equal(b.held.length, 2);
    const refused = await httpRequest(proxy.url);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(JSON.parse(refused.body).error.code, 'OVERLOADED');

    const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
    for (const target of view.upstreams[0].targets) {
      assert.deepEqual(target.concurrency, { limit: 2, inFlight: 2 });
    }
    const metrics = (await httpRequest(`${proxy.adminUrl}/metrics`)).body;
    assert.match(
      metrics,
      new RegExp(
        `breakwater_target_concurrency_limit\\{upstream="app",target="${a.server.url}"\\} 2`,
      ),
    );
    assert.match(metrics, /breakwater_proxy_errors_total\{upstream="app",code="OVERLOADED"\} 1/);
    // Counted with the other overload refusals (limits.maxRequests, maxPending…).
    assert.match(
      metrics,
      /breakwater_upstream_overloads_total\{upstream="app",limit="adaptiveConcurrency"\} 1/,
    );
    assert.equal(view.upstreams[0].overloads.adaptiveConcurrency, 1);

    a.release();
    b.release();
    for (const response of await Promise.all(running)) assert.equal(response.status, 200);
    // Every slot came back with its answer.
    for (const target of proxy.upstreams.get('app')!.targets)
      assert.equal(target.limiter!.inFlight, 0);
  } finally {
    a.release();
    b.release();
    await proxy.close();
    await a.server.close();
    await b.server.close();
  }
});

test('a target at its limit is passed over for one with room', async () => {
  const full = await holdingTarget();
  const free = await startServer((_req, res) => res.end('free'));
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
upstreams:
  app:
    balance: round-robin
    targets: [ { url: ${full.server.url} }, { url: ${free.url} } ]
    adaptiveConcurrency: { initialLimit: 1, minLimit: 1 }
routes: [ { upstream: app } ]`);
  try {
    const held = httpRequest(proxy.url);
    await until(() => full.held.length === 1);
    // Round robin now points at the other target, then back at the full one: both answered.
    for (let i = 0; i < 4; i++) {
      const response = await httpRequest(proxy.url);
      assert.equal(response.status, 200);
      assert.equal(response.body, 'free');
    }
    full.release();
    assert.equal((await held).status, 200);
  } finally {
    full.release();
    await proxy.close();
    await full.server.close();
    await free.close();
  }
});
