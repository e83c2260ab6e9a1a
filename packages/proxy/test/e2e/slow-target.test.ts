/**
 * A target that answers slowly (not failing, so outlier detection has nothing to count): a
 * latency-aware balancer sends it almost nothing once it has seen one slow answer, and the admin
 * API shows what the balancer believes each target's latency is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpRequest, startServer, startTestProxy } from '../support/proxy-harness.ts';

test('peak-ewma sends almost nothing to a slow target and shows its latency', async () => {
  const hits = { fast: 0, slow: 0 };
  const fast = await startServer((_req, res) => {
    hits.fast++;
    res.end('fast');
  });
  const slow = await startServer((_req, res) => {
    hits.slow++;
    // Far slower than any scheduling stall of a loaded test machine, which the balancer would
    // also see as latency of the fast target.
    setTimeout(() => res.end('slow'), 1_000);
  });
  const proxy = await startTestProxy(`
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
upstreams:
  app:
    balance: peak-ewma
    targets: [ { url: ${fast.url} }, { url: ${slow.url} } ]
routes: [ { upstream: app } ]`);
  try {
    // Sequential requests: in flight never tips the balance, only latency does.
    for (let i = 0; i < 40; i++) assert.equal((await httpRequest(proxy.url)).status, 200);
    assert.ok(hits.slow <= 3, `the slow target got ${hits.slow} of 40`);
    const view = JSON.parse((await httpRequest(`${proxy.adminUrl}/api/upstreams`)).body);
    const latency = new Map(
      view.upstreams[0].targets.map((t: { url: string; latency: number }) => [t.url, t.latency]),
    );
    const slowMs = latency.get(slow.url) as number;
    const fastMs = latency.get(fast.url) as number;
    assert.ok(slowMs >= 500, `slow: ${slowMs}`);
    assert.ok(fastMs < slowMs / 2, `fast: ${fastMs}, slow: ${slowMs}`);
  } finally {
    await proxy.close();
    await fast.close();
    await slow.close();
  }
});
