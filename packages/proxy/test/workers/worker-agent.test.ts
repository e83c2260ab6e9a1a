import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AttemptListener } from '../../src/request/host.ts';
import type { ToPrimary } from '../../src/workers/messages.ts';
import { attachWorkerAgent, type WorkerProxy } from '../../src/workers/worker-agent.ts';
import { eject, guardedPool } from '../support/ejections.ts';

/** A worker's proxy reduced to what the agent uses, and what the agent sent and did. */
function agentOnFakeProxy() {
  const { upstream } = guardedPool(2);
  const attemptListeners = new Set<AttemptListener>();
  const sent: ToPrimary[] = [];
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const proxy: WorkerProxy = {
    upstreams: new Map([[upstream.name, upstream]]),
    listeners: [],
    forwarder: {
      onAttempt: (listener) => {
        attemptListeners.add(listener);
        return () => attemptListeners.delete(listener);
      },
    },
    metrics: { registry: { getMetricsAsJSON: async () => [] } },
    reload: async () => ({ status: 'applied', warnings: [] }) as never,
    stopAccepting: () => {},
    close: async () => {},
  };
  const agent = attachWorkerAgent(proxy, (message) => sent.push(message), exited, {
    error: () => {},
  });
  const reports = () =>
    sent.flatMap((message) => (message.type === 'dashboard' ? [message.report] : []));
  return { upstream, agent, attemptListeners, reports, exit };
}

test('a stopping worker stops its dashboard reporter: no attempt listener, no timeline entries', async () => {
  const { upstream, agent, attemptListeners, reports, exit } = agentOnFakeProxy();
  agent({ bw: 'proxy', type: 'dashboard', id: 1 });
  assert.equal(attemptListeners.size, 1);

  agent({ bw: 'proxy', type: 'stop' });
  assert.equal(await exit, 0);
  assert.equal(attemptListeners.size, 0, 'the forwarder still calls the stopped reporter');

  // An ejection after the stop is not this worker's to report: its listeners are gone.
  eject(upstream, 0);
  // Asked again while it drains (the primary may ask until it exits): it answers without
  // subscribing again.
  agent({ bw: 'proxy', type: 'dashboard', id: 2 });
  assert.equal(attemptListeners.size, 0);
  assert.deepEqual(reports()[1]?.timeline, []);
  assert.equal(reports()[1]?.targets.length, 2);
});

test('a worker first asked for its dashboard while stopping answers without counting', async () => {
  const { agent, attemptListeners, reports, exit } = agentOnFakeProxy();
  agent({ bw: 'proxy', type: 'stop' });
  agent({ bw: 'proxy', type: 'dashboard', id: 1 });
  assert.equal(attemptListeners.size, 0);
  assert.equal(reports()[0]?.targets.length, 2);
  assert.equal(await exit, 0);
});
