import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { bulkhead } from '../src/bulkhead.ts';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { ManualClock } from '../src/clock.ts';
import {
  BulkheadFullError,
  CircuitOpenError,
  InvalidOptionError,
  TimeoutError,
} from '../src/errors.ts';
import { fallback } from '../src/fallback.ts';
import { ignore, MarkedOutcome, markAsSuccess } from '../src/outcome.ts';
import { pipeline } from '../src/pipeline.ts';
import { consecutiveFailures } from '../src/policies/consecutive.ts';
import { type ExecuteOptions, neverAborted, type Policy, type Work } from '../src/policy.ts';
import { retry } from '../src/retry.ts';
import { timeout } from '../src/timeout.ts';

/** A policy that records when calls pass through it. */
function tracer(name: string, log: string[]): Policy {
  return {
    async execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
      log.push(`${name} in`);
      try {
        return await fn({
          signal: options?.signal ?? new AbortController().signal,
          attempt: options?.attempt ?? 1,
        });
      } finally {
        log.push(`${name} out`);
      }
    },
  };
}

test('runs policies in the given order, the first outermost', async () => {
  const log: string[] = [];
  const policy = pipeline(tracer('outer', log), tracer('middle', log), tracer('inner', log));
  const value = await policy.execute(() => {
    log.push('work');
    return 7;
  });
  assert.equal(value, 7);
  assert.deepEqual(log, [
    'outer in',
    'middle in',
    'inner in',
    'work',
    'inner out',
    'middle out',
    'outer out',
  ]);
});

test('hands the caller signal down to the work', async () => {
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  await pipeline(retry({ maxAttempts: 1 }), bulkhead({ maxConcurrent: 1 })).execute(
    ({ signal }) => {
      seen = signal;
    },
    { signal: controller.signal },
  );
  assert.equal(seen, controller.signal);
});

test('a timeout inside a retry bounds each attempt', async () => {
  const clock = new ManualClock();
  const policy = pipeline(retry({ maxAttempts: 3, backoff: 10, clock }), timeout(100, { clock }));
  const signals: AbortSignal[] = [];
  let settled: unknown;
  const call = policy.execute(({ signal }) => {
    signals.push(signal);
    return signals.length < 3 ? new Promise<string>(() => {}) : 'third time';
  });
  call.then((v) => {
    settled = v;
  });
  await clock.tick(100); // first attempt times out
  await clock.tick(10); // backoff, second attempt starts
  await clock.tick(100); // second attempt times out
  await clock.tick(10); // third attempt succeeds at once
  assert.equal(settled, 'third time');
  assert.equal(signals.length, 3);
  assert.ok(signals[0]?.reason instanceof TimeoutError);
  assert.ok(signals[1]?.reason instanceof TimeoutError);
  assert.equal(signals[2]?.aborted, false);
  assert.equal(clock.pendingTimers, 0);
});

test('a timeout outside a retry bounds all attempts together', async () => {
  const clock = new ManualClock();
  const policy = pipeline(timeout(250, { clock }), retry({ maxAttempts: 10, backoff: 100, clock }));
  let attempts = 0;
  const call = policy.execute(() => {
    attempts++;
    throw new Error('down');
  });
  const rejected = assert.rejects(call, TimeoutError);
  await clock.tick(0);
  for (let i = 0; i < 3; i++) await clock.tick(100);
  await rejected;
  assert.equal(attempts, 3, 'attempts at 0, 100 and 200; the 300 one never came');
  assert.equal(clock.pendingTimers, 0, 'the timeout aborted the retry backoff');
});

test('a fallback outside a retry answers once after the retries gave up', async () => {
  let answered = 0;
  let attempts = 0;
  const policy = pipeline(
    fallback(() => {
      answered++;
      return 'cached';
    }),
    retry({ maxAttempts: 3, backoff: 0 }),
  );
  const value = await policy.execute((): string => {
    attempts++;
    throw new Error('down');
  });
  assert.equal(value, 'cached');
  assert.equal(attempts, 3);
  assert.equal(answered, 1);
});

test('a fallback answers a full bulkhead', async () => {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const shared = bulkhead({ maxConcurrent: 1 });
  const policy = pipeline(
    fallback((error) => (error instanceof BulkheadFullError ? 'busy' : 'other')),
    shared,
  );
  const first = policy.execute(() => gate.then(() => 'first'));
  assert.equal(await policy.execute(() => 'second'), 'busy');
  open();
  assert.equal(await first, 'first');
});

test('a caller abort crosses every layer and leaves no listener or timer', async () => {
  const clock = new ManualClock();
  const controller = new AbortController();
  let answered = 0;
  const policy = pipeline(
    fallback(() => {
      answered++;
      return 'cached';
    }),
    retry({ maxAttempts: 5, backoff: 1_000, clock }),
    timeout(5_000, { clock }),
  );
  const call = policy.execute(() => Promise.reject(new Error('down')), {
    signal: controller.signal,
  });
  await clock.tick(0); // first attempt failed, retry waits
  controller.abort(new Error('user left'));
  await assert.rejects(call, { message: 'user left' });
  assert.equal(answered, 0);
  assert.equal(clock.pendingTimers, 0);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('an empty pipeline runs the work as is', async () => {
  const policy = pipeline();
  assert.equal(await policy.execute(() => 'plain'), 'plain');
  await assert.rejects(
    policy.execute(() => {
      throw new Error('sync');
    }),
    { message: 'sync' },
  );
  await assert.rejects(
    policy.execute(() => 'x', { signal: AbortSignal.abort() }),
    {
      name: 'AbortError',
    },
  );
});

test('a pipeline nests inside another', async () => {
  const log: string[] = [];
  const inner = pipeline(tracer('b', log), tracer('c', log));
  const outer = pipeline(tracer('a', log), inner);
  await outer.execute(() => log.push('work'));
  assert.deepEqual(log, ['a in', 'b in', 'c in', 'work', 'c out', 'b out', 'a out']);
});

test('rejects something that is not a policy, naming its position', () => {
  assert.throws(
    () => pipeline(retry(), {} as never),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'policies[1]',
  );
});

test('fallback, retry, breaker, timeout: retries stop when the breaker opens, fallback answers once', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({
    policy: consecutiveFailures(2),
    openDuration: 10_000,
    clock,
    name: 'inventory',
  });
  const answeredFor: unknown[] = [];
  const policy = pipeline(
    fallback((error) => {
      answeredFor.push(error);
      return 'cached';
    }),
    retry({ maxAttempts: 5, backoff: 100, clock }),
    breaker,
    timeout(1_000, { clock }),
  );
  let attempts = 0;
  let settled: unknown;
  policy
    .execute(() => {
      attempts++;
      return Promise.reject(new Error('inventory down'));
    })
    .then((value) => {
      settled = value;
    });
  await clock.tick(0); // attempt 1 fails
  await clock.tick(100); // attempt 2 fails: the breaker opens
  assert.equal(breaker.state, 'open');
  await clock.tick(100); // attempt 3 meets the open breaker: not retried
  assert.equal(settled, 'cached');
  assert.equal(attempts, 2);
  assert.equal(answeredFor.length, 1);
  assert.ok(answeredFor[0] instanceof CircuitOpenError);
  assert.equal((answeredFor[0] as CircuitOpenError).breaker, 'inventory');
  assert.equal(clock.pendingTimers, 0);
});

test('a per-attempt timeout counts as a breaker failure', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ policy: consecutiveFailures(1), clock });
  const policy = pipeline(breaker, timeout(500, { clock }));
  const call = policy.execute(() => new Promise<never>(() => {}));
  const rejected = assert.rejects(call, TimeoutError);
  await clock.tick(500);
  await rejected;
  assert.equal(breaker.state, 'open');
  assert.equal(breaker.snapshot().totals.failures, 1);
});

test('a caller abort through retry and breaker is neither retried nor counted', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ policy: consecutiveFailures(1), clock });
  const policy = pipeline(
    retry({ maxAttempts: 3, backoff: 0, clock }),
    breaker,
    timeout(1_000, { clock }),
  );
  const controller = new AbortController();
  let attempts = 0;
  const call = policy.execute(
    ({ signal }) => {
      attempts++;
      return new Promise<never>((_, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    },
    { signal: controller.signal },
  );
  controller.abort(new Error('user left'));
  await assert.rejects(call, { message: 'user left' });
  assert.equal(attempts, 1);
  assert.equal(breaker.state, 'closed');
  assert.equal(breaker.snapshot().totals.failures, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('the result type widens with what a fallback may answer', async () => {
  const policy = pipeline(fallback(0), retry({ maxAttempts: 1 }));
  const value = await policy.execute(() => 'text');
  // @ts-expect-error the fallback may answer a number instead of the work's string
  const text: string = value;
  assert.equal(text, 'text');
});

test('the caller never receives an ignore()/markAsSuccess() wrapper, even with no breaker', async () => {
  const clock = new ManualClock();
  const original = new Error('not found');
  const withoutBreaker = pipeline(retry({ maxAttempts: 1, clock }), timeout(1_000, { clock }));
  await assert.rejects(
    withoutBreaker.execute(() => {
      throw ignore(original);
    }),
    (error: unknown) => error === original,
  );
  const fallbackOnly = pipeline(fallback('substitute', { handles: () => false }));
  await assert.rejects(
    fallbackOnly.execute(async () => {
      throw markAsSuccess(original);
    }),
    (error: unknown) => error === original,
  );
  await assert.rejects(
    pipeline().execute(() => {
      throw ignore(original);
    }),
    (error: unknown) => !(error instanceof MarkedOutcome) && error === original,
  );
});

test('a nested pipeline keeps outcome marks for a breaker outside it', async () => {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1) });
  const inner = pipeline(retry({ maxAttempts: 2, backoff: 0, clock }), timeout(1_000, { clock }));
  const outer = pipeline(breaker, inner);
  const original = new Error('client mistake');
  await assert.rejects(
    outer.execute(async () => {
      throw ignore(original);
    }),
    (error: unknown) => error === original,
  );
  assert.equal(breaker.state, 'closed', 'an ignored error must not trip the breaker');
  assert.equal(breaker.snapshot().totals.ignored, 1);
  assert.equal(breaker.snapshot().totals.failures, 0);
});

test('adds no listener to the shared never-aborting signal when the caller gave none', async () => {
  const clock = new ManualClock();
  const policy = pipeline(
    retry({ maxAttempts: 2, backoff: 0, clock }),
    new CircuitBreaker({ clock }),
    timeout(1_000, { clock }),
  );
  let finish!: () => void;
  const call = policy.execute(() => new Promise<void>((resolve) => (finish = resolve)));
  assert.equal(getEventListeners(neverAborted, 'abort').length, 0);
  finish();
  await call;
  assert.equal(clock.pendingTimers, 0);
});

test("unwraps a wrapper thrown by a fallback's substitute outside a breaker", async () => {
  const clock = new ManualClock();
  const original = new Error('still missing');
  const policy = pipeline(
    fallback(() => {
      throw markAsSuccess(original);
    }),
    new CircuitBreaker({ clock }),
  );
  await assert.rejects(
    policy.execute(() => {
      throw new Error('boom');
    }),
    (error: unknown) => error === original,
  );
});
