import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from 'breakwater';
import type { FailOn } from '../../src/config/choices.ts';
import type { AttemptResult } from '../../src/upstream/attempt-result.ts';
import {
  classifyAttempt,
  createOutlierBreaker,
  type OutlierDetectionOptions,
} from '../../src/upstream/outlier.ts';

function options(overrides: Partial<OutlierDetectionOptions> = {}): OutlierDetectionOptions {
  return {
    policy: { consecutiveFailures: 3 },
    failOn: ['connect-error', 'timeout', '5xx'],
    ejection: { base: 30_000, max: 100_000 },
    maxEjectedPercent: 50,
    ...overrides,
  };
}

function fail(breaker: ReturnType<typeof createOutlierBreaker>, times: number): void {
  for (let i = 0; i < times; i++) {
    const permit = breaker.tryAcquire();
    assert.ok(permit, `attempt ${i + 1} admitted`);
    permit.failure();
  }
}

test('ejects a target after the configured consecutive failures, for the base time', () => {
  const clock = new ManualClock();
  const breaker = createOutlierBreaker(options(), { clock, name: 'api http://a' });
  assert.equal(breaker.name, 'api http://a');
  fail(breaker, 2);
  assert.equal(breaker.state, 'closed');
  fail(breaker, 1);
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.tryAcquire(), undefined);
  assert.equal(breaker.retryAfter, 30_000);
});

test('lets one trial through after the ejection and readmits the target on its success', () => {
  const clock = new ManualClock();
  const breaker = createOutlierBreaker(options(), { clock });
  fail(breaker, 3);
  clock.advance(30_000);
  assert.equal(breaker.state, 'half-open');
  const trial = breaker.tryAcquire();
  assert.ok(trial);
  assert.equal(breaker.tryAcquire(), undefined, 'only one trial at a time');
  trial.success();
  assert.equal(breaker.state, 'closed');
});

test('ejects a target that fails its trial for twice as long, up to ejection.max', () => {
  const clock = new ManualClock();
  const breaker = createOutlierBreaker(options(), { clock });
  const ejections: number[] = [];
  breaker.on('open', ({ openDuration }) => ejections.push(openDuration));
  fail(breaker, 3);
  for (let i = 0; i < 3; i++) {
    clock.advance(breaker.retryAfter);
    fail(breaker, 1);
  }
  assert.deepEqual(ejections, [30_000, 60_000, 100_000, 100_000]);
  // A target that recovers starts again from the base time.
  clock.advance(breaker.retryAfter);
  breaker.tryAcquire()?.success();
  fail(breaker, 3);
  assert.equal(ejections.at(-1), 30_000);
});

test('ejects on a failure rate over a time window', () => {
  const clock = new ManualClock();
  const breaker = createOutlierBreaker(
    options({ policy: { failureRate: { threshold: 0.5, minimumCalls: 10, window: 10_000 } } }),
    { clock },
  );
  for (let i = 0; i < 9; i++) {
    const permit = breaker.tryAcquire();
    assert.ok(permit);
    if (i % 2 === 0) permit.failure();
    else permit.success();
    clock.advance(100);
  }
  assert.equal(breaker.state, 'closed', 'below minimumCalls');
  breaker.tryAcquire()?.failure();
  assert.equal(breaker.state, 'open');
});

test('ejects a slow target by slow-call rate', () => {
  const clock = new ManualClock();
  const breaker = createOutlierBreaker(
    options({
      policy: {
        slowCallRate: { threshold: 0.5, slowerThan: 1_000, minimumCalls: 4, window: 10_000 },
      },
    }),
    { clock },
  );
  for (let i = 0; i < 4; i++) {
    const permit = breaker.tryAcquire();
    assert.ok(permit, `call ${i + 1} admitted`);
    clock.advance(1_500);
    permit.success();
  }
  assert.equal(breaker.state, 'open');
});

test('ejects on whichever of several combined rules trips first', () => {
  const clock = new ManualClock();
  const policy = {
    consecutiveFailures: 3,
    slowCallRate: { threshold: 0.5, slowerThan: 1_000, minimumCalls: 4, window: 10_000 },
  };
  const byFailures = createOutlierBreaker(options({ policy }), { clock });
  fail(byFailures, 3);
  assert.equal(byFailures.state, 'open', 'three failures in a row');
  const bySlowness = createOutlierBreaker(options({ policy }), { clock });
  for (let i = 0; i < 4; i++) {
    const permit = bySlowness.tryAcquire();
    assert.ok(permit, `call ${i + 1} admitted`);
    clock.advance(1_500);
    permit.success();
  }
  assert.equal(bySlowness.state, 'open', 'every call slow, none failed');
});

test('classifies attempts by failOn', () => {
  const response = (status: number): AttemptResult => ({ kind: 'response', status });
  const cases: Array<[AttemptResult, readonly FailOn[], string]> = [
    [response(200), ['5xx'], 'success'],
    [response(404), ['5xx'], 'success'],
    [response(500), ['5xx'], 'failure'],
    [response(599), ['5xx'], 'failure'],
    [response(500), ['gateway-errors'], 'success'],
    [response(502), ['gateway-errors'], 'failure'],
    [response(504), ['gateway-errors'], 'failure'],
    [response(503), ['connect-error'], 'success'],
    [{ kind: 'connect-error' }, ['connect-error'], 'failure'],
    [{ kind: 'connect-error' }, ['5xx'], 'ignored'],
    [{ kind: 'timeout' }, ['timeout'], 'failure'],
    [{ kind: 'timeout' }, ['reset'], 'ignored'],
    [{ kind: 'reset' }, ['reset'], 'failure'],
    [{ kind: 'aborted' }, ['connect-error', 'timeout', 'reset', '5xx'], 'ignored'],
    [{ kind: 'rejected' }, ['connect-error', 'timeout', 'reset', '5xx'], 'ignored'],
  ];
  for (const [result, failOn, expected] of cases) {
    assert.equal(classifyAttempt(result, failOn), expected, `${JSON.stringify(result)} ${failOn}`);
  }
});
