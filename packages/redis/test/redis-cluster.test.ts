import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { redisSync } from '@breakwater/redis';
import type { LeaseAnswer, SyncTransition } from 'breakwater';
import { createCluster } from 'redis';
import { RedisCluster } from './support/redis.ts';

function makeCluster(port: number) {
  return createCluster({
    rootNodes: [{ url: `redis://127.0.0.1:${port}` }],
    defaults: { socket: { reconnectStrategy: () => 100, connectTimeout: 1_000 } },
  });
}

describe('redisSync on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('shares transitions, leases and counts of breakers whose keys live on different nodes', async () => {
    const clients = [makeCluster(cluster.nodes[0]!.port), makeCluster(cluster.nodes[1]!.port)];
    for (const client of clients) {
      client.on('error', () => {});
      await client.connect();
    }
    const [a, b] = clients.map((client, i) =>
      redisSync({ client, instanceId: `node-${i}`, log: () => {} }),
    ) as [ReturnType<typeof redisSync>, ReturnType<typeof redisSync>];
    await Promise.all([a.ready(), b.ready()]);
    // Enough names that their hash tags spread over all three masters.
    const names = Array.from({ length: 12 }, (_, i) => `dependency-${i}`);
    const received = new Map<string, unknown[]>();
    const links = names.map((name) => {
      received.set(name, []);
      b.attach(name, { deliver: (m) => received.get(name)!.push(m), status: () => {} });
      return a.attach(name, { deliver: () => {}, status: () => {} });
    });
    await delay(200);
    for (const [i, link] of links.entries()) {
      link.publish({
        kind: 'transition',
        name: names[i]!,
        epoch: 5,
        origin: 'node-0',
        state: 'open',
        openAttempt: 0,
        lastOpenDuration: 1_000,
        remainingOpenMs: 1_000,
      });
    }
    const deadline = Date.now() + 3_000;
    while ([...received.values()].some((list) => list.length === 0) && Date.now() < deadline) {
      await delay(10);
    }
    for (const name of names) {
      const [message] = received.get(name) as SyncTransition[];
      assert.equal(message?.epoch, 5, `transition of ${name}`);
    }
    const answers = await Promise.all(
      links.map((link) => new Promise<LeaseAnswer>((resolve) => link.lease(5, 1_000, resolve))),
    );
    assert.ok(answers.every((answer) => answer.granted));
    for (const [i, link] of links.entries()) {
      link.publish({
        kind: 'counts',
        name: names[i]!,
        epoch: 5,
        origin: 'node-0',
        counts: { 'node-0|s': 3, 'node-0|f': 1 },
      });
    }
    const countsDeadline = Date.now() + 3_000;
    while ([...received.values()].some((list) => list.length < 2) && Date.now() < countsDeadline) {
      await delay(10);
    }
    for (const name of names) {
      const counts = received.get(name)?.[1] as { counts?: Record<string, number> } | undefined;
      assert.deepEqual(counts?.counts, { 'node-0|s': 3, 'node-0|f': 1 }, `counts of ${name}`);
    }
    const slots = new Set(
      await Promise.all(
        names.map((name) => clients[0]!.clusterKeySlot(`breakwater:{${name}}:state`)),
      ),
    );
    assert.ok(slots.size > 1, 'the names spread over several slots');
    for (const name of names) {
      const state = await clients[0]!.clusterKeySlot(`breakwater:{${name}}:state`);
      const channel = await clients[0]!.clusterKeySlot(`breakwater:{${name}}:events`);
      assert.equal(state, channel, 'one breaker, one slot');
    }
    await a.close();
    await b.close();
    for (const client of clients) client.destroy();
  });
});
