import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TcpProbe } from '../../../src/upstream/health/probe-tcp.ts';
import { closedPortUrl, tcpServer } from '../../support/servers.ts';

test('passes when the port accepts a connection', async (t) => {
  const server = await tcpServer();
  t.after(() => server.close());
  const result = await new TcpProbe(server.url).run(AbortSignal.timeout(2_000));
  assert.deepEqual(result, { ok: true });
  assert.equal(server.hits(), 1);
});

test('fails with the error code when the port is closed', async () => {
  const result = await new TcpProbe(await closedPortUrl()).run(AbortSignal.timeout(2_000));
  assert.deepEqual(result, { ok: false, error: 'ECONNREFUSED' });
});

test('fails at once on an already aborted signal', async () => {
  const controller = new AbortController();
  controller.abort(new Error('stopped'));
  const result = await new TcpProbe('http://127.0.0.1:1').run(controller.signal);
  assert.deepEqual(result, { ok: false, error: 'stopped' });
});
