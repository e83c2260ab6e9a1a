import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, mock } from 'node:test';
import {
  type BreakerEvents,
  type CallContext,
  CircuitBreaker,
  type CircuitBreakerOptions,
  CircuitOpenError,
  consecutiveFailures,
  exponential,
  failureRate,
  InvalidOptionError,
  ignore,
  ManualClock,
  markAsSuccess,
  neverAborted,
  slowCallRate,
  TimeoutError,
} from 'breakwater';

const boom = new Error('boom');
const fail = (): never => {
  throw boom;
};
const failAsync = async (): Promise<never> => {
  throw boom;
};

function setup(options: CircuitBreakerOptions = {}) {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({ clock, ...options });
  return { clock, breaker };
}

function trip(breaker: CircuitBreaker, failures: number): void {
  for (let i = 0; i < failures; i++) assert.throws(() => breaker.executeSync(fail), boom);
}

function record<K extends keyof BreakerEvents>(breaker: CircuitBreaker, name: K) {
  const seen: BreakerEvents[K][] = [];
  breaker.on(name, (payload) => seen.push(payload));
  return seen;
}

describe('CircuitBreaker: the seed story', () => {
  it('answers 503 after three failures and 200 again once a trial succeeds', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      policy: consecutiveFailures(3),
      openDuration: 5_000,
    });
    let upstreamHealthy = false;
    let upstreamCalls = 0;
    const server = createServer(async (_request, response) => {
      try {
        const body = await breaker.execute(async () => {
          upstreamCalls++;
          if (!upstreamHealthy) throw new Error('upstream down');
          return 'hello';
        });
        response.writeHead(200).end(body);
      } catch (error) {
        if (error instanceof CircuitOpenError) {
          response.writeHead(503, { 'retry-after': String(Math.ceil(error.retryAfter / 1000)) });
          response.end();
        } else {
          response.writeHead(500).end();
        }
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(url)).status);
      assert.deepEqual(statuses, [500, 500, 500]);
      assert.equal(breaker.state, 'open');

      const rejected = await fetch(url);
      assert.equal(rejected.status, 503);
      assert.equal(rejected.headers.get('retry-after'), '5');
      assert.equal(upstreamCalls, 3, 'an open breaker never calls the upstream');

      upstreamHealthy = true;
      clock.advance(5_000);
      assert.equal(breaker.state, 'half-open');
      const recovered = await fetch(url);
      assert.equal(recovered.status, 200);
      assert.equal(await recovered.text(), 'hello');
      assert.equal(breaker.state, 'closed');
      assert.equal(clock.pendingTimers, 0);
    } finally {
      server.close();
      server.closeAllConnections();
    }
  });
});

describe('CircuitBreaker: closed', () => {
  it('returns the work’s own result, for synchronous and asynchronous work', async () => {
    const { breaker } = setup();
    const pending = breaker.execute(() => 42);
    assert.ok(pending instanceof Promise, 'execute always returns a promise');
    assert.equal(await pending, 42);
    assert.equal(await breaker.execute(async () => 'async'), 'async');
    assert.equal(
      breaker.executeSync(() => 'sync'),
      'sync',
    );
  });

  it('rethrows the work’s own error unchanged, as a rejection even when thrown synchronously', async () => {
    const { breaker } = setup();
    const pending = breaker.execute(fail);
    assert.ok(pending instanceof Promise);
    await assert.rejects(pending, (error) => error === boom);
    await assert.rejects(breaker.execute(failAsync), (error) => error === boom);
  });

  it('accepts a non-native thenable', async () => {
    const { breaker } = setup();
    const thenable: PromiseLike<string> = {
      // biome-ignore lint/suspicious/noThenProperty: the point of the test is a custom thenable
      then: (resolve) => Promise.resolve('thenable').then(resolve),
    };
    assert.equal(await breaker.execute(() => thenable), 'thenable');
  });

  it('hands work the shared never-aborted signal when nothing can abort it', async () => {
    const { breaker } = setup();
    let seen: AbortSignal | undefined;
    await breaker.execute(({ signal }) => {
      seen = signal;
    });
    assert.equal(seen, neverAborted);
  });

  it('stays closed while failures are interrupted by successes', () => {
    const { breaker } = setup({ policy: consecutiveFailures(3) });
    trip(breaker, 2);
    breaker.executeSync(() => 'ok');
    trip(breaker, 2);
    assert.equal(breaker.state, 'closed');
  });

  it('holds no timer while idle, in any state', () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 100 });
    assert.equal(clock.pendingTimers, 0);
    trip(breaker, 1);
    assert.equal(clock.pendingTimers, 0);
    clock.advance(100);
    assert.equal(breaker.state, 'half-open');
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('CircuitBreaker: open', () => {
  it('rejects without calling the work, with a retryAfter that counts down', async () => {
    const { clock, breaker } = setup({
      policy: consecutiveFailures(1),
      openDuration: 1_000,
      name: 'inventory',
    });
    trip(breaker, 1);
    clock.advance(400);
    let called = false;
    await assert.rejects(
      breaker.execute(() => {
        called = true;
      }),
      (error) =>
        error instanceof CircuitOpenError &&
        error.code === 'ERR_CIRCUIT_OPEN' &&
        error.retryAfter === 600 &&
        error.breaker === 'inventory',
    );
    assert.equal(called, false);
    assert.equal(breaker.retryAfter, 600);
  });

  it('throws CircuitOpenError synchronously from executeSync, without a stack to capture', () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    trip(breaker, 1);
    assert.throws(
      () => breaker.executeSync(() => assert.fail('must not run')),
      (error) => error instanceof CircuitOpenError && !String(error.stack).includes('\n    at '),
    );
  });

  it('reports half-open once the open duration has passed, emitting the transition once', () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 1_000 });
    const halfOpen = record(breaker, 'half-open');
    const states = record(breaker, 'state');
    trip(breaker, 1);
    clock.advance(999);
    assert.equal(breaker.state, 'open');
    clock.advance(1);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.retryAfter, 0);
    assert.equal(halfOpen.length, 1);
    assert.deepEqual(states, [
      { from: 'closed', to: 'open' },
      { from: 'open', to: 'half-open' },
    ]);
  });

  it('counts rejections and tells rejected listeners the state and wait', () => {
    const { breaker } = setup({ policy: consecutiveFailures(1), openDuration: 50 });
    const rejected = record(breaker, 'rejected');
    trip(breaker, 1);
    assert.equal(breaker.tryAcquire(), undefined);
    assert.deepEqual(rejected, [{ state: 'open', retryAfter: 50 }]);
    assert.equal(breaker.snapshot().totals.rejections, 1);
  });
});

describe('CircuitBreaker: half-open', () => {
  function openBreaker(options: CircuitBreakerOptions = {}) {
    const context = setup({ policy: consecutiveFailures(1), openDuration: 1_000, ...options });
    trip(context.breaker, 1);
    context.clock.advance(1_000);
    return context;
  }

  it('closes after a successful trial', () => {
    const { breaker } = openBreaker();
    const closed = record(breaker, 'close');
    breaker.executeSync(() => 'ok');
    assert.equal(breaker.state, 'closed');
    assert.equal(closed.length, 1);
  });

  it('admits at most maxCalls trials at once and rejects the rest with retryAfter 0', async () => {
    const { breaker } = openBreaker({ halfOpen: { maxCalls: 2, successesToClose: 2 } });
    const first = Promise.withResolvers<string>();
    const second = Promise.withResolvers<string>();
    const a = breaker.execute(() => first.promise);
    const b = breaker.execute(() => second.promise);
    await assert.rejects(
      breaker.execute(() => 'third'),
      (error) => error instanceof CircuitOpenError && error.retryAfter === 0,
    );
    first.resolve('a');
    assert.equal(await a, 'a');
    assert.equal(breaker.state, 'half-open', 'one of two required successes');
    second.resolve('b');
    assert.equal(await b, 'b');
    assert.equal(breaker.state, 'closed');
  });

  it('frees a trial slot when a trial is ignored', () => {
    const { breaker } = openBreaker();
    breaker.tryAcquire()?.ignore();
    assert.equal(breaker.state, 'half-open');
    assert.ok(breaker.tryAcquire(), 'the slot is free again');
  });

  it('reopens with a longer wait after a failed trial, and starts over once closed', () => {
    const { clock, breaker } = setup({
      policy: consecutiveFailures(1),
      openDuration: exponential({ initial: 1_000, max: 10_000 }),
    });
    const opened = record(breaker, 'open');
    trip(breaker, 1);
    clock.advance(1_000);
    trip(breaker, 1);
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.retryAfter, 2_000);
    clock.advance(2_000);
    trip(breaker, 1);
    assert.equal(breaker.retryAfter, 4_000);
    clock.advance(4_000);
    breaker.executeSync(() => 'ok');
    assert.equal(breaker.state, 'closed');
    trip(breaker, 1);
    assert.equal(breaker.retryAfter, 1_000, 'closing resets the backoff');
    assert.deepEqual(
      opened.map((e) => [e.attempt, e.openDuration]),
      [
        [0, 1_000],
        [1, 2_000],
        [2, 4_000],
        [0, 1_000],
      ],
    );
  });

  it('counts a leaked trial as a failure once it outlives maxDuration, so the breaker recovers', () => {
    const { clock, breaker } = openBreaker({ halfOpen: { maxDuration: 5_000 } });
    const failures = record(breaker, 'failure');
    const leaked = breaker.tryAcquire();
    assert.ok(leaked);
    clock.advance(4_999);
    assert.equal(breaker.tryAcquire(), undefined, 'the slot is still held');
    assert.equal(breaker.state, 'half-open');
    clock.advance(1);
    assert.equal(breaker.tryAcquire(), undefined);
    assert.equal(breaker.state, 'open');
    assert.equal(failures.length, 1);
    assert.ok(failures[0]?.error instanceof TimeoutError);
    assert.equal(breaker.retryAfter, 1_000);
    assert.equal(clock.pendingTimers, 0);
    clock.advance(1_000);
    leaked.success(); // far too late: belongs to the previous half-open generation
    assert.equal(breaker.state, 'half-open');
    breaker.executeSync(() => 'ok');
    assert.equal(breaker.state, 'closed');
  });

  it('reports a leaked trial as a failure at the moment it expired, without a timer', () => {
    const { clock, breaker } = openBreaker({ halfOpen: { maxDuration: 5_000 } });
    const leaked = breaker.tryAcquire();
    assert.ok(leaked);
    assert.equal(clock.pendingTimers, 0);
    clock.advance(5_500);
    assert.equal(breaker.state, 'open', 'the trial expired at 5 000 ms and reopened the breaker');
    assert.equal(breaker.retryAfter, 500, 'open for 1 000 ms from the expiry, not from now');
  });

  it('admits a trial at once when a leaked trial expired longer ago than the open duration', () => {
    const { clock, breaker } = openBreaker({ halfOpen: { maxDuration: 5_000 } });
    const opened = record(breaker, 'open');
    assert.ok(breaker.tryAcquire());
    clock.advance(60_000);
    const permit = breaker.tryAcquire();
    assert.ok(permit, 'expired at 5 s, open until 6 s: half-open again long since');
    assert.equal(opened.length, 1);
    permit.success();
    assert.equal(breaker.state, 'closed');
  });

  it('does not let a trial that settles after maxDuration close the breaker', () => {
    const { clock, breaker } = openBreaker({ halfOpen: { maxDuration: 5_000 } });
    const slow = breaker.tryAcquire();
    assert.ok(slow);
    clock.advance(5_200);
    slow.success();
    assert.equal(breaker.state, 'open', 'it expired at 5 000 ms: a failure, and too late to count');
    assert.equal(breaker.snapshot().totals.failures, 2);
  });

  it('counts an expired trial as a failure even while other trial slots are free', () => {
    const { clock, breaker } = openBreaker({
      halfOpen: { maxCalls: 2, successesToClose: 2, maxDuration: 5_000 },
    });
    const failures = record(breaker, 'failure');
    assert.ok(breaker.tryAcquire());
    clock.advance(5_000);
    assert.equal(breaker.state, 'open');
    assert.equal(failures.length, 1);
  });
});

describe('CircuitBreaker: the generation rule', () => {
  it('drops the failure of a call admitted while closed that ends after the breaker opened', async () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 1_000 });
    const ignored = record(breaker, 'ignored');
    const slow = Promise.withResolvers<never>();
    const pending = breaker.execute(() => slow.promise);
    trip(breaker, 1);
    clock.advance(1_000);
    assert.equal(breaker.state, 'half-open');
    slow.reject(boom);
    await assert.rejects(pending, (error) => error === boom, 'the caller still sees its error');
    assert.equal(breaker.state, 'half-open', 'the stale failure did not reopen it');
    assert.deepEqual(ignored, [{ reason: 'stale', error: boom }]);
  });

  it('does not let a success admitted before a trip close the half-open breaker', async () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 1_000 });
    const slow = Promise.withResolvers<string>();
    const pending = breaker.execute(() => slow.promise);
    trip(breaker, 1);
    clock.advance(1_000);
    slow.resolve('late');
    assert.equal(await pending, 'late');
    assert.equal(breaker.state, 'half-open');
  });

  it('drops outcomes of calls admitted before reset()', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(2) });
    const slow = Promise.withResolvers<never>();
    const pending = breaker.execute(() => slow.promise);
    breaker.reset();
    trip(breaker, 1);
    slow.reject(boom);
    await assert.rejects(pending);
    assert.equal(breaker.state, 'closed', 'only one failure counts against the fresh window');
  });
});

describe('CircuitBreaker: callTimeout', () => {
  it('rejects with TimeoutError, aborts the work’s signal and counts one failure', async () => {
    const { clock, breaker } = setup({ callTimeout: 100, policy: consecutiveFailures(2) });
    const failures = record(breaker, 'failure');
    const timeouts = record(breaker, 'timeout');
    const work = Promise.withResolvers<string>();
    let signal: AbortSignal = neverAborted;
    const pending = breaker.execute((context) => {
      signal = context.signal;
      return work.promise;
    });
    const outcome = assert.rejects(
      pending,
      (error) => error instanceof TimeoutError && error.code === 'ERR_TIMEOUT',
    );
    await clock.tick(99);
    assert.equal(signal.aborted, false);
    await clock.tick(1);
    await outcome;
    assert.equal(signal.aborted, true);
    assert.ok(signal.reason instanceof TimeoutError);
    assert.equal(failures.length, 1);
    assert.deepEqual(timeouts, [{ timeout: 100 }]);
    work.reject(new Error('aborted late'));
    await clock.tick(0);
    assert.equal(failures.length, 1, 'the late settle does not count again');
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.snapshot().totals.timeouts, 1);
  });

  it('clears its timer when the call settles first', async () => {
    const { clock, breaker } = setup({ callTimeout: 100 });
    assert.equal(await breaker.execute(async () => 'quick'), 'quick');
    await assert.rejects(breaker.execute(failAsync));
    assert.equal(clock.pendingTimers, 0);
  });

  it('gives each call its own signal', async () => {
    const { clock, breaker } = setup({ callTimeout: 100 });
    const signals: AbortSignal[] = [];
    const hang = new Promise<never>(() => {});
    const first = breaker.execute(({ signal }) => {
      signals.push(signal);
      return hang;
    });
    await clock.tick(50);
    const second = breaker.execute(({ signal }) => {
      signals.push(signal);
      return hang;
    });
    await clock.tick(50);
    await assert.rejects(first, TimeoutError);
    assert.deepEqual(
      signals.map((s) => s.aborted),
      [true, false],
    );
    await clock.tick(50);
    await assert.rejects(second, TimeoutError);
  });

  it('a timed-out trial reopens a half-open breaker', async () => {
    const { clock, breaker } = setup({
      callTimeout: 100,
      policy: consecutiveFailures(1),
      openDuration: 1_000,
    });
    trip(breaker, 1);
    clock.advance(1_000);
    const pending = breaker.execute(() => new Promise<never>(() => {}));
    const outcome = assert.rejects(pending, TimeoutError);
    await clock.tick(100);
    await outcome;
    assert.equal(breaker.state, 'open');
  });
});

describe('CircuitBreaker: caller abort', () => {
  it('rejects with the abort reason and counts neither success nor failure', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    const ignored = record(breaker, 'ignored');
    const controller = new AbortController();
    let workSignal: AbortSignal = neverAborted;
    const pending = breaker.execute(
      ({ signal }) => {
        workSignal = signal;
        return new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        );
      },
      { signal: controller.signal },
    );
    const reason = new Error('client went away');
    controller.abort(reason);
    await assert.rejects(pending, (error) => error === reason);
    assert.equal(workSignal.aborted, true);
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(ignored, [{ reason: 'caller-abort', error: reason }]);
    const totals = breaker.snapshot().totals;
    assert.equal(totals.failures + totals.successes, 0);
  });

  it('aborts the work when the caller aborts before the timeout, and clears the timer', async () => {
    const { clock, breaker } = setup({ callTimeout: 1_000 });
    const controller = new AbortController();
    let workSignal: AbortSignal = neverAborted;
    const pending = breaker.execute(
      ({ signal }) => {
        workSignal = signal;
        return new Promise<never>(() => {});
      },
      { signal: controller.signal },
    );
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    assert.equal(workSignal.aborted, true);
    assert.equal(clock.pendingTimers, 0);
  });

  it('does not run the work or take a trial slot when the signal is already aborted', async () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 10 });
    trip(breaker, 1);
    clock.advance(10);
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      breaker.execute(() => assert.fail('must not run'), { signal: controller.signal }),
      { name: 'AbortError' },
    );
    assert.ok(breaker.tryAcquire(), 'the trial slot is still free');
  });

  it('counts a call that finishes normally under a caller signal', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    const { signal } = new AbortController();
    await assert.rejects(breaker.execute(failAsync, { signal }), (error) => error === boom);
    assert.equal(breaker.state, 'open');
  });
});

describe('CircuitBreaker: outcome classification', () => {
  it('hands the caller the original error of ignore() and does not count it', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    const ignored = record(breaker, 'ignored');
    await assert.rejects(
      breaker.execute(() => {
        throw ignore(boom);
      }),
      (error) => error === boom,
    );
    assert.throws(
      () =>
        breaker.executeSync(() => {
          throw ignore(boom);
        }),
      (error) => error === boom,
    );
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(ignored, [
      { reason: 'marked', error: boom },
      { reason: 'marked', error: boom },
    ]);
  });

  it('counts markAsSuccess() errors as successes while the caller gets the original', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(2) });
    trip(breaker, 1);
    await assert.rejects(
      breaker.execute(async () => {
        throw markAsSuccess(boom);
      }),
      (error) => error === boom,
    );
    trip(breaker, 1);
    assert.equal(breaker.state, 'closed', 'the marked success broke the run of failures');
  });

  it('counts an error rejected by isFailure as a success', async () => {
    const notFound = new Error('404');
    const { breaker } = setup({
      policy: consecutiveFailures(2),
      isFailure: (error) => error !== notFound,
    });
    trip(breaker, 1);
    await assert.rejects(
      breaker.execute(() => Promise.reject(notFound)),
      (e) => e === notFound,
    );
    trip(breaker, 1);
    assert.equal(breaker.state, 'closed');
  });

  it('counts a result judged a failure but still returns it', async () => {
    const { breaker } = setup({
      policy: consecutiveFailures(2),
      isResultFailure: (result) => (result as { status: number }).status >= 500,
    });
    const failures = record(breaker, 'failure');
    assert.deepEqual(await breaker.execute(() => ({ status: 503 })), { status: 503 });
    assert.deepEqual(
      breaker.executeSync(() => ({ status: 500 })),
      { status: 500 },
    );
    assert.equal(breaker.state, 'open');
    assert.deepEqual(failures[0]?.result, { status: 503 });
    assert.equal(failures[0]?.error, undefined);
  });

  it('counts a failure when a predicate throws, and still hands back the work’s error', async () => {
    const { breaker } = setup({
      policy: consecutiveFailures(1),
      isFailure: () => {
        throw new Error('bad predicate');
      },
    });
    const logged = mock.method(console, 'error', () => {});
    try {
      await assert.rejects(breaker.execute(failAsync), (error) => error === boom);
      assert.equal(logged.mock.callCount(), 1);
    } finally {
      logged.mock.restore();
    }
    assert.equal(breaker.state, 'open');
  });
});

describe('CircuitBreaker: permits', () => {
  it('counts what the holder reports, once', () => {
    const { breaker } = setup({ policy: consecutiveFailures(2) });
    const permit = breaker.tryAcquire();
    assert.ok(permit);
    permit.failure(boom);
    permit.failure(boom);
    permit.success();
    assert.equal(breaker.state, 'closed', 'settling twice is a no-op');
    breaker.tryAcquire()?.failure();
    assert.equal(breaker.state, 'open');
  });

  it('returns undefined while open, with retryAfter telling when to come back', () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 3_000 });
    breaker.tryAcquire()?.failure();
    clock.advance(1_000);
    assert.equal(breaker.tryAcquire(), undefined);
    assert.equal(breaker.retryAfter, 2_000);
  });

  it('measures a permit’s duration from acquire to settle', () => {
    const { clock, breaker } = setup();
    const successes = record(breaker, 'success');
    const permit = breaker.tryAcquire();
    clock.advance(250);
    permit?.success();
    assert.deepEqual(successes, [{ durationMs: 250 }]);
  });

  it('closes a half-open breaker from a successful permit', () => {
    const { clock, breaker } = setup({ policy: consecutiveFailures(1), openDuration: 10 });
    breaker.tryAcquire()?.failure();
    clock.advance(10);
    const permit = breaker.tryAcquire();
    assert.equal(breaker.tryAcquire(), undefined, 'one trial at a time');
    permit?.success();
    assert.equal(breaker.state, 'closed');
  });
});

describe('CircuitBreaker: manual control', () => {
  it('forceOpen() rejects every call until reset(), however much time passes', async () => {
    const { clock, breaker } = setup({ openDuration: 2_000 });
    const states = record(breaker, 'state');
    const opens = record(breaker, 'open');
    breaker.forceOpen();
    assert.equal(breaker.state, 'forced-open');
    clock.advance(1_000_000);
    assert.equal(breaker.state, 'forced-open');
    assert.equal(breaker.retryAfter, Number.POSITIVE_INFINITY, 'no wait will do: until reset');
    await assert.rejects(
      breaker.execute(() => 'x'),
      (error) =>
        error instanceof CircuitOpenError &&
        error.retryAfter === Number.POSITIVE_INFINITY &&
        /until reset/.test(error.message),
    );
    assert.equal(opens.length, 1, 'forceOpen() emits open as well as state');
    assert.equal(opens[0]?.openDuration, Number.POSITIVE_INFINITY);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.equal(await breaker.execute(() => 'x'), 'x');
    assert.deepEqual(states, [
      { from: 'closed', to: 'forced-open' },
      { from: 'forced-open', to: 'closed' },
    ]);
  });

  it('disable() admits everything and records nothing', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    const failures = record(breaker, 'failure');
    breaker.disable();
    trip(breaker, 5);
    await assert.rejects(breaker.execute(failAsync));
    assert.equal(breaker.state, 'disabled');
    assert.equal(failures.length, 0);
    assert.equal(breaker.snapshot().totals.failures, 0);
    breaker.reset();
    trip(breaker, 1);
    assert.equal(breaker.state, 'open');
  });

  it('emits no transition when reset() finds the breaker closed or forceOpen() finds it forced', () => {
    const { breaker } = setup();
    const states = record(breaker, 'state');
    const closed = record(breaker, 'close');
    breaker.reset();
    breaker.forceOpen();
    breaker.forceOpen();
    assert.deepEqual(states, [{ from: 'closed', to: 'forced-open' }]);
    assert.equal(closed.length, 0);
  });

  it('reset() closes with a fresh window and the first open duration', () => {
    const { clock, breaker } = setup({
      policy: consecutiveFailures(2),
      openDuration: exponential({ initial: 100, max: 10_000 }),
    });
    trip(breaker, 2);
    clock.advance(100);
    trip(breaker, 1); // failed trial: next wait 200
    assert.equal(breaker.retryAfter, 200);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    trip(breaker, 1);
    assert.equal(breaker.state, 'closed', 'the window was emptied');
    trip(breaker, 1);
    assert.equal(breaker.retryAfter, 100, 'the backoff starts over');
  });
});

describe('CircuitBreaker: events', () => {
  it('a throwing listener never breaks a call', async () => {
    const { breaker } = setup({ policy: consecutiveFailures(1) });
    const logged = mock.method(console, 'error', () => {});
    try {
      for (const name of ['success', 'failure', 'open', 'state', 'rejected'] as const) {
        breaker.on(name, () => {
          throw new Error(`listener of ${name}`);
        });
      }
      assert.equal(await breaker.execute(() => 'fine'), 'fine');
      await assert.rejects(breaker.execute(failAsync), (error) => error === boom);
      await assert.rejects(
        breaker.execute(() => 'x'),
        CircuitOpenError,
      );
      assert.equal(logged.mock.callCount(), 5);
    } finally {
      logged.mock.restore();
    }
  });

  it('stops calling a listener once unsubscribed', () => {
    const { breaker } = setup();
    let calls = 0;
    const off = breaker.on('success', () => calls++);
    breaker.executeSync(() => 1);
    off();
    breaker.executeSync(() => 1);
    assert.equal(calls, 1);
  });

  it('reports durations measured on the breaker’s clock', async () => {
    const { clock, breaker } = setup();
    const failures = record(breaker, 'failure');
    const work = Promise.withResolvers<never>();
    const pending = breaker.execute(() => work.promise);
    clock.advance(75);
    work.reject(boom);
    await assert.rejects(pending);
    assert.deepEqual(failures, [{ durationMs: 75, error: boom, result: undefined }]);
  });
});

describe('CircuitBreaker: options', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['openDuration', { openDuration: -1 }],
    ['openDuration', { openDuration: 'soon' }],
    ['halfOpen.maxCalls', { halfOpen: { maxCalls: 0 } }],
    ['halfOpen.successesToClose', { halfOpen: { successesToClose: 1.5 } }],
    ['halfOpen.maxDuration', { halfOpen: { maxDuration: 0 } }],
    ['halfOpen.maxcalls', { halfOpen: { maxcalls: 2 } }],
    ['callTimeout', { callTimeout: 0 }],
    ['callTimeout', { callTimeout: Number.NaN }],
    // Beyond a signed 32-bit delay, Node fires a timer at once: every call would time out.
    ['callTimeout', { callTimeout: 2 ** 31 }],
    ['policy', { policy: { recordFailure: () => true } }],
    ['isFailure', { isFailure: true }],
    ['clock', { clock: { now: () => 0 } }],
    ['name', { name: 42 }],
    ['halfopen', { halfopen: {} }],
    ['initialState.state', { initialState: { version: 1, state: 'ajar' } }],
  ];
  for (const [option, options] of cases) {
    it(`rejects a bad ${option} with an error naming it`, () => {
      assert.throws(
        () => new CircuitBreaker(options as CircuitBreakerOptions),
        (error) =>
          error instanceof InvalidOptionError &&
          error.code === 'ERR_INVALID_OPTION' &&
          error.option === option,
      );
    });
  }

  it('gives each breaker its own copy of a shared policy', () => {
    const clock = new ManualClock();
    const options = { clock, policy: consecutiveFailures(2) };
    const a = new CircuitBreaker(options);
    const b = new CircuitBreaker(options);
    trip(a, 1);
    trip(b, 1);
    assert.equal(a.state, 'closed');
    assert.equal(b.state, 'closed');
  });

  it('trips on a failure-rate policy', () => {
    const { breaker } = setup({
      policy: failureRate({ threshold: 0.5, minimumCalls: 4, window: { calls: 10 } }),
    });
    breaker.executeSync(() => 1);
    breaker.executeSync(() => 1);
    trip(breaker, 1);
    assert.equal(breaker.state, 'closed');
    trip(breaker, 1);
    assert.equal(breaker.state, 'open');
  });

  it('forgets failures that slid out of a failure-rate time window', () => {
    const { clock, breaker } = setup({
      policy: failureRate({ threshold: 0.5, minimumCalls: 2, window: { duration: 1_000 } }),
    });
    trip(breaker, 1);
    clock.advance(2_000);
    breaker.executeSync(() => 'ok');
    breaker.executeSync(() => 'ok');
    trip(breaker, 1);
    assert.equal(breaker.state, 'closed', '1 failure of 3 in the window');
    trip(breaker, 1);
    assert.equal(breaker.state, 'open', '2 of 4');
  });

  it('trips on slow successes under a slow-call-rate policy', async () => {
    const { clock, breaker } = setup({
      policy: slowCallRate({
        threshold: 1,
        slowerThan: 100,
        minimumCalls: 2,
        window: { calls: 2 },
      }),
    });
    for (let i = 0; i < 2; i++) {
      const work = Promise.withResolvers<string>();
      const pending = breaker.execute(() => work.promise);
      clock.advance(150);
      work.resolve('slow but fine');
      assert.equal(await pending, 'slow but fine');
    }
    assert.equal(breaker.state, 'open');
  });

  it('does not read the clock on the closed path when neither policy nor listener needs it', async () => {
    const clock = new ManualClock();
    let reads = 0;
    const counting = {
      now: () => {
        reads++;
        return clock.now();
      },
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: clock.clearTimeout.bind(clock),
    };
    const breaker = new CircuitBreaker({ clock: counting, policy: consecutiveFailures(5) });
    reads = 0;
    await breaker.execute(async () => 'ok');
    breaker.executeSync(() => 'ok');
    breaker.tryAcquire()?.success();
    assert.equal(reads, 0);
    breaker.on('success', () => {});
    await breaker.execute(async () => 'ok');
    assert.equal(reads, 2, 'a duration listener makes it time calls');
  });

  it('measures call durations for the policy', async () => {
    const durations: number[] = [];
    const { clock, breaker } = setup({
      policy: {
        recordSuccess: (_now, durationMs) => {
          durations.push(durationMs);
          return false;
        },
        recordFailure: () => false,
        reset: () => {},
      },
    });
    const work = Promise.withResolvers<string>();
    const pending = breaker.execute((_context: CallContext) => work.promise);
    clock.advance(30);
    work.resolve('done');
    await pending;
    assert.deepEqual(durations, [30]);
  });
});

describe('rejection errors', () => {
  it('shares one error among calls rejected in the same millisecond, and only those', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({
      clock,
      policy: consecutiveFailures(1),
      openDuration: 1_000,
    });
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    const first = await breaker.execute(() => 'never').catch((error: unknown) => error);
    const second = await breaker.execute(() => 'never').catch((error: unknown) => error);
    assert.ok(first instanceof CircuitOpenError);
    assert.equal(second, first);
    clock.advance(1);
    const later = await breaker.execute(() => 'never').catch((error: unknown) => error);
    assert.ok(later instanceof CircuitOpenError);
    assert.notEqual(later, first);
    assert.equal(first.retryAfter, 1_000, 'an error already handed out never changes');
    assert.equal(later.retryAfter, 999);
  });

  it('freezes a shared error, so no caller can change it for another', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ clock, policy: consecutiveFailures(1), name: 'pay' });
    await assert.rejects(breaker.execute(() => Promise.reject(new Error('down'))));
    const first = await breaker.execute(() => 'never').catch((error: unknown) => error);
    assert.ok(first instanceof CircuitOpenError);
    assert.ok(Object.isFrozen(first));
    assert.throws(() => {
      (first as { retryAfter: number }).retryAfter = 0;
    }, TypeError);
    assert.throws(() => {
      (first as unknown as { status: number }).status = 500;
    }, TypeError);
    const second = await breaker.execute(() => 'never').catch((error: unknown) => error);
    assert.equal(second, first);
    assert.equal((second as CircuitOpenError).retryAfter, 30_000);
    assert.equal((second as { status?: number }).status, undefined);
  });
});
