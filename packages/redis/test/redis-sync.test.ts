import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type RedisSync, redisSync } from '@breakwater/redis';
import {
  CircuitBreaker,
  consecutiveFailures,
  type LeaseAnswer,
  type Permit,
  type SyncPeer,
  type SyncStatus,
  type SyncTransition,
} from 'breakwater';
import { type Client, cleanUp, connect, RedisServer, uniquePrefix } from './support/redis.ts';

/** A breaker's side of a link that only records what it is handed. */
class RecordingPeer implements SyncPeer {
  readonly messages: unknown[] = [];
  readonly statuses: SyncStatus[] = [];
  deliver(message: unknown): void {
    this.messages.push(message);
  }
  status(status: SyncStatus): void {
    this.statuses.push(status);
  }
}

async function until(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Polls `breaker.tryAcquire()` until it admits a call. */
async function acquire(breaker: CircuitBreaker, what: string, ms = 3_000): Promise<Permit> {
  const deadline = Date.now() + ms;
  for (;;) {
    const permit = breaker.tryAcquire();
    if (permit !== undefined) return permit;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(5);
  }
}

function trip(epoch: number, origin: string, remainingOpenMs = 5_000): SyncTransition {
  return {
    kind: 'transition',
    name: 'payments',
    epoch,
    origin,
    state: 'open',
    openAttempt: 0,
    lastOpenDuration: 5_000,
    remainingOpenMs,
  };
}

function lease(sync: RedisSync, peer: SyncPeer, epoch: number): Promise<LeaseAnswer> {
  const link = sync.attach('lease-test', peer);
  return new Promise((resolve) => link.lease(epoch, 2_000, resolve));
}

/**
 * A breaker that trips on one failure, stays open 100 ms and holds the fleet's trial lease for
 * 20 s: far longer than a test waits for another instance to take the lease back.
 */
function leaseHoldingBreaker(name: string, sync: RedisSync): CircuitBreaker {
  return new CircuitBreaker({
    name,
    sync,
    policy: consecutiveFailures(1),
    openDuration: 100,
    halfOpen: { maxDuration: 20_000 },
  });
}
describe('redisSync against the shared Redis', () => {
  const prefix = uniquePrefix();
  const clients: Client[] = [];
  const syncs: RedisSync[] = [];

  async function instance(id: string): Promise<RedisSync> {
    const client = await connect();
    clients.push(client);
    const sync = redisSync({ client, prefix, instanceId: id, log: () => {} });
    syncs.push(sync);
    await sync.ready();
    return sync;
  }

  after(async () => {
    for (const sync of syncs) await sync.close();
    if (clients[0]) await cleanUp(clients[0], prefix);
    for (const client of clients) client.destroy();
  });

  it('hands a published transition to the breaker of that name in every other instance', async () => {
    const [a, b, c] = [await instance('a'), await instance('b'), await instance('c')];
    const [pa, pb, pc, other] = [
      new RecordingPeer(),
      new RecordingPeer(),
      new RecordingPeer(),
      new RecordingPeer(),
    ];
    const link = a.attach('payments', pa);
    b.attach('payments', pb);
    c.attach('payments', pc);
    c.attach('inventory', other);
    await delay(50);
    link.publish(trip(1, 'a'));
    await until(() => pb.messages.length > 0 && pc.messages.length > 0, 'delivery');
    assert.equal((pb.messages[0] as SyncTransition).origin, 'a');
    assert.equal((pc.messages[0] as SyncTransition).state, 'open');
    assert.deepEqual(other.messages, []);
  });

  it('keeps the newest transition and tells a sender whose transition lost', async () => {
    const a = await instance('a2');
    const peer = new RecordingPeer();
    const link = a.attach('race', peer);
    await delay(30);
    link.publish({ ...trip(10, 'z'), name: 'race' });
    link.publish({ ...trip(9, 'y'), name: 'race' });
    await until(() => peer.messages.some((m) => (m as SyncTransition).epoch === 10), 'the winner');
    const winner = peer.messages.find(
      (m) => (m as SyncTransition).origin === 'z',
    ) as SyncTransition;
    assert.equal(winner.epoch, 10);
  });

  it('gives a newcomer the shared state with the time left open', async () => {
    const a = await instance('a3');
    a.attach('late', new RecordingPeer()).publish({ ...trip(3, 'a3', 5_000), name: 'late' });
    await delay(100);
    const b = await instance('b3');
    const peer = new RecordingPeer();
    b.attach('late', peer);
    await until(() => peer.messages.length > 0, 'the shared state');
    const state = peer.messages[0] as SyncTransition;
    assert.equal(state.epoch, 3);
    assert.ok(
      state.remainingOpenMs <= 4_950 && state.remainingOpenMs > 3_000,
      `${state.remainingOpenMs}`,
    );
  });

  it('grants the trial lease of an open period to one instance', async () => {
    const [a, b] = [await instance('la'), await instance('lb')];
    const [first, second] = await Promise.all([
      lease(a, new RecordingPeer(), 42),
      lease(b, new RecordingPeer(), 42),
    ]);
    assert.equal(Number(first.granted) + Number(second.granted), 1);
    const loser = first.granted ? second : first;
    assert.ok(loser.retryInMs > 1_000 && loser.retryInMs <= 2_000, `${loser.retryInMs}`);
    assert.equal((await lease(a, new RecordingPeer(), 43)).granted, true, 'the next epoch is free');
  });

  it('lets another instance probe within a second when the trial lease holder is disposed', async (t) => {
    const [a, b] = [await instance('da'), await instance('db')];
    // The lease would be held 20 s: far longer than this test waits for the other instance.
    const breaker = (sync: RedisSync) => leaseHoldingBreaker('disposed', sync);
    const [ba, bb] = [breaker(a), breaker(b)];
    t.after(() => {
      ba.dispose();
      bb.dispose();
    });
    await delay(50);
    assert.throws(() =>
      ba.executeSync(() => {
        throw new Error('down');
      }),
    );
    await until(() => bb.state === 'open', 'the trip to reach the other instance');
    await delay(150);
    const trial = await acquire(ba, 'the lease for the tripped one');
    // Refused (Redis answers with the holder's 20 s): it asks again within a second.
    assert.equal(bb.tryAcquire(), undefined);
    await delay(100);
    assert.equal(bb.tryAcquire(), undefined, 'the holder keeps the lease');
    const disposed = performance.now();
    ba.dispose();
    const probe = await acquire(bb, 'the other instance to probe', 2_500);
    assert.ok(performance.now() - disposed < 2_500);
    probe.success();
    assert.equal(bb.state, 'closed');
    assert.doesNotThrow(() => trial.failure(new Error('late')), 'the disposed one settles alone');
  });

  it('gives back the trial lease only for its holder and that epoch', async () => {
    const [a, b] = [await instance('ra'), await instance('rb')];
    const [la, lb] = [
      a.attach('release', new RecordingPeer()),
      b.attach('release', new RecordingPeer()),
    ];
    const take = (link: typeof la, epoch: number, ttlMs = 20_000) =>
      new Promise<LeaseAnswer>((resolve) => link.lease(epoch, ttlMs, resolve));
    const holder = (epoch: number) => clients[0]!.get(`${prefix}{release}:lease:${epoch}`);
    const settled = () => delay(100);

    assert.equal((await take(la, 7)).granted, true);
    lb.release?.(7);
    await settled();
    assert.equal(await holder(7), 'ra|1', 'not given back by an instance that does not hold it');
    assert.equal((await take(lb, 7)).granted, false);

    assert.equal((await take(la, 6)).granted, true);
    assert.equal((await take(lb, 8, 50)).granted, true);
    await delay(100);
    assert.equal((await take(la, 8)).granted, true, 'rb’s lease ran out; ra took the next one');
    lb.release?.(8);
    la.release?.(6);
    await settled();
    assert.equal(
      await holder(8),
      'ra|1',
      'a late release after the lease went to another: nothing',
    );
    assert.equal(await holder(6), null, 'ra gives back its lease of epoch 6');
    assert.equal(await holder(7), 'ra|1', 'and keeps the one of epoch 7');

    la.release?.(7);
    await settled();
    assert.equal(await holder(7), null, 'the holder gives it back');
    assert.equal((await take(lb, 7)).granted, true, 'and the next instance takes it at once');
  });

  it('gives back only its own lease when another breaker of its name replaced it in this process', async (t) => {
    const [a, b] = [await instance('sa'), await instance('sb')];
    const breaker = (sync: RedisSync) => leaseHoldingBreaker('replaced', sync);
    const [old, other] = [breaker(a), breaker(b)];
    await delay(50);
    assert.throws(() =>
      old.executeSync(() => {
        throw new Error('down');
      }),
    );
    await until(() => other.state === 'open', 'the trip to reach the other instance');
    await delay(150);
    await acquire(old, 'the lease for the old breaker');
    // The process replaces it (a config reload): the new one first, then the old one disposed.
    const successor = breaker(a);
    t.after(() => {
      successor.dispose();
      other.dispose();
    });
    await until(() => successor.snapshot().sync?.epoch === old.snapshot().sync?.epoch, 'the read');
    assert.equal(successor.tryAcquire(), undefined);
    await delay(100);
    assert.equal(successor.tryAcquire(), undefined, 'the old breaker’s trial is still running');
    old.dispose();
    const trial = await acquire(successor, 'the successor to take the lease given back', 2_500);
    await delay(1_100);
    assert.equal(other.tryAcquire(), undefined, 'one trial in the fleet');
    trial.success();
    await until(() => other.state === 'closed', 'the outcome to reach the other instance');
  });

  it('keeps a successor subscribed when the breaker of its name it replaced is disposed', async () => {
    const [a, b] = [await instance('ua'), await instance('ub')];
    const breaker = (sync: RedisSync) =>
      new CircuitBreaker({
        name: 'resubscribed',
        sync,
        policy: consecutiveFailures(1),
        openDuration: 5_000,
      });
    const [old, other] = [breaker(a), breaker(b)];
    await delay(50);
    const successor = breaker(a);
    await delay(50);
    old.dispose();
    await delay(50);
    assert.throws(() =>
      other.executeSync(() => {
        throw new Error('down');
      }),
    );
    await until(() => successor.state === 'open', 'the trip to reach the successor');
    successor.dispose();
    other.dispose();
    const channel = `${prefix}{resubscribed}:events`;
    const subscribers = async () =>
      (await clients[0]!.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel])) as [string, number];
    const deadline = Date.now() + 3_000;
    while ((await subscribers())[1] !== 0 && Date.now() < deadline) await delay(10);
    assert.equal((await subscribers())[1], 0, 'the last breaker gone, the channel is left');
  });

  it('returns every instance’s counts on a flush and publishes them on a failure', async () => {
    const [a, b] = [await instance('ca'), await instance('cb')];
    const [pa, pb] = [new RecordingPeer(), new RecordingPeer()];
    const la = a.attach('counts', pa);
    const lb = b.attach('counts', pb);
    await delay(30);
    const counts = (origin: string, counts: Record<string, number>) => ({
      kind: 'counts' as const,
      name: 'counts',
      epoch: 0,
      origin,
      counts,
    });
    lb.publish(counts('cb', { 'cb|s': 7 }));
    await until(() => pb.messages.length > 0, 'the flush reply');
    la.publish(counts('ca', { 'ca|s': 2, 'ca|f': 1 }));
    await until(() => pb.messages.length > 1 && pa.messages.length > 0, 'the urgent publish');
    const seen = pb.messages.at(-1) as { counts: Record<string, number> };
    assert.deepEqual(seen.counts, { 'cb|s': 7, 'ca|s': 2, 'ca|f': 1 });
  });

  it('drops a message on a breaker’s channel that is not JSON, and counts it', async () => {
    const a = await instance('ma');
    const dropped: string[] = [];
    a.on('dropped', ({ reason }) => dropped.push(reason));
    a.attach('junk', new RecordingPeer());
    await delay(30);
    await clients[0]!.sPublish(`${prefix}{junk}:events`, 'not json {');
    await until(() => dropped.length > 0, 'the drop');
    assert.deepEqual(dropped, ['malformed']);
  });

  it('rejects options that cannot work, naming them', () => {
    const client = clients[0]!;
    assert.throws(() => redisSync({ client, prefix: 'a{b}' }), /prefix/);
    assert.throws(() => redisSync({ client, instanceId: 'a|b' }), /instanceId/);
    assert.throws(() => redisSync({ client, flushInterval: 0 }), /flushInterval/);
    assert.throws(() => redisSync({ client: {} as never }), /client/);
  });
});

describe('redisSync when Redis fails a release', () => {
  it('marks Redis unreachable like any failed command, and nothing is thrown or left rejected', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    // A client whose every command works, except on a lease key.
    const client = {
      isReady: true,
      evalSha: async (_sha: string, { keys }: { keys: string[] }) => {
        if (keys[0]?.includes(':lease:'))
          throw new Error('READONLY You can’t write against a replica');
        return null;
      },
      eval: async () => null,
      on: () => client,
      duplicate: () => ({
        isReady: true,
        connect: async () => {},
        sSubscribe: async () => {},
        sUnsubscribe: async () => {},
        on: () => {},
        destroy: () => {},
      }),
    };
    const logs: string[] = [];
    const sync = redisSync({ client, instanceId: 'e', log: (line) => logs.push(line) });
    await sync.ready();
    const link = sync.attach('payments', new RecordingPeer());
    await delay(20);
    assert.equal(sync.status, 'connected');
    assert.doesNotThrow(() => link.release?.(3));
    await until(() => sync.status === 'alone', 'the failed release to be noticed');
    assert.equal(logs.filter((line) => line.includes('unreachable')).length, 1);
    link.detach();
    await sync.close();
    await delay(20);
    process.off('unhandledRejection', onRejection);
    assert.deepEqual(rejections, []);
  });
});

describe('redisSync with a breaker replaced in its process', () => {
  it('still reads the successor’s state when Redis is back after the old breaker is disposed', async () => {
    const reads: string[] = [];
    const ready: Array<() => void> = [];
    const client = {
      isReady: true,
      evalSha: async (_sha: string, { keys }: { keys: string[] }) => {
        if (keys[0]?.endsWith(':state')) reads.push(keys[0]);
        return null;
      },
      eval: async () => null,
      on: () => client,
      duplicate: () => ({
        isReady: true,
        connect: async () => {},
        sSubscribe: async () => {},
        sUnsubscribe: async () => {},
        on: (event: string, listener: (...args: never[]) => void) => {
          if (event === 'ready') ready.push(listener as () => void);
        },
        destroy: () => {},
      }),
    };
    const sync = redisSync({ client, instanceId: 'r', log: () => {} });
    await sync.ready();
    const old = sync.attach('payments', new RecordingPeer());
    const successor = sync.attach('payments', new RecordingPeer());
    await delay(20);
    old.detach();
    reads.length = 0;
    for (const listener of ready) listener(); // the subscriber reconnected
    await delay(20);
    assert.deepEqual(reads, ['breakwater:{payments}:state'], 'the successor converges again');
    successor.detach();
    await sync.close();
  });
});

describe('redisSync when Redis goes away', () => {
  let server: RedisServer;
  before(async () => {
    server = await RedisServer.start();
  });
  after(async () => {
    await server.stop();
  });

  it('answers at once alone, logs the outage once, and shares again when Redis is back', async () => {
    const prefix = uniquePrefix();
    const client = await connect(server.url);
    const logs: string[] = [];
    const sync = redisSync({
      client,
      prefix,
      instanceId: 'x',
      log: (line) => logs.push(line),
      commandTimeout: 300,
    });
    await sync.ready();
    const peer = new RecordingPeer();
    const link = sync.attach('payments', peer);
    await delay(30);
    link.publish(trip(1, 'x'));
    await delay(30);
    await server.stop();
    await until(() => sync.status === 'alone', 'the outage to be noticed');
    const started = performance.now();
    link.publish(trip(2, 'x'));
    const answer = await new Promise<LeaseAnswer>((resolve) => link.lease(2, 1_000, resolve));
    assert.ok(performance.now() - started < 5, 'no wait while Redis is down');
    assert.equal(answer.granted, true, 'alone, an instance decides for itself');
    await delay(200);
    assert.equal(logs.filter((line) => line.includes('unreachable')).length, 1);
    await server.start();
    const back = performance.now();
    await until(() => sync.status === 'connected', 'reconnection', 2_000);
    await until(() => peer.statuses.at(-1) === 'connected', 'the breaker to hear it');
    assert.ok(performance.now() - back < 2_000);
    await sync.close();
    client.destroy();
  });
});
