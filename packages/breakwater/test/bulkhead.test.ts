import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { bulkhead } from '../src/bulkhead.ts';
import { BulkheadFullError, InvalidOptionError } from '../src/errors.ts';

/** Lets settled promises run their callbacks. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

test('runs up to maxConcurrent calls at once', async () => {
  const policy = bulkhead({ maxConcurrent: 2, maxQueue: 5 });
  const gates = [
    Promise.withResolvers<void>(),
    Promise.withResolvers<void>(),
    Promise.withResolvers<void>(),
  ];
  const started: number[] = [];
  const calls = gates.map((gate, i) =>
    policy.execute(() => {
      started.push(i);
      return gate.promise;
    }),
  );
  assert.deepEqual(started, [0, 1]);
  assert.equal(policy.running, 2);
  assert.equal(policy.queued, 1);
  gates[0]?.resolve();
  await flush();
  assert.deepEqual(started, [0, 1, 2]);
  assert.equal(policy.running, 2);
  assert.equal(policy.queued, 0);
  gates[1]?.resolve();
  gates[2]?.resolve();
  await Promise.all(calls);
  assert.equal(policy.running, 0);
});

test('rejects with BulkheadFullError beyond the queue without running the work', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
  const gate = Promise.withResolvers<void>();
  const running = policy.execute(() => gate.promise);
  const queued = policy.execute(() => 'queued');
  let ran = false;
  await assert.rejects(
    policy.execute(() => {
      ran = true;
    }),
    (e: unknown) =>
      e instanceof BulkheadFullError &&
      e.code === 'ERR_BULKHEAD_FULL' &&
      e.maxConcurrent === 1 &&
      e.maxQueue === 1,
  );
  assert.equal(ran, false);
  gate.resolve();
  await running;
  assert.equal(await queued, 'queued');
});

test('has no queue by default', async () => {
  const policy = bulkhead({ maxConcurrent: 1 });
  const gate = Promise.withResolvers<void>();
  const running = policy.execute(() => gate.promise);
  await assert.rejects(
    policy.execute(() => 'second'),
    BulkheadFullError,
  );
  gate.resolve();
  await running;
});

test('starts queued calls in arrival order', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
  const order: string[] = [];
  const gate = Promise.withResolvers<void>();
  const first = policy.execute(() => gate.promise);
  const rest = ['a', 'b', 'c', 'd'].map((name) =>
    policy.execute(async () => {
      order.push(name);
    }),
  );
  gate.resolve();
  await first;
  await Promise.all(rest);
  assert.deepEqual(order, ['a', 'b', 'c', 'd']);
});

test('an aborted queued call leaves the queue at once and the next one runs in order', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 3 });
  const gate = Promise.withResolvers<void>();
  const order: string[] = [];
  const first = policy.execute(() => gate.promise);
  const controller = new AbortController();
  const a = policy.execute(async () => order.push('a'));
  const b = policy.execute(async () => order.push('b'), { signal: controller.signal });
  const c = policy.execute(async () => order.push('c'));
  assert.equal(policy.queued, 3);

  const reason = new Error('caller left');
  controller.abort(reason);
  assert.equal(policy.queued, 2, 'left the queue synchronously, before any slot freed');
  await assert.rejects(b, (e: unknown) => e === reason);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);

  gate.resolve();
  await Promise.all([first, a, c]);
  assert.deepEqual(order, ['a', 'c']);
  assert.equal(policy.queued, 0);
  assert.equal(policy.running, 0);
});

test('aborting the last or only queued call keeps the queue consistent', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
  const gate = Promise.withResolvers<void>();
  const first = policy.execute(() => gate.promise);
  const head = new AbortController();
  const tail = new AbortController();
  const h = policy.execute(() => 'h', { signal: head.signal });
  const t = policy.execute(() => 't', { signal: tail.signal });
  tail.abort();
  head.abort();
  await assert.rejects(h, { name: 'AbortError' });
  await assert.rejects(t, { name: 'AbortError' });
  assert.equal(policy.queued, 0);
  const after = policy.execute(() => 'after');
  assert.equal(policy.queued, 1);
  gate.resolve();
  await first;
  assert.equal(await after, 'after');
});

test('removes the abort listener of a queued call once it starts', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
  const gate = Promise.withResolvers<void>();
  const first = policy.execute(() => gate.promise);
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const queued = policy.execute(
    ({ signal }) => {
      seen = signal;
      return 'ran';
    },
    { signal: controller.signal },
  );
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  gate.resolve();
  await first;
  assert.equal(await queued, 'ran');
  assert.equal(seen, controller.signal, 'the work receives the caller signal');
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});

test('frees the slot when the work throws or rejects', async () => {
  const policy = bulkhead({ maxConcurrent: 1 });
  await assert.rejects(
    policy.execute(() => {
      throw new Error('sync');
    }),
    { message: 'sync' },
  );
  assert.equal(policy.running, 0);
  await assert.rejects(
    policy.execute(() => Promise.reject(new Error('async'))),
    { message: 'async' },
  );
  await flush();
  assert.equal(policy.running, 0);
  assert.equal(await policy.execute(() => 'free'), 'free');
});

test('rejects a caller that already aborted without taking a slot', async () => {
  const policy = bulkhead({ maxConcurrent: 1 });
  await assert.rejects(
    policy.execute(() => 'x', { signal: AbortSignal.abort() }),
    { name: 'AbortError' },
  );
  assert.equal(policy.running, 0);
});

test('emits rejected with the occupancy', async () => {
  const policy = bulkhead({ maxConcurrent: 1, maxQueue: 1 });
  const events: unknown[] = [];
  policy.on('rejected', (e) => events.push(e));
  const gate = Promise.withResolvers<void>();
  const running = policy.execute(() => gate.promise);
  const queued = policy.execute(() => 'q');
  await assert.rejects(
    policy.execute(() => 'x'),
    BulkheadFullError,
  );
  assert.deepEqual(events, [{ running: 1, queued: 1 }]);
  gate.resolve();
  await Promise.all([running, queued]);
});

test('rejects bad options naming the option', () => {
  for (const [options, option] of [
    [{ maxConcurrent: 0 }, 'maxConcurrent'],
    [{ maxConcurrent: 1.5 }, 'maxConcurrent'],
    [{ maxConcurrent: 1, maxQueue: -1 }, 'maxQueue'],
    [{ maxConcurrent: 1, maxQueue: Number.NaN }, 'maxQueue'],
  ] as const) {
    assert.throws(
      () => bulkhead(options),
      (e: unknown) => e instanceof InvalidOptionError && e.option === option,
      option,
    );
  }
});
