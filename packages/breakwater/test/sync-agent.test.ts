import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, type SyncMode, type SyncTransition } from 'breakwater';
import fc from 'fast-check';
import { type SharedState, SyncAgent, type SyncHost } from '../src/sync-agent.ts';
import { MemoryFleet } from './support/memory-sync.ts';

/** A stand-in breaker: remembers what it adopted and the outcomes replayed into it. */
class RecordingHost implements SyncHost {
  adopted: SharedState[] = [];
  replayed: Array<[string, number, number]> = [];
  closed = true;
  adopt(state: SharedState): void {
    this.adopted.push(state);
    this.closed = state.state === 'closed';
  }
  replay(outcome: 'success' | 'failure', durationMs: number, count: number): boolean {
    this.replayed.push([outcome, durationMs, count]);
    return this.closed;
  }
  /** The state a local transition left, set by the test. */
  local: SharedState | undefined;
  current(): SharedState | undefined {
    return this.local ?? this.adopted.at(-1);
  }
}

function fleetOf(n: number, mode: SyncMode = 'transitions', readsDuration = false) {
  const clock = new ManualClock();
  const fleet = new MemoryFleet(clock);
  const members = Array.from({ length: n }, (_, i) => {
    const transport = fleet.join(`i${i}`);
    const host = new RecordingHost();
    const agent = new SyncAgent({
      name: 'payments',
      transport,
      mode,
      clock,
      host,
      readsDuration,
      leaseMs: 1_000,
    });
    return { transport, host, agent };
  });
  return { clock, fleet, members };
}

const open = (remainingOpenMs = 5_000): SharedState => ({
  state: 'open',
  openAttempt: 0,
  lastOpenDuration: 5_000,
  remainingOpenMs,
});
const closed: SharedState = {
  state: 'closed',
  openAttempt: 0,
  lastOpenDuration: 0,
  remainingOpenMs: 0,
};

function transition(epoch: number, origin: string, state: SharedState): SyncTransition {
  return { kind: 'transition', name: 'payments', epoch, origin, ...state };
}

describe('SyncAgent', () => {
  it('publishes a local trip and every other instance adopts it', () => {
    const { fleet, members } = fleetOf(3);
    members[0]!.agent.transitioned(open());
    fleet.deliverAll();
    assert.deepEqual(members[1]!.host.adopted.at(-1)?.state, 'open');
    assert.deepEqual(members[2]!.host.adopted.at(-1)?.state, 'open');
    assert.equal(members[1]!.agent.snapshot().source, 'i0');
    assert.equal(members[1]!.agent.snapshot().epoch, 1);
    assert.equal(
      members[0]!.host.adopted.length,
      0,
      'the origin does not adopt its own transition',
    );
  });

  it('ignores a stale, a duplicate and a reordered transition', () => {
    const { members } = fleetOf(1);
    const { agent, host } = members[0]!;
    agent.receive(transition(5, 'x', open()));
    agent.receive(transition(5, 'x', open()));
    agent.receive(transition(3, 'y', closed));
    agent.receive(transition(7, 'y', closed));
    agent.receive(transition(6, 'x', open()));
    assert.deepEqual(
      host.adopted.map((s) => s.state),
      ['open', 'closed'],
    );
    const snapshot = agent.snapshot();
    assert.equal(snapshot.epoch, 7);
    assert.equal(snapshot.applied, 2);
    assert.equal(snapshot.stale, 3);
  });

  it('breaks a tie of epochs by origin, the same way on every instance', () => {
    const { fleet, members } = fleetOf(2);
    members[0]!.agent.transitioned(open(1_000));
    members[1]!.agent.transitioned(open(2_000));
    fleet.deliverAll();
    for (const { agent } of members) assert.equal(agent.snapshot().epoch, 1);
    assert.equal(members[0]!.agent.snapshot().source, 'i1');
    assert.equal(members[1]!.agent.snapshot().source, 'local');
  });

  it('counts malformed messages and never throws on them', () => {
    const { members } = fleetOf(1);
    const { agent, host } = members[0]!;
    for (const junk of [
      null,
      7,
      'open',
      { kind: 'transition' },
      { ...transition(1, 'x', open()), name: 'other' },
    ]) {
      agent.receive(junk);
    }
    assert.equal(agent.snapshot().malformed, 5);
    assert.equal(host.adopted.length, 0);
  });

  it('grants the half-open trial lease of an open period to one instance only', () => {
    const { fleet, members } = fleetOf(3);
    members[0]!.agent.transitioned(open());
    fleet.deliverAll();
    const allowed = members.map(({ agent }) => agent.trialAllowed(5_000));
    assert.deepEqual(allowed, [true, false, false]);
    // Asked again, nobody else gets it while the holder keeps it.
    assert.deepEqual(
      members.map(({ agent }) => agent.trialAllowed(5_010)),
      [true, false, false],
    );
  });

  it('asks for the lease again once the holder has let it run out', () => {
    const { clock, fleet, members } = fleetOf(2);
    members[0]!.agent.transitioned(open());
    fleet.deliverAll();
    assert.equal(members[0]!.agent.trialAllowed(0), true);
    assert.equal(members[1]!.agent.trialAllowed(0), false);
    clock.advance(1_000);
    assert.equal(members[1]!.agent.trialAllowed(clock.now()), true);
  });

  it('holds the breaker open while the lease answer is on its way', () => {
    const { fleet, members } = fleetOf(1);
    const { agent, transport } = members[0]!;
    transport.holdLeases = true;
    agent.transitioned(open());
    fleet.deliverAll();
    assert.equal(agent.trialAllowed(0), false);
    assert.equal(agent.trialAllowed(1), false);
    assert.equal(transport.heldLeases.length, 1, 'asked once, not per call');
    transport.heldLeases[0]!();
    assert.equal(agent.trialAllowed(2), true);
  });

  it('decides alone while cut off', () => {
    const { members } = fleetOf(2);
    members[1]!.transport.setStatus('alone');
    members[0]!.agent.transitioned(open());
    assert.equal(members[1]!.agent.trialAllowed(0), true);
    assert.equal(members[1]!.agent.snapshot().status, 'alone');
  });

  it('converges on reconnect: the newest epoch wins, whichever side holds it', () => {
    const { fleet, members } = fleetOf(2);
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]];
    b.transport.setStatus('alone');
    a.agent.transitioned(open());
    fleet.deliverAll();
    // b trips twice alone: its epoch (2) is newer than the store's (1).
    b.agent.transitioned(open());
    b.agent.transitioned(closed);
    b.host.local = closed;
    b.transport.setStatus('connected');
    fleet.deliverAll();
    assert.equal(a.host.adopted.at(-1)?.state, 'closed');
    assert.equal(a.agent.snapshot().epoch, 2);
    assert.equal(a.agent.snapshot().source, b.transport.instanceId);
  });

  it('a newcomer adopts the shared state on attach', () => {
    const clock = new ManualClock();
    const fleet = new MemoryFleet(clock);
    const first = new SyncAgent({
      name: 'payments',
      transport: fleet.join('a'),
      mode: 'transitions',
      clock,
      host: new RecordingHost(),
      readsDuration: false,
      leaseMs: 1_000,
    });
    first.transitioned(open(5_000));
    clock.advance(2_000);
    const host = new RecordingHost();
    new SyncAgent({
      name: 'payments',
      transport: fleet.join('b'),
      mode: 'transitions',
      clock,
      host,
      readsDuration: false,
      leaseMs: 1_000,
    });
    fleet.deliverAll();
    assert.equal(host.adopted.at(-1)?.state, 'open');
    assert.equal(host.adopted.at(-1)?.remainingOpenMs, 3_000);
  });
});

describe('SyncAgent in outcomes mode', () => {
  it('batches successes for one flush interval and sends a failure at once', () => {
    const { clock, members } = fleetOf(2, 'outcomes');
    const { agent, transport } = members[0]!;
    agent.outcome('success', 1);
    agent.outcome('success', 1);
    assert.equal(transport.published.length, 0);
    agent.outcome('failure', 1);
    assert.equal(transport.published.length, 1);
    assert.deepEqual(transport.published[0]!.kind === 'counts' && transport.published[0]!.counts, {
      'i0|s': 2,
      'i0|f': 1,
    });
    agent.outcome('success', 1);
    clock.advance(249);
    assert.equal(transport.published.length, 1);
    clock.advance(1);
    assert.equal(transport.published.length, 2);
    assert.equal(clock.pendingTimers, 0, 'no timer once flushed');
  });

  it("replays the other instances' new outcomes, each once", () => {
    const { clock, fleet, members } = fleetOf(2, 'outcomes');
    const [a, b] = members as [(typeof members)[0], (typeof members)[0]];
    a.agent.outcome('success', 1);
    a.agent.outcome('failure', 1);
    fleet.deliverAll();
    a.agent.outcome('success', 1);
    clock.advance(250);
    fleet.deliverAll();
    // Duplicated and old messages change nothing.
    b.agent.receive({
      kind: 'counts',
      name: 'payments',
      epoch: 0,
      origin: 'i0',
      counts: { 'i0|s': 1 },
    });
    assert.deepEqual(b.host.replayed, [
      ['success', 0, 1],
      ['failure', 0, 1],
      ['success', 0, 1],
    ]);
    assert.deepEqual(a.host.replayed, [], 'an instance never replays its own outcomes');
  });

  it('carries durations when the policy reads them, within 9 %', () => {
    const { fleet, members } = fleetOf(2, 'outcomes', true);
    members[0]!.agent.outcome('failure', 1_500);
    fleet.deliverAll();
    const [[, duration]] = members[1]!.host.replayed as [[string, number, number]];
    assert.ok(Math.abs(duration - 1_500) / 1_500 < 0.09, `replayed as ${duration} ms`);
  });

  it('drops counts of another epoch', () => {
    const { fleet, members } = fleetOf(2, 'outcomes');
    members[0]!.agent.outcome('failure', 1);
    members[1]!.agent.transitioned(open());
    fleet.deliverAll();
    assert.deepEqual(members[1]!.host.replayed, []);
  });
});

const origins = fc.constantFrom('a', 'b', 'c', 'z');
const stateArb = fc.constantFrom<SharedState>(open(100), closed);
const messageArb = fc.record({
  epoch: fc.nat(20),
  origin: origins,
  state: stateArb,
});

describe('SyncAgent receiving anything (fuzzed)', () => {
  it('ends on the newest transition whatever the order, duplicates and junk', () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.anything(), { maxLength: 10 }),
        fc.func(fc.boolean()),
        (messages, junk, duplicate) => {
          const { members } = fleetOf(1);
          const { agent, host } = members[0]!;
          let i = 0;
          for (const m of messages) {
            const message = transition(m.epoch + 1, m.origin, m.state);
            agent.receive(message);
            if (duplicate(i++)) agent.receive(message);
            if (i < junk.length) agent.receive(junk[i]);
          }
          const newest = messages.reduce((best, m) =>
            m.epoch > best.epoch || (m.epoch === best.epoch && m.origin > best.origin) ? m : best,
          );
          const snapshot = agent.snapshot();
          assert.equal(snapshot.epoch, newest.epoch + 1);
          assert.equal(snapshot.source, newest.origin);
          assert.equal(host.adopted.at(-1)?.state, newest.state.state);
          // Each adoption moved the epoch forward: nothing stale was ever applied.
          assert.ok(host.adopted.length <= messages.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never replays more than the highest count seen per instance', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ origin: origins, s: fc.nat(50), f: fc.nat(50) }), { maxLength: 30 }),
        (messages) => {
          const { members } = fleetOf(1, 'outcomes');
          const { agent, host } = members[0]!;
          const highest = new Map<string, number>();
          for (const { origin, s, f } of messages) {
            agent.receive({
              kind: 'counts',
              name: 'payments',
              epoch: 0,
              origin,
              counts: { [`${origin}|s`]: s, [`${origin}|f`]: f },
            });
            for (const [key, n] of [
              [`${origin}|s`, s],
              [`${origin}|f`, f],
            ] as const) {
              highest.set(key, Math.max(highest.get(key) ?? 0, n));
            }
          }
          const replayed = host.replayed.reduce((sum, [, , n]) => sum + n, 0);
          const expected = [...highest.values()].reduce((sum, n) => sum + n, 0);
          assert.equal(replayed, expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
