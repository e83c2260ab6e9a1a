import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { ManualClock } from '../src/clock.ts';
import { InvalidOptionError, TimeoutError } from '../src/errors.ts';
import { timeout } from '../src/timeout.ts';

test('aborts the work signal with a TimeoutError and rejects with it', async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  let workSignal: AbortSignal | undefined;
  const work = Promise.withResolvers<string>();
  const call = policy.execute(({ signal }) => {
    workSignal = signal;
    return work.promise;
  });
  const rejected = assert.rejects(call, (e: unknown) => e instanceof TimeoutError);
  clock.advance(999);
  assert.equal(workSignal?.aborted, false);
  clock.advance(1);
  assert.equal(workSignal?.aborted, true);
  assert.ok(workSignal?.reason instanceof TimeoutError);
  assert.equal((workSignal?.reason as TimeoutError | undefined)?.timeout, 1_000);
  await rejected;
  work.resolve('late');
});

test('rejects at the deadline even if the work ignores its signal', async () => {
  const clock = new ManualClock();
  const policy = timeout(50, { clock });
  const call = policy.execute(() => new Promise<never>(() => {}));
  clock.advance(50);
  await assert.rejects(call, { code: 'ERR_TIMEOUT' });
});

test('leaves no timer pending and aborts nothing after a success', async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  let workSignal: AbortSignal | undefined;
  const value = await policy.execute(async ({ signal }) => {
    workSignal = signal;
    await Promise.resolve();
    return 42;
  });
  assert.equal(value, 42);
  assert.equal(clock.pendingTimers, 0);
  clock.advance(10_000);
  assert.equal(workSignal?.aborted, false);
});

test('removes its listener from the caller signal when the call settles', async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  const caller = new AbortController();
  const work = Promise.withResolvers<string>();
  const call = policy.execute(() => work.promise, { signal: caller.signal });
  assert.equal(getEventListeners(caller.signal, 'abort').length, 1);
  work.resolve('done');
  assert.equal(await call, 'done');
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0);

  const failing = policy.execute(() => Promise.reject(new Error('down')), {
    signal: caller.signal,
  });
  await assert.rejects(failing, { message: 'down' });
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0);

  const timedOut = policy.execute(() => new Promise(() => {}), { signal: caller.signal });
  clock.advance(1_000);
  await assert.rejects(timedOut, TimeoutError);
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
  assert.equal(caller.signal.aborted, false, 'a timeout never aborts the caller');
});

test('many calls sharing one caller signal leave no listener behind', async () => {
  const policy = timeout(1_000, { clock: new ManualClock() });
  const caller = new AbortController();
  for (let i = 0; i < 100; i++) {
    await policy.execute(async () => i, { signal: caller.signal });
  }
  assert.equal(getEventListeners(caller.signal, 'abort').length, 0);
});

test('passes the caller abort on to the work and rejects with its reason', async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  const caller = new AbortController();
  let workSignal: AbortSignal | undefined;
  const call = policy.execute(
    ({ signal }) => {
      workSignal = signal;
      return new Promise(() => {});
    },
    { signal: caller.signal },
  );
  const reason = new Error('user left');
  caller.abort(reason);
  await assert.rejects(call, (e: unknown) => e === reason);
  assert.equal(workSignal?.reason, reason);
  assert.equal(clock.pendingTimers, 0);
});

test('does not start work for a caller that already aborted', async () => {
  const clock = new ManualClock();
  let calls = 0;
  await assert.rejects(
    timeout(100, { clock }).execute(
      () => {
        calls++;
      },
      { signal: AbortSignal.abort() },
    ),
    { name: 'AbortError' },
  );
  assert.equal(calls, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('settles synchronous work without a timer', async () => {
  const clock = new ManualClock();
  const policy = timeout(100, { clock });
  const call = policy.execute(() => 'now');
  assert.equal(clock.pendingTimers, 0);
  assert.equal(await call, 'now');
  await assert.rejects(
    policy.execute(() => {
      throw new Error('sync');
    }),
    { message: 'sync' },
  );
});

test('gives each call its own signal', async () => {
  const clock = new ManualClock();
  const policy = timeout(100, { clock });
  const signals: AbortSignal[] = [];
  const slow = policy.execute(({ signal }) => {
    signals.push(signal);
    return new Promise(() => {});
  });
  const fast = policy.execute(({ signal }) => {
    signals.push(signal);
    return Promise.resolve('fast');
  });
  assert.equal(await fast, 'fast');
  clock.advance(100);
  await assert.rejects(slow, TimeoutError);
  assert.equal(signals[0]?.aborted, true);
  assert.equal(signals[1]?.aborted, false);
});

test('emits a timeout event', async () => {
  const clock = new ManualClock();
  const policy = timeout(20, { clock });
  const seen: number[] = [];
  policy.on('timeout', (e) => seen.push(e.timeout));
  const call = policy.execute(() => new Promise(() => {}));
  clock.advance(20);
  await assert.rejects(call, TimeoutError);
  assert.deepEqual(seen, [20]);
});

test('rejects a bad time limit naming it', () => {
  for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
    assert.throws(
      () => timeout(ms),
      (e: unknown) => e instanceof InvalidOptionError && e.option === 'ms',
      String(ms),
    );
  }
});

test('hands an aborted signal to work that reads it only after the time ran out', async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  const work = Promise.withResolvers<void>();
  let context: { readonly signal: AbortSignal } | undefined;
  const call = policy.execute((ctx) => {
    context = ctx; // the signal is read later, e.g. when the next step starts
    return work.promise;
  });
  const rejected = assert.rejects(call, TimeoutError);
  clock.advance(1_000);
  await rejected;
  assert.equal(context?.signal.aborted, true);
  assert.ok(context?.signal.reason instanceof TimeoutError);
  work.resolve();
});

test("hands an aborted signal to work that reads it only after the caller's abort", async () => {
  const clock = new ManualClock();
  const policy = timeout(1_000, { clock });
  const caller = new AbortController();
  let context: { readonly signal: AbortSignal } | undefined;
  const call = policy.execute(
    (ctx) => {
      context = ctx;
      return new Promise<void>(() => {});
    },
    { signal: caller.signal },
  );
  const reason = new Error('caller gave up');
  caller.abort(reason);
  await assert.rejects(call, (error: unknown) => error === reason);
  assert.equal(context?.signal.aborted, true);
  assert.equal(context?.signal.reason, reason);
  assert.equal(clock.pendingTimers, 0);
});
