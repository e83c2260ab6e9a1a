import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BreakerEvents,
  CircuitBreaker,
  type CircuitBreakerOptions,
  consecutiveFailures,
  either,
  type FailurePolicy,
  failureRate,
  ManualClock,
  slowCallRate,
  successRateEma,
  type TripReason,
} from 'breakwater';

function setup(options: CircuitBreakerOptions) {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ clock, openDuration: 1_000, ...options });
  const opens: BreakerEvents['open'][] = [];
  breaker.on('open', (event) => opens.push(event));
  return { clock, breaker, opens };
}

/** Settles one admitted call after `durationMs`, as a failure with `error` or as a success. */
function call(
  clock: ManualClock,
  breaker: CircuitBreaker,
  outcome: 'success' | 'failure',
  durationMs = 0,
  error: unknown = new Error('down'),
): void {
  const permit = breaker.tryAcquire();
  assert.ok(permit, 'the breaker admits the call');
  clock.advance(durationMs);
  if (outcome === 'success') permit.success();
  else permit.failure(error);
}

function onlyReason(opens: BreakerEvents['open'][]): TripReason {
  assert.equal(opens.length, 1, 'the breaker opened once');
  return opens[0]!.reason;
}

describe('trip reasons of each policy', () => {
  it('consecutiveFailures: the run of failures, and the failures themselves', () => {
    const { clock, breaker, opens } = setup({ policy: consecutiveFailures(3) });
    call(
      clock,
      breaker,
      'failure',
      5,
      Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    );
    call(clock, breaker, 'failure', 5, new TypeError('bad body'));
    call(clock, breaker, 'failure', 5, 'a string');
    const reason = onlyReason(opens);
    assert.equal(reason.rule, 'consecutiveFailures');
    assert.equal(reason.text, '3 consecutive failures');
    assert.deepEqual(reason.window, { kind: 'consecutiveFailures', threshold: 3, failures: 3 });
    assert.deepEqual(
      reason.recentFailures.map(({ msBeforeTrip, error, message }) => ({
        msBeforeTrip,
        error,
        message,
      })),
      [
        { msBeforeTrip: 10, error: 'ECONNREFUSED', message: 'refused' },
        { msBeforeTrip: 5, error: 'TypeError', message: 'bad body' },
        { msBeforeTrip: 0, error: 'string', message: 'a string' },
      ],
    );
  });

  it('failureRate over a count window: the rate against the threshold, with the counts', () => {
    const policy = failureRate({ threshold: 0.5, minimumCalls: 8, window: { calls: 10 } });
    const { clock, breaker, opens } = setup({ policy });
    for (let i = 0; i < 3; i++) call(clock, breaker, 'success');
    for (let i = 0; i < 5; i++) call(clock, breaker, 'failure');
    const reason = onlyReason(opens);
    assert.equal(reason.rule, 'failureRate');
    assert.equal(reason.text, 'failure rate 62.5 % ≥ 50 % over the last 8 calls');
    assert.deepEqual(reason.window, {
      kind: 'failureRate',
      threshold: 0.5,
      window: '10 calls',
      calls: 8,
      failures: 5,
    });
  });

  it('failureRate over a time window: how many calls in how long', () => {
    const policy = failureRate({
      threshold: 0.5,
      minimumCalls: 4,
      window: { duration: 10_000, buckets: 10 },
    });
    const { clock, breaker, opens } = setup({ policy });
    call(clock, breaker, 'success', 1_000);
    call(clock, breaker, 'failure', 1_000);
    call(clock, breaker, 'success', 1_000);
    call(clock, breaker, 'failure', 1_000);
    assert.equal(onlyReason(opens).text, 'failure rate 50 % ≥ 50 % over 4 calls in the last 10 s');
  });

  it('slowCallRate: the share of slow calls, what counts as slow, and their durations', () => {
    const policy = slowCallRate({
      threshold: 0.5,
      slowerThan: 1_000,
      minimumCalls: 4,
      window: { calls: 4 },
    });
    const { clock, breaker, opens } = setup({ policy });
    call(clock, breaker, 'success', 1_500);
    call(clock, breaker, 'failure', 10);
    call(clock, breaker, 'success', 20);
    call(clock, breaker, 'failure', 2_000);
    const reason = onlyReason(opens);
    assert.equal(reason.rule, 'slowCallRate');
    assert.equal(reason.text, 'slow-call rate 50 % ≥ 50 % over the last 4 calls (slow: over 1 s)');
    assert.deepEqual(reason.window, {
      kind: 'slowCallRate',
      threshold: 0.5,
      window: '4 calls',
      calls: 4,
      slowCalls: 2,
    });
    // A duration-reading policy has every call timed: the failures carry their durations.
    assert.deepEqual(
      reason.recentFailures.map((failure) => failure.durationMs),
      [10, 2_000],
    );
  });

  it('successRateEma: the smoothed rate against its minimum', () => {
    const policy = successRateEma({ minimumRate: 0.9, window: 3, minimumCalls: 2 });
    const { clock, breaker, opens } = setup({ policy });
    call(clock, breaker, 'success');
    call(clock, breaker, 'failure');
    const reason = onlyReason(opens);
    assert.equal(reason.rule, 'successRateEma');
    assert.equal(reason.text, 'success-rate EMA 50 % < 90 % over about the last 3 calls');
    assert.deepEqual(reason.window, {
      kind: 'successRateEma',
      minimumRate: 0.9,
      rate: 0.5,
      calls: 2,
    });
  });

  it('either: names the policy that fired, with that policy’s own window', () => {
    const policy = either(
      consecutiveFailures(10),
      failureRate({ threshold: 0.5, minimumCalls: 4, window: { calls: 4 } }),
    );
    const { clock, breaker, opens } = setup({ policy });
    call(clock, breaker, 'failure');
    call(clock, breaker, 'success');
    call(clock, breaker, 'failure');
    call(clock, breaker, 'failure');
    const reason = onlyReason(opens);
    assert.equal(reason.rule, 'failureRate');
    assert.equal(reason.text, 'failure rate 75 % ≥ 50 % over the last 4 calls');
    assert.equal(reason.window?.kind, 'failureRate');

    const consecutive = setup({
      policy: either(
        consecutiveFailures(2),
        failureRate({ threshold: 0.9, minimumCalls: 10, window: { calls: 10 } }),
      ),
    });
    call(consecutive.clock, consecutive.breaker, 'failure');
    call(consecutive.clock, consecutive.breaker, 'failure');
    assert.equal(onlyReason(consecutive.opens).text, '2 consecutive failures');
  });

  it('a custom policy: its own words when it has describeTrip, a generic reason when not', () => {
    const tripOnFailure = (): FailurePolicy => ({
      recordSuccess: () => false,
      recordFailure: () => true,
      reset: () => {},
    });
    const plain = setup({ policy: tripOnFailure() });
    call(plain.clock, plain.breaker, 'failure');
    assert.deepEqual(
      { ...onlyReason(plain.opens), recentFailures: [] },
      {
        rule: 'custom',
        text: 'the failure policy asked to trip',
        window: null,
        recentFailures: [],
      },
    );

    const worded = setup({
      policy: {
        ...tripOnFailure(),
        stats: () => ({ kind: 'anyFailure', failures: 1 }),
        describeTrip: () => ({ rule: 'anyFailure', text: 'any failure trips it' }),
      },
    });
    call(worded.clock, worded.breaker, 'failure');
    const reason = onlyReason(worded.opens);
    assert.equal(reason.text, 'any failure trips it');
    assert.deepEqual(reason.window, { kind: 'anyFailure', failures: 1 }, 'stats() fill in');
  });
});

describe('trip reasons of half-open trials and operators', () => {
  it('a failed trial reopens with its own reason, counting the trials that passed', () => {
    const { clock, breaker, opens } = setup({
      policy: consecutiveFailures(1),
      halfOpen: { successesToClose: 3 },
    });
    call(clock, breaker, 'failure');
    clock.advance(1_000);
    call(clock, breaker, 'success', 20);
    call(clock, breaker, 'failure', 30, new Error('still down'));
    assert.equal(opens.length, 2);
    const reason = opens[1]!.reason;
    assert.equal(reason.rule, 'halfOpenTrial');
    assert.equal(reason.text, 'half-open trial failed');
    assert.deepEqual(reason.window, { kind: 'halfOpen', successes: 1, successesToClose: 3 });
    assert.deepEqual(reason.recentFailures.at(-1), {
      msBeforeTrip: 0,
      error: 'Error',
      message: 'still down',
      durationMs: 30,
    });
  });

  it('a trial that never settles reopens saying how long it was given', () => {
    const { clock, breaker, opens } = setup({
      policy: consecutiveFailures(1),
      halfOpen: { maxDuration: 5_000 },
    });
    call(clock, breaker, 'failure');
    clock.advance(1_000);
    assert.ok(breaker.tryAcquire(), 'a trial is admitted and leaked');
    clock.advance(5_000);
    assert.equal(breaker.state, 'open');
    const reason = opens[1]!.reason;
    assert.equal(reason.text, 'half-open trial did not settle within 5000 ms');
    assert.deepEqual(reason.recentFailures.at(-1), {
      msBeforeTrip: 0,
      error: 'ERR_TIMEOUT',
      message: 'half-open trial did not settle within 5000 ms',
      durationMs: 5_000,
    });
  });

  it('forceOpen() says an operator opened it; closing says how', () => {
    const { breaker, opens } = setup({});
    const closes: BreakerEvents['close'][] = [];
    breaker.on('close', (event) => closes.push(event));
    breaker.forceOpen();
    assert.equal(onlyReason(opens).rule, 'forced');
    assert.equal(onlyReason(opens).text, 'forced open by operator');
    assert.equal(breaker.snapshot().reason?.rule, 'forced');
    breaker.reset();
    assert.deepEqual(closes, [{ reason: 'reset' }]);
    assert.equal(breaker.snapshot().reason, null);
  });

  it('closing after the trials says how many succeeded', () => {
    const { clock, breaker } = setup({
      policy: consecutiveFailures(1),
      halfOpen: { successesToClose: 2 },
    });
    const closes: BreakerEvents['close'][] = [];
    breaker.on('close', (event) => closes.push(event));
    call(clock, breaker, 'failure');
    clock.advance(1_000);
    call(clock, breaker, 'success');
    call(clock, breaker, 'success');
    assert.deepEqual(closes, [{ reason: '2 half-open trials succeeded' }]);
  });
});

describe('the recent-failure ring', () => {
  it('holds at most 5 failures, the latest, oldest first', () => {
    const { clock, breaker, opens } = setup({ policy: consecutiveFailures(20) });
    for (let i = 1; i <= 20; i++) call(clock, breaker, 'failure', 1, new Error(`failure ${i}`));
    const failures = onlyReason(opens).recentFailures;
    assert.deepEqual(
      failures.map((failure) => failure.message),
      ['failure 16', 'failure 17', 'failure 18', 'failure 19', 'failure 20'],
    );
    assert.deepEqual(
      failures.map((failure) => failure.msBeforeTrip),
      [4, 3, 2, 1, 0],
    );
  });

  it('cuts long messages, and names a returned value judged a failure', async () => {
    const { breaker, opens } = setup({
      policy: consecutiveFailures(2),
      isResultFailure: (result) => result === 'bad',
    });
    await breaker.execute(() => Promise.reject(new Error('x'.repeat(500)))).catch(() => {});
    await breaker.execute(() => 'bad');
    const [long, judged] = onlyReason(opens).recentFailures;
    assert.equal(long?.message.length, 120);
    assert.ok(long?.message.endsWith('…'));
    assert.equal(judged?.error, 'result');
  });

  it('forgets the failures of a window once the breaker closes', () => {
    const { clock, breaker, opens } = setup({ policy: consecutiveFailures(2) });
    call(clock, breaker, 'failure', 0, new Error('old'));
    call(clock, breaker, 'failure', 0, new Error('old'));
    clock.advance(1_000);
    call(clock, breaker, 'success');
    call(clock, breaker, 'failure', 0, new Error('new'));
    call(clock, breaker, 'failure', 0, new Error('new'));
    assert.deepEqual(
      opens[1]?.reason.recentFailures.map((failure) => failure.message),
      ['new', 'new'],
    );
  });
});

describe('the cost of a reason', () => {
  it('is put into words only when asked for, once per trip', () => {
    let described = 0;
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      policy: {
        recordSuccess: () => false,
        recordFailure: () => true,
        reset: () => {},
        describeTrip: () => {
          described++;
          return { rule: 'counted', text: 'counted' };
        },
      },
    });
    breaker.tryAcquire()?.failure(new Error('down'));
    assert.equal(breaker.state, 'open');
    assert.equal(described, 0, 'no listener and no snapshot: nothing described');
    assert.equal(breaker.snapshot().reason?.text, 'counted');
    assert.equal(breaker.snapshot().reason?.text, 'counted');
    assert.equal(described, 1);
  });

  it('is frozen, since every listener and snapshot shares it', () => {
    const { clock, breaker, opens } = setup({ policy: consecutiveFailures(1) });
    call(clock, breaker, 'failure');
    const reason = onlyReason(opens);
    assert.equal(breaker.snapshot().reason, reason);
    assert.ok(Object.isFrozen(reason));
    assert.ok(Object.isFrozen(reason.recentFailures));
    assert.ok(Object.isFrozen(reason.recentFailures[0]));
    assert.ok(Object.isFrozen(reason.window));
  });
});
