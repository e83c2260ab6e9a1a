import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BreakerSnapshot,
  CircuitBreaker,
  consecutiveFailures,
  exponential,
  InvalidOptionError,
  ManualClock,
} from 'breakwater';

const boom = new Error('boom');

function failOnce(breaker: CircuitBreaker): void {
  assert.throws(() =>
    breaker.executeSync(() => {
      throw boom;
    }),
  );
}

/** What another process would read back. */
function roundTrip(snapshot: BreakerSnapshot): BreakerSnapshot {
  return JSON.parse(JSON.stringify(snapshot)) as BreakerSnapshot;
}

describe('BreakerSnapshot', () => {
  it('survives JSON and a different clock: an open breaker stays open for the time it had left', () => {
    const clock = new ManualClock(1_000_000);
    const options = {
      policy: consecutiveFailures(1),
      openDuration: exponential({ initial: 1_000, max: 60_000 }),
      name: 'payments',
    };
    const breaker = new CircuitBreaker({ ...options, clock });
    breaker.executeSync(() => 'ok');
    failOnce(breaker);
    clock.advance(1_000);
    failOnce(breaker); // failed trial: open for 2 000 ms, attempt 1
    clock.advance(500);
    assert.equal(breaker.tryAcquire(), undefined);

    const saved = roundTrip(breaker.snapshot());
    assert.deepEqual(
      { ...saved, policy: null },
      {
        version: 1,
        name: 'payments',
        state: 'open',
        openAttempt: 1,
        lastOpenDuration: 2_000,
        remainingOpenMs: 1_500,
        halfOpenSuccesses: 0,
        totals: { successes: 1, failures: 2, rejections: 1, ignored: 0, timeouts: 0 },
        policy: null,
        reason: {
          rule: 'halfOpenTrial',
          text: 'half-open trial failed',
          window: { kind: 'halfOpen', successes: 0, successesToClose: 1 },
          recentFailures: [
            // Closed-state calls of a count-only policy are not timed; a trial always is.
            { msBeforeTrip: 1_000, error: 'Error', message: 'boom', durationMs: null },
            { msBeforeTrip: 0, error: 'Error', message: 'boom', durationMs: 0 },
          ],
        },
      },
    );

    const elsewhere = new ManualClock(7);
    const restored = new CircuitBreaker({ ...options, clock: elsewhere, initialState: saved });
    assert.equal(restored.name, 'payments');
    assert.equal(restored.state, 'open');
    assert.equal(restored.retryAfter, 1_500);
    elsewhere.advance(1_500);
    assert.equal(restored.state, 'half-open');
    failOnce(restored);
    assert.equal(restored.retryAfter, 4_000, 'the backoff continues from the saved step');
    assert.equal(restored.snapshot().totals.failures, 3);
  });

  it('restores an open state whose time has passed as half-open', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1), openDuration: 10 });
    failOnce(breaker);
    const saved = roundTrip(breaker.snapshot());
    const restored = new CircuitBreaker({
      clock,
      initialState: { ...saved, remainingOpenMs: 0 },
    });
    assert.equal(restored.state, 'half-open');
    restored.executeSync(() => 'ok');
    assert.equal(restored.state, 'closed');
  });

  it('reports half-open, not open, once the open duration has passed', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1), openDuration: 10 });
    failOnce(breaker);
    clock.advance(10);
    const saved = breaker.snapshot();
    assert.equal(saved.state, 'half-open');
    assert.equal(saved.remainingOpenMs, 0);
  });

  it('keeps half-open progress, forced-open and disabled across a restore', () => {
    const clock = new ManualClock();
    const options = {
      clock,
      policy: consecutiveFailures(1),
      openDuration: 10,
      halfOpen: { successesToClose: 2 },
    };
    const breaker = new CircuitBreaker(options);
    failOnce(breaker);
    clock.advance(10);
    breaker.executeSync(() => 'ok');
    const halfOpen = roundTrip(breaker.snapshot());
    assert.equal(halfOpen.halfOpenSuccesses, 1);
    const restored = new CircuitBreaker({ ...options, initialState: halfOpen });
    restored.executeSync(() => 'ok');
    assert.equal(restored.state, 'closed', 'one more success was enough');

    breaker.forceOpen();
    const forced = new CircuitBreaker({ ...options, initialState: roundTrip(breaker.snapshot()) });
    assert.equal(forced.state, 'forced-open');
    breaker.disable();
    const disabled = new CircuitBreaker({
      ...options,
      initialState: roundTrip(breaker.snapshot()),
    });
    assert.equal(disabled.state, 'disabled');
  });

  it('carries why an open breaker opened, and initialState restores it', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1), name: 'stock' });
    assert.equal(breaker.snapshot().reason, null, 'a closed breaker has no reason');
    failOnce(breaker);
    const saved = roundTrip(breaker.snapshot());
    assert.equal(saved.reason?.text, '1 consecutive failure');
    assert.deepEqual(saved.reason?.recentFailures, [
      { msBeforeTrip: 0, error: 'Error', message: 'boom', durationMs: null },
    ]);

    const restored = new CircuitBreaker({ clock: new ManualClock(), initialState: saved });
    assert.deepEqual(roundTrip(restored.snapshot()).reason, saved.reason);
    clock.advance(30_000);
    breaker.executeSync(() => 'ok');
    assert.equal(breaker.snapshot().reason, null, 'closing forgets the reason');
  });

  it('restores an open breaker saved without a reason with one that says so', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1) });
    failOnce(breaker);
    const { reason: _, ...older } = roundTrip(breaker.snapshot());
    const restored = new CircuitBreaker({ clock, initialState: older as BreakerSnapshot });
    assert.equal(restored.state, 'open');
    assert.equal(restored.snapshot().reason?.rule, 'restored');
  });

  it('refuses a malformed reason in initialState, naming the field', () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1) });
    failOnce(breaker);
    const saved = roundTrip(breaker.snapshot());
    const bad = {
      ...saved,
      reason: { ...saved.reason, recentFailures: [{ msBeforeTrip: -1 }] },
    } as unknown as BreakerSnapshot;
    assert.throws(
      () => new CircuitBreaker({ initialState: bad }),
      (error) =>
        error instanceof InvalidOptionError &&
        error.option === 'initialState.reason.recentFailures[0].msBeforeTrip',
    );
  });

  it('includes the policy’s stats', () => {
    const breaker = new CircuitBreaker({
      clock: new ManualClock(),
      policy: consecutiveFailures(3),
    });
    failOnce(breaker);
    assert.deepEqual(breaker.snapshot().policy, {
      kind: 'consecutiveFailures',
      threshold: 3,
      failures: 1,
    });
  });

  it('rejects a malformed snapshot, naming the field', () => {
    const good = new CircuitBreaker({ clock: new ManualClock() }).snapshot();
    const bad: Array<[string, unknown]> = [
      ['initialState', 'closed'],
      ['initialState.version', { ...good, version: 2 }],
      ['initialState.remainingOpenMs', { ...good, remainingOpenMs: -5 }],
      ['initialState.openAttempt', { ...good, openAttempt: null }],
      ['initialState.totals', { ...good, totals: undefined }],
      ['initialState.totals.failures', { ...good, totals: { ...good.totals, failures: 'x' } }],
    ];
    for (const [option, initialState] of bad) {
      assert.throws(
        () => new CircuitBreaker({ initialState: initialState as BreakerSnapshot }),
        (error) => error instanceof InvalidOptionError && error.option === option,
        option,
      );
    }
  });
});
