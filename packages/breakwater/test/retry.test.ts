import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exponential } from '../src/backoff.ts';
import { ManualClock } from '../src/clock.ts';
import { CircuitOpenError, InvalidOptionError } from '../src/errors.ts';
import { ignore } from '../src/outcome.ts';
import { retry } from '../src/retry.ts';
import { RetryBudget } from '../src/retry-budget.ts';

/** Settles the promise's outcome into a value the test can inspect synchronously. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

test('returns the first success without waiting', async () => {
  const clock = new ManualClock();
  const policy = retry({ maxAttempts: 3, backoff: 100, clock });
  let calls = 0;
  const value = await policy.execute(() => {
    calls++;
    return 'ok';
  });
  assert.equal(value, 'ok');
  assert.equal(calls, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('waits the backoff delays between attempts and gives up with the last error', async () => {
  const clock = new ManualClock();
  const policy = retry({
    maxAttempts: 3,
    backoff: exponential({ initial: 100, max: 1_000 }),
    clock,
  });
  const starts: number[] = [];
  const outcome = track(
    policy.execute(() => {
      starts.push(clock.now());
      throw new Error(`failure ${starts.length}`);
    }),
  );
  await clock.tick(0);
  assert.deepEqual(starts, [0]);
  await clock.tick(99);
  assert.deepEqual(starts, [0], 'the first retry waits the full first delay');
  await clock.tick(1);
  await clock.tick(200);
  assert.deepEqual(starts, [0, 100, 300]);
  assert.equal(outcome.settled, true);
  assert.equal((outcome.error as Error).message, 'failure 3');
  assert.equal(clock.pendingTimers, 0);
});

test('succeeds on a later attempt', async () => {
  const clock = new ManualClock();
  const policy = retry({ maxAttempts: 5, backoff: 10, clock });
  let calls = 0;
  const outcome = track(
    policy.execute(async () => {
      calls++;
      if (calls < 3) throw new Error('not yet');
      return calls;
    }),
  );
  await clock.tick(0);
  await clock.tick(10);
  assert.equal(calls, 2);
  await clock.tick(10);
  assert.equal(outcome.value, 3);
});

test('does not retry an error retryOn declines', async () => {
  const policy = retry({ maxAttempts: 5, backoff: 0, retryOn: (e) => !(e instanceof TypeError) });
  let calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new TypeError('bad input');
    }),
    TypeError,
  );
  assert.equal(calls, 1);
});

test('retries a result retryOnResult flags and returns the last one when attempts run out', async () => {
  const policy = retry({
    maxAttempts: 3,
    backoff: 0,
    retryOnResult: (r) => (r as { status: number }).status === 503,
  });
  const statuses = [503, 503, 503, 200];
  let calls = 0;
  const response = await policy.execute(() => ({ status: statuses[calls++] }));
  assert.equal(calls, 3);
  assert.deepEqual(response, { status: 503 });
  calls = 1;
  assert.deepEqual(await policy.execute(() => ({ status: statuses[calls++] })), { status: 200 });
});

test('never retries a CircuitOpenError from an inner breaker', async () => {
  const policy = retry({ maxAttempts: 5, backoff: 0, retryOn: () => true });
  let calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new CircuitOpenError(1_000, 'db');
    }),
    CircuitOpenError,
  );
  assert.equal(calls, 1);
});

test('retries a CircuitOpenError when retryCircuitOpen is set', async () => {
  const policy = retry({ maxAttempts: 3, backoff: 0, retryCircuitOpen: true });
  let calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new CircuitOpenError(0);
    }),
    CircuitOpenError,
  );
  assert.equal(calls, 3);
});

test('judges the wrapped error of ignore() and rethrows the wrapper for an outer breaker', async () => {
  const judged: unknown[] = [];
  const original = new TypeError('not found');
  const policy = retry({
    maxAttempts: 3,
    backoff: 0,
    retryOn: (error) => {
      judged.push(error);
      return false;
    },
  });
  const wrapped = ignore(original);
  await assert.rejects(
    policy.execute(() => {
      throw wrapped;
    }),
    (e: unknown) => e === wrapped,
  );
  assert.deepEqual(judged, [original]);
});

test('rejects promptly with the abort reason when the caller aborts during a backoff', async () => {
  const clock = new ManualClock();
  const policy = retry({ maxAttempts: 5, backoff: 10_000, clock });
  const controller = new AbortController();
  let calls = 0;
  const outcome = track(
    policy.execute(
      () => {
        calls++;
        throw new Error('down');
      },
      { signal: controller.signal },
    ),
  );
  await clock.tick(0);
  assert.equal(clock.pendingTimers, 1, 'waiting for the second attempt');
  const reason = new Error('caller gave up');
  controller.abort(reason);
  await clock.tick(0);
  assert.equal(outcome.settled, true);
  assert.equal(outcome.error, reason);
  assert.equal(clock.pendingTimers, 0, 'the backoff timer was cleared');
  assert.equal(calls, 1);
});

test('does not retry once the caller has aborted', async () => {
  const policy = retry({ maxAttempts: 5, backoff: 0 });
  const controller = new AbortController();
  let calls = 0;
  await assert.rejects(
    policy.execute(
      ({ signal }) => {
        calls++;
        controller.abort();
        throw signal.reason;
      },
      { signal: controller.signal },
    ),
    { name: 'AbortError' },
  );
  assert.equal(calls, 1);
});

test('does not start when the caller already aborted', async () => {
  const policy = retry();
  let calls = 0;
  await assert.rejects(
    policy.execute(
      () => {
        calls++;
      },
      { signal: AbortSignal.abort(new Error('early')) },
    ),
    { message: 'early' },
  );
  assert.equal(calls, 0);
});

test('hands every attempt the caller signal', async () => {
  const policy = retry({ maxAttempts: 2, backoff: 0 });
  const controller = new AbortController();
  const seen: AbortSignal[] = [];
  await assert.rejects(
    policy.execute(
      ({ signal }) => {
        seen.push(signal);
        throw new Error('x');
      },
      { signal: controller.signal },
    ),
  );
  assert.deepEqual(seen, [controller.signal, controller.signal]);
});

test('a budget caps retries across calls to about its ratio', async () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, clock });
  const policy = retry({ maxAttempts: 10, backoff: 0, budget, clock });
  let attempts = 0;
  for (let i = 0; i < 100; i++) {
    await assert.rejects(
      policy.execute(() => {
        attempts++;
        throw new Error('down');
      }),
    );
  }
  const retries = attempts - 100;
  assert.ok(retries >= 18 && retries <= 22, `expected about 20 retries, got ${retries}`);
});

test('emits retry and give-up events', async () => {
  const events: unknown[] = [];
  const error = new Error('down');
  const clock = new ManualClock();
  const timed = retry({ maxAttempts: 2, backoff: 5, clock });
  timed.on('retry', (e) => events.push({ retry: e.attempt, delay: e.delay, error: e.error }));
  timed.on('give-up', (e) => events.push({ giveUp: e.attempts, reason: e.reason }));
  const outcome = track(
    timed.execute(() => {
      throw error;
    }),
  );
  await clock.tick(5);
  assert.equal(outcome.error, error);
  assert.deepEqual(events, [
    { retry: 1, delay: 5, error },
    { giveUp: 2, reason: 'max-attempts' },
  ]);
});

test('reports a give-up for an exhausted budget', async () => {
  const budget = new RetryBudget({ ratio: 0, minPerSecond: 0, clock: new ManualClock() });
  const policy = retry({ maxAttempts: 3, backoff: 0, budget });
  const reasons: string[] = [];
  policy.on('give-up', (e) => reasons.push(e.reason));
  await assert.rejects(
    policy.execute(() => {
      throw new Error('down');
    }),
  );
  assert.deepEqual(reasons, ['budget']);
});

test('rejects bad options naming the option', () => {
  for (const [options, option] of [
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ maxAttempts: 1.5 }, 'maxAttempts'],
    [{ backoff: -1 }, 'backoff'],
    [{ backoff: {} }, 'backoff'],
    [{ retryOn: true }, 'retryOn'],
    [{ budget: {} }, 'budget'],
  ] as const) {
    assert.throws(
      () => retry(options as never),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      option,
    );
  }
});

test('a throwing retryOn is logged and the original error surfaces unretried', async (t) => {
  const logged = t.mock.method(console, 'error', () => {});
  const policy = retry({
    maxAttempts: 3,
    backoff: 0,
    retryOn: () => {
      throw new Error('predicate bug');
    },
  });
  let calls = 0;
  await assert.rejects(
    policy.execute(() => {
      calls++;
      throw new Error('work failed');
    }),
    { message: 'work failed' },
  );
  assert.equal(calls, 1);
  assert.equal(logged.mock.callCount(), 1);
});
