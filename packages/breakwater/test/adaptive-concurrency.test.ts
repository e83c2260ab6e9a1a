import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adaptiveConcurrency } from '../src/adaptive-concurrency.ts';
import { ManualClock } from '../src/clock.ts';
import { ConcurrencyLimitError, InvalidOptionError, TimeoutError } from '../src/errors.ts';
import { fallback } from '../src/fallback.ts';
import { pipeline } from '../src/pipeline.ts';
import { timeout } from '../src/timeout.ts';

test('rejects at once beyond the limit, without running the work', async () => {
  const limiter = adaptiveConcurrency({ initialLimit: 2, name: 'inventory' });
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  const running = gates.map((gate) => limiter.execute(() => gate.promise));
  assert.equal(limiter.inFlight, 2);
  const rejections: Array<{ limit: number; inFlight: number }> = [];
  limiter.on('rejected', (event) => rejections.push(event));
  let ran = false;
  await assert.rejects(
    limiter.execute(() => {
      ran = true;
    }),
    (error: unknown) =>
      error instanceof ConcurrencyLimitError &&
      error.code === 'ERR_CONCURRENCY_LIMIT' &&
      error.limit === 2 &&
      error.limiter === 'inventory',
  );
  assert.equal(ran, false);
  assert.deepEqual(rejections, [{ limit: 2, inFlight: 2 }]);
  assert.equal(limiter.tryAcquire(), undefined);
  for (const gate of gates) gate.resolve();
  await Promise.all(running);
  assert.equal(limiter.inFlight, 0);
  assert.ok(limiter.tryAcquire());
});

test('a rejection carries no stack: it is as cheap as an open breaker’s', async () => {
  const limiter = adaptiveConcurrency({ initialLimit: 1 });
  const gate = Promise.withResolvers<void>();
  const running = limiter.execute(() => gate.promise);
  const error = await limiter.execute(() => 1).catch((e: unknown) => e);
  assert.ok(error instanceof ConcurrencyLimitError);
  assert.equal(error.stack?.split('\n').length, 1);
  gate.resolve();
  await running;
});

test('a caller already aborted is refused before admission, a later abort records nothing', async () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({ clock, initialLimit: 4, minSamples: 1, window: 0 });
  const limits: number[] = [];
  limiter.on('limit', ({ to }) => limits.push(to));
  const early = new AbortController();
  early.abort(new Error('gone'));
  let ran = false;
  await assert.rejects(
    limiter.execute(
      () => {
        ran = true;
      },
      { signal: early.signal },
    ),
    /gone/,
  );
  assert.equal(ran, false);

  const late = new AbortController();
  const call = limiter.execute(
    ({ signal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    { signal: late.signal },
  );
  assert.equal(limiter.inFlight, 1);
  clock.advance(10_000);
  late.abort(new Error('left'));
  await assert.rejects(call, /left/);
  assert.equal(limiter.inFlight, 0);
  assert.deepEqual(limits, [], 'an abandoned call is no latency sample');
});

test('the work receives the caller’s signal', async () => {
  const limiter = adaptiveConcurrency();
  const controller = new AbortController();
  const seen = await limiter.execute(({ signal }) => signal, { signal: controller.signal });
  assert.equal(seen, controller.signal);
});

test('a thrown or rejected error passes through and frees the slot', async () => {
  const limiter = adaptiveConcurrency({ initialLimit: 1 });
  await assert.rejects(
    limiter.execute(() => {
      throw new Error('sync');
    }),
    /sync/,
  );
  await assert.rejects(
    limiter.execute(() => Promise.reject(new Error('async'))),
    /async/,
  );
  assert.equal(limiter.inFlight, 0);
  assert.equal(await limiter.execute(() => 'ok'), 'ok');
});

test('emits the limit each time its whole value changes, with the window’s latency', () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    initialLimit: 4,
    minSamples: 1,
    window: 100,
    aimd: { latencyThreshold: 50 },
  });
  const events: Array<{ from: number; to: number; rtt: number }> = [];
  limiter.on('limit', (event) => events.push(event));
  /** Admits `n` calls at once and completes them, each taking `latency` ms. */
  const calls = (n: number, latency: number) => {
    const permits = Array.from({ length: n }, () => limiter.tryAcquire()!);
    for (const permit of permits) permit.complete(latency);
  };
  calls(4, 10);
  assert.deepEqual(events, [], 'the window is not over yet');
  clock.advance(100);
  calls(1, 10); // the first call to end after the window closes it, counted in it
  assert.deepEqual(events, [{ from: 4, to: 5, rtt: 10 }]);
  calls(5, 80);
  clock.advance(100);
  calls(1, 80);
  // 5 × 0.9 = 4.5: the whole limit drops to 4…
  assert.deepEqual(events.at(-1), { from: 5, to: 4, rtt: 80 });
  clock.advance(100);
  calls(1, 80);
  // …and the next cut, to 4.05, changes nothing whole.
  assert.equal(limiter.limit, 4);
  assert.equal(events.length, 2);
});

test('a permit measures latency on the clock unless told, and settles once', () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    initialLimit: 2,
    minSamples: 1,
    window: 0,
    aimd: { latencyThreshold: 50, backoffRatio: 0.5 },
  });
  const slow = limiter.tryAcquire()!;
  clock.advance(60);
  slow.complete();
  assert.equal(limiter.limit, 1, 'measured 60 ms > 50 ms: cut');
  slow.complete();
  slow.drop();
  assert.equal(limiter.inFlight, 0);
  const quick = limiter.tryAcquire()!;
  clock.advance(60);
  quick.complete(5); // time to first byte, say
  assert.equal(limiter.limit, 2);
});

test('a permit given a bad latency frees its slot and says so', () => {
  const limiter = adaptiveConcurrency({ initialLimit: 1 });
  const permit = limiter.tryAcquire()!;
  assert.throws(() => permit.complete(-1), InvalidOptionError);
  assert.equal(limiter.inFlight, 0);
});

test('composes in a pipeline: a timeout inside it is a drop that cuts the limit', async () => {
  const clock = new ManualClock();
  const limiter = adaptiveConcurrency({
    clock,
    algorithm: 'aimd',
    initialLimit: 10,
    minSamples: 1,
    window: 0,
    aimd: { backoffRatio: 0.5 },
  });
  const policy = pipeline(limiter, timeout(100, { clock }));
  const call = policy.execute(
    ({ signal }) =>
      new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
  );
  await clock.tick(100);
  await assert.rejects(call, TimeoutError);
  assert.equal(limiter.limit, 5);
});

test('composes in a pipeline: a fallback outside answers for a rejection', async () => {
  const limiter = adaptiveConcurrency({ initialLimit: 1 });
  const policy = pipeline(fallback('busy'), limiter);
  const gate = Promise.withResolvers<string>();
  const first = policy.execute(() => gate.promise);
  assert.equal(await policy.execute(() => 'second'), 'busy');
  gate.resolve('first');
  assert.equal(await first, 'first');
});

test('refuses unknown options and one algorithm’s settings given to the other', () => {
  const cases: Array<[unknown, string]> = [
    [{ initalLimit: 5 }, 'initalLimit'],
    [{ gradient: { tolerence: 2 } }, 'gradient.tolerence'],
    [{ algorithm: 'aimd', gradient: {} }, 'gradient'],
    [{ aimd: { backoffRatio: 0.5 } }, 'aimd'],
    [{ algorithm: 'vegas' }, 'algorithm'],
    [{ minLimit: 10, maxLimit: 5 }, 'maxLimit'],
    [{ initialLimit: 50, maxLimit: 20 }, 'initialLimit'],
    [{ smoothing: 0 }, 'smoothing'],
    [{ algorithm: 'aimd', aimd: { backoffRatio: 1 } }, 'aimd.backoffRatio'],
    [{ gradient: { tolerance: 0.5 } }, 'gradient.tolerance'],
    [{ clock: {} }, 'clock'],
  ];
  for (const [options, option] of cases) {
    assert.throws(
      () => adaptiveConcurrency(options as never),
      (error: unknown) =>
        error instanceof InvalidOptionError &&
        error.code === 'ERR_INVALID_OPTION' &&
        error.option === option,
      option,
    );
  }
});

test('the default initial limit sits within the bounds given', () => {
  assert.equal(adaptiveConcurrency({ minLimit: 50 }).limit, 50);
  assert.equal(adaptiveConcurrency({ maxLimit: 8 }).limit, 8);
  assert.equal(adaptiveConcurrency().limit, 20);
});

test('an isDrop that throws still frees the call’s slot', async () => {
  const limiter = adaptiveConcurrency({
    initialLimit: 1,
    isDrop: () => {
      throw new Error('bad classifier');
    },
  });
  await assert.rejects(
    limiter.execute(() => Promise.reject(new Error('work failed'))),
    /bad classifier/,
  );
  assert.equal(limiter.inFlight, 0);
});

test('a gradient queueSize that throws is logged: the call settles, its slot frees and the limit stays', async (t) => {
  const logged = t.mock.method(console, 'error', () => {});
  const clock = new ManualClock();
  let broken = true;
  const limiter = adaptiveConcurrency({
    clock,
    name: 'inventory',
    initialLimit: 4,
    minSamples: 1,
    window: 0,
    smoothing: 1,
    gradient: {
      queueSize: () => {
        if (broken) throw new Error('queueSize bug');
        return 4;
      },
    },
  });
  // Two in flight of a limit of 4: enough for the window to ask queueSize.
  const first = limiter.tryAcquire()!;
  const second = limiter.tryAcquire()!;
  clock.advance(10);
  assert.doesNotThrow(() => second.complete(), 'permit.complete() does not throw');
  assert.equal(limiter.inFlight, 1);
  assert.equal(limiter.limit, 4, 'the limit stays where it was');
  assert.equal(logged.mock.callCount(), 1);
  assert.match(String(logged.mock.calls[0]!.arguments[0]), /inventory.*gradient\.queueSize/);
  assert.equal((logged.mock.calls[0]!.arguments[1] as Error).message, 'queueSize bug');

  // Through execute, with the other permit still held: the call's own answer comes back.
  assert.equal(await limiter.execute(() => 'ok'), 'ok');
  await assert.rejects(
    limiter.execute(() => Promise.reject(new Error('work failed'))),
    /work failed/,
  );
  assert.equal(logged.mock.callCount(), 3, 'each window that asked is reported');
  first.complete();
  assert.equal(limiter.inFlight, 0);
  assert.equal(limiter.limit, 4);

  // Once queueSize answers again the limit moves: the limiter was not wedged.
  broken = false;
  const again = [limiter.tryAcquire()!, limiter.tryAcquire()!];
  clock.advance(10);
  again[1]!.complete();
  again[0]!.complete();
  assert.ok(limiter.limit > 4, `the limit grew to ${limiter.limit}`);
  assert.equal(limiter.inFlight, 0);
  assert.equal(logged.mock.callCount(), 3);
});
