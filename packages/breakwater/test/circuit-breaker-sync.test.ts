import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BreakerRegistry,
  CircuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  consecutiveFailures,
  exponential,
  failureRate,
  InvalidOptionError,
  ManualClock,
} from 'breakwater';
import { MemoryFleet } from './support/memory-sync.ts';

const boom = new Error('boom');
const fail = (): never => {
  throw boom;
};
const ok = () => 'ok';

function fleetOf(n: number, options: CircuitBreakerOptions = {}) {
  const clock = new ManualClock();
  const fleet = new MemoryFleet(clock);
  const transports = Array.from({ length: n }, (_, i) => fleet.join(`i${i}`));
  const breakers = transports.map(
    (sync) =>
      new CircuitBreaker({
        name: 'payments',
        clock,
        sync,
        policy: consecutiveFailures(3),
        openDuration: exponential({ initial: 1_000, max: 60_000, factor: 2 }),
        ...options,
      }),
  );
  return { clock, fleet, transports, breakers };
}

function failTimes(breaker: CircuitBreaker, n: number): void {
  for (let i = 0; i < n; i++) assert.throws(() => breaker.executeSync(fail), boom);
}

describe('CircuitBreaker with sync, transitions mode', () => {
  it('opens every instance for the same remaining time when one trips', () => {
    const { clock, fleet, breakers } = fleetOf(4);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(100);
    for (const breaker of breakers) {
      assert.equal(breaker.state, 'open');
      assert.throws(() => breaker.executeSync(ok), CircuitOpenError);
    }
    assert.equal(breakers[0]!.retryAfter, 900);
    assert.equal(breakers[3]!.retryAfter, 900, 'open until the same moment');
    assert.equal(breakers[3]!.snapshot().sync?.source, 'i0');
    assert.equal(breakers[0]!.snapshot().sync?.source, 'local');
  });

  it('lets exactly one trial reach the dependency across the fleet, and its success closes all', () => {
    const { clock, fleet, breakers } = fleetOf(4);
    failTimes(breakers[1]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    let trials = 0;
    const pending: Array<() => void> = [];
    for (let round = 0; round < 3; round++) {
      for (const breaker of breakers) {
        breaker
          .execute(
            () =>
              new Promise<void>((resolve) => {
                trials++;
                pending.push(resolve);
              }),
          )
          .catch(() => {});
      }
    }
    assert.equal(trials, 1);
    pending[0]!();
    return Promise.resolve().then(async () => {
      await clock.tick();
      fleet.deliverAll();
      for (const breaker of breakers) assert.equal(breaker.state, 'closed');
    });
  });

  it('restored from a half-open snapshot, still lets only one instance of the fleet try', () => {
    const clock = new ManualClock();
    const alone = new CircuitBreaker({ name: 'payments', clock, openDuration: 1_000 });
    failTimes(alone, 5);
    clock.advance(1_000);
    const snapshot = alone.snapshot();
    assert.equal(snapshot.state, 'half-open');
    const fleet = new MemoryFleet(clock);
    const breakers = ['i0', 'i1', 'i2'].map(
      (id) =>
        new CircuitBreaker({
          name: 'payments',
          clock,
          sync: fleet.join(id),
          initialState: snapshot,
        }),
    );
    fleet.deliverAll();
    const admitted = breakers.map((breaker) => breaker.tryAcquire() !== undefined);
    assert.deepEqual(admitted, [true, false, false], 'one trial lease for the fleet');
    assert.equal(
      breakers[1]!.snapshot().reason?.rule,
      snapshot.reason?.rule,
      'the restored reason',
    );
  });

  it('reopens every instance with the next backoff step when the trial fails', async () => {
    const { clock, fleet, breakers } = fleetOf(4);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    const outcomes = breakers.map((breaker) => breaker.execute(fail).catch((error) => error));
    assert.deepEqual(
      (await Promise.all(outcomes)).map((error) => error === boom),
      [true, false, false, false],
      'one trial, the others rejected',
    );
    fleet.deliverAll();
    for (const breaker of breakers) {
      assert.equal(breaker.state, 'open');
      assert.equal(breaker.retryAfter, 2_000, 'the second step of the backoff');
      assert.equal(breaker.snapshot().openAttempt, 1);
    }
  });

  it('lets another instance try once the holder of the lease dies with its trial', () => {
    const { clock, fleet, transports, breakers } = fleetOf(2, { halfOpen: { maxDuration: 500 } });
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    assert.ok(breakers[0]!.tryAcquire(), 'the holder takes its trial');
    assert.equal(breakers[1]!.tryAcquire(), undefined);
    transports[0]!.setStatus('alone'); // the holder is gone; its lease runs out
    clock.advance(500);
    assert.ok(breakers[1]!.tryAcquire(), 'the next instance takes over');
  });

  it('an instance that missed the close learns it when its lease request is refused', async () => {
    const { clock, fleet, breakers } = fleetOf(2);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    await breakers[0]!.execute(ok);
    fleet.queue = []; // the close never reaches instance 1
    assert.equal(breakers[0]!.state, 'closed');
    assert.equal(breakers[1]!.tryAcquire(), undefined, 'refused: the lease is of an old epoch');
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'closed');
  });

  it('picks up the shared state when it starts', () => {
    const { clock, fleet, breakers } = fleetOf(1);
    failTimes(breakers[0]!, 3);
    clock.advance(400);
    const restarted = new CircuitBreaker({ name: 'payments', clock, sync: fleet.join('new') });
    fleet.deliverAll();
    assert.equal(restarted.state, 'open');
    assert.equal(restarted.retryAfter, 600);
  });

  it('decides alone while cut off, and converges when back', () => {
    const { clock, fleet, transports, breakers } = fleetOf(2);
    transports[1]!.setStatus('alone');
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'closed', 'never heard of the trip');
    assert.equal(breakers[1]!.snapshot().sync?.status, 'alone');
    clock.advance(200);
    transports[1]!.setStatus('connected');
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'open');
    assert.equal(breakers[1]!.retryAfter, 800);
  });

  it('keeps an operator’s forced-open breaker forced open', () => {
    const { fleet, breakers } = fleetOf(2);
    breakers[1]!.forceOpen();
    breakers[0]!.reset();
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'forced-open');
  });

  it('shares a reset: a close closes everyone', () => {
    const { fleet, breakers } = fleetOf(3);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    breakers[2]!.reset();
    fleet.deliverAll();
    for (const breaker of breakers) assert.equal(breaker.state, 'closed');
  });

  it('stops sharing once disposed', () => {
    const { fleet, breakers } = fleetOf(2);
    breakers[1]!.dispose();
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'closed');
  });

  it('disposed while it holds the trial lease, gives it back: another instance probes within a second', () => {
    const { clock, fleet, transports, breakers } = fleetOf(2, {
      halfOpen: { maxDuration: 30_000 },
    });
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    const trial = breakers[0]!.tryAcquire();
    assert.ok(trial, 'instance 0 holds the lease and runs the trial');
    assert.equal(breakers[1]!.tryAcquire(), undefined);
    breakers[0]!.dispose();
    assert.deepEqual(transports[0]!.released, [transports[0]!.published.at(-1)!.epoch]);
    clock.advance(999);
    assert.equal(breakers[1]!.tryAcquire(), undefined, 'denied a moment ago: asks again in 1 s');
    clock.advance(1);
    const probe = breakers[1]!.tryAcquire();
    assert.ok(probe, 'not kept open until the lease would have run out (30 s)');
    probe.success();
    fleet.deliverAll();
    assert.equal(breakers[1]!.state, 'closed');
  });

  it('disposed mid-trial, takes the trial’s late outcome alone: no throw, nothing shared', () => {
    for (const settle of ['success', 'failure', 'ignore'] as const) {
      const { clock, fleet, transports, breakers } = fleetOf(2);
      failTimes(breakers[0]!, 3);
      fleet.deliverAll();
      clock.advance(1_000);
      const trial = breakers[0]!.tryAcquire()!;
      breakers[0]!.dispose();
      breakers[0]!.dispose(); // twice does nothing more
      const published = transports[0]!.published.length;
      assert.doesNotThrow(() => trial[settle](), settle);
      fleet.deliverAll();
      assert.equal(transports[0]!.published.length, published, `${settle}: nothing published`);
      // Neither closed nor reopened by it: instance 1 takes the trial lease given back.
      assert.equal(breakers[1]!.state, 'half-open', `${settle}: the fleet is not told`);
      assert.equal(breakers[1]!.snapshot().openAttempt, 0);
      assert.equal(transports[0]!.released.length, 1, 'the lease was given back once');
      const expected =
        settle === 'success' ? 'closed' : settle === 'failure' ? 'open' : 'half-open';
      assert.equal(breakers[0]!.state, expected, `${settle}: the disposed breaker goes on alone`);
    }
  });

  it('disposed while its lease request is unanswered, gives the lease back when it comes', () => {
    const { clock, fleet, transports, breakers } = fleetOf(2);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    transports[0]!.holdLeases = true;
    assert.equal(breakers[0]!.tryAcquire(), undefined, 'waiting for the lease');
    breakers[0]!.dispose();
    for (const answer of transports[0]!.heldLeases.splice(0)) answer();
    assert.equal(transports[0]!.released.length, 1);
    assert.ok(breakers[1]!.tryAcquire(), 'the lease granted after dispose went back');
  });

  it('does not give back a lease it does not hold', () => {
    const { clock, fleet, transports, breakers } = fleetOf(2);
    failTimes(breakers[0]!, 3);
    fleet.deliverAll();
    clock.advance(1_000);
    assert.ok(breakers[0]!.tryAcquire());
    assert.equal(breakers[1]!.tryAcquire(), undefined, 'refused: instance 0 holds it');
    breakers[1]!.dispose();
    assert.deepEqual(transports[1]!.released, []);
  });

  it('refuses sync without a name, and an unknown mode', () => {
    const sync = new MemoryFleet(new ManualClock()).join('x');
    assert.throws(() => new CircuitBreaker({ sync }), InvalidOptionError);
    assert.throws(
      () => new CircuitBreaker({ name: 'a', sync, syncMode: 'everything' as never }),
      /syncMode/,
    );
    assert.throws(() => new CircuitBreaker({ name: 'a', sync: {} as never }), /sync/);
  });
});

describe('CircuitBreaker with sync, outcomes mode', () => {
  it('trips a 30 % failure rate on the fleet’s calls that no instance would trip alone', () => {
    const policy = failureRate({ threshold: 0.3, minimumCalls: 40, window: { calls: 80 } });
    const { clock, fleet, breakers } = fleetOf(8, { policy, syncMode: 'outcomes' });
    // Each instance: 7 successes, then 3 failures, far below its own minimumCalls.
    for (const breaker of breakers) {
      for (let i = 0; i < 7; i++) breaker.executeSync(ok);
    }
    clock.advance(250);
    fleet.deliverAll();
    for (const breaker of breakers) failTimes(breaker, 3);
    fleet.deliverAll();
    for (const breaker of breakers) assert.equal(breaker.state, 'open');
    const alone = new CircuitBreaker({ clock, policy });
    for (let i = 0; i < 7; i++) alone.executeSync(ok);
    failTimes(alone, 3);
    assert.equal(alone.state, 'closed', 'one instance alone stays closed');
  });

  it('judges consecutive failures as one fleet-wide run', () => {
    const { fleet, breakers } = fleetOf(3, { syncMode: 'outcomes' });
    for (const breaker of breakers) {
      failTimes(breaker, 1);
      fleet.deliverAll();
    }
    for (const breaker of breakers) assert.equal(breaker.state, 'open');
  });

  it('does not add other instances’ outcomes to this breaker’s totals', () => {
    const { fleet, breakers } = fleetOf(2, { syncMode: 'outcomes' });
    failTimes(breakers[0]!, 1);
    fleet.deliverAll();
    assert.equal(breakers[1]!.snapshot().totals.failures, 0);
    assert.equal(breakers[1]!.snapshot().policy?.failures, 1);
  });
});

describe('BreakerRegistry with sync', () => {
  it('shares every breaker it makes and lists where each state came from', () => {
    const clock = new ManualClock();
    const fleet = new MemoryFleet(clock);
    const registries = ['a', 'b'].map(
      (id) =>
        new BreakerRegistry({
          defaults: { policy: consecutiveFailures(2) },
          overrides: { search: { syncMode: 'outcomes' } },
          clock,
          sync: fleet.join(id),
        }),
    );
    const [a, b] = registries as [BreakerRegistry, BreakerRegistry];
    b.get('payments');
    b.get('search');
    failTimes(a.get('payments'), 2);
    fleet.deliverAll();
    const rows = b.list();
    assert.deepEqual(
      rows.map(({ name, snapshot }) => [
        name,
        snapshot.state,
        snapshot.sync?.source,
        snapshot.sync?.mode,
      ]),
      [
        ['payments', 'open', 'a', 'transitions'],
        ['search', 'closed', 'local', 'outcomes'],
      ],
    );
    assert.equal(fleet.instances[1]!.peers.size, 2, 'no throwaway breaker joined the fleet');
  });

  it('gives back the trial lease of a breaker it deletes or evicts, so the fleet need not wait out its ttl', () => {
    for (const forget of ['delete', 'evict'] as const) {
      const clock = new ManualClock();
      const fleet = new MemoryFleet(clock);
      const [a, b] = ['a', 'b'].map(
        (id) =>
          new BreakerRegistry({
            defaults: { policy: consecutiveFailures(1), halfOpen: { maxDuration: 30_000 } },
            clock,
            maxSize: 1,
            sync: fleet.join(id),
          }),
      ) as [BreakerRegistry, BreakerRegistry];
      b.get('payments');
      failTimes(a.get('payments'), 1);
      fleet.deliverAll();
      clock.advance(60_000);
      const trial = a.get('payments').tryAcquire();
      assert.ok(trial);
      assert.equal(b.get('payments').tryAcquire(), undefined);
      if (forget === 'delete') a.delete('payments');
      else a.get('search'); // maxSize 1: evicts payments
      clock.advance(1_000);
      assert.ok(b.get('payments').tryAcquire(), `${forget}: another instance probes within 1 s`);
      assert.doesNotThrow(() => trial.failure(new Error('late')));
      fleet.deliverAll();
      assert.equal(b.get('payments').state, 'half-open', `${forget}: the late failure stays local`);
    }
  });
});
