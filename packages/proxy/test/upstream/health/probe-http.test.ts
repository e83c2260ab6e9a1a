import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpProbe } from '../../../src/upstream/health/probe-http.ts';
import { closedPortUrl, httpServer, until } from '../../support/servers.ts';

const options = { path: '/healthz', expectStatus: [[200, 399]] as const, timeoutMs: 2_000 };

test('passes on an expected status, requesting the configured path and Host', async (t) => {
  let seen: { url?: string; host?: string } = {};
  const server = await httpServer((req, res) => {
    seen = { url: req.url, host: req.headers.host };
    res.end('ok');
  });
  const probe = new HttpProbe(server.url, { ...options, host: 'api.internal' });
  t.after(() => Promise.all([probe.close(), server.close()]));
  assert.deepEqual(await probe.run(AbortSignal.timeout(2_000)), { ok: true, status: 200 });
  assert.deepEqual(seen, { url: '/healthz', host: 'api.internal' });
});

test('fails on a status outside the expected ranges, reporting it', async (t) => {
  const server = await httpServer((_req, res) => {
    res.statusCode = 503;
    res.end('draining');
  });
  const probe = new HttpProbe(server.url, options);
  t.after(() => Promise.all([probe.close(), server.close()]));
  const result = await probe.run(AbortSignal.timeout(2_000));
  assert.equal(result.ok, false);
  assert.equal(result.status, 503);
});

test('fails with the error code when nothing listens', async (t) => {
  const probe = new HttpProbe(await closedPortUrl(), options);
  t.after(() => probe.close());
  const result = await probe.run(AbortSignal.timeout(2_000));
  assert.equal(result.ok, false);
  assert.equal(result.error, 'ECONNREFUSED');
});

test('fails when aborted while the server never answers', async (t) => {
  const server = await httpServer(() => {});
  const probe = new HttpProbe(server.url, options);
  t.after(() => Promise.all([probe.close(), server.close()]));
  const controller = new AbortController();
  const pending = probe.run(controller.signal);
  await until(() => server.hits() === 1, 'the probe to arrive');
  controller.abort(new Error('probe deadline'));
  const result = await pending;
  assert.equal(result.ok, false);
  assert.equal(result.error, 'probe deadline');
});

test('works again after close', async (t) => {
  const server = await httpServer((_req, res) => res.end());
  const probe = new HttpProbe(server.url, options);
  t.after(() => Promise.all([probe.close(), server.close()]));
  assert.equal((await probe.run(AbortSignal.timeout(2_000))).ok, true);
  await probe.close();
  assert.equal((await probe.run(AbortSignal.timeout(2_000))).ok, true);
  assert.equal(server.hits(), 2);
});
