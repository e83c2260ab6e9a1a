import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BulkheadFullError,
  CircuitOpenError,
  InvalidOptionError,
  TimeoutError,
} from '../src/errors.ts';
import { fallback } from '../src/fallback.ts';
import { markAsSuccess } from '../src/outcome.ts';

test('returns the work result untouched on success without computing the substitute', async () => {
  let computed = 0;
  const policy = fallback(() => {
    computed++;
    return 'substitute';
  });
  assert.equal(await policy.execute(() => 'real'), 'real');
  assert.equal(computed, 0);
});

test('answers a failure with a plain value', async () => {
  const policy = fallback('cached');
  assert.equal(
    await policy.execute(() => {
      throw new Error('down');
    }),
    'cached',
  );
});

test('computes the substitute once per failed call, from the error', async () => {
  const received: unknown[] = [];
  const policy = fallback(async (error) => {
    received.push(error);
    return 'degraded';
  });
  const error = new Error('down');
  assert.equal(await policy.execute(() => Promise.reject(error)), 'degraded');
  assert.deepEqual(received, [error]);
});

test('handles rejections from inner policies by default', async () => {
  const policy = fallback((error) => (error as Error).name);
  for (const error of [
    new CircuitOpenError(1_000),
    new BulkheadFullError(1, 0),
    new TimeoutError(100),
  ]) {
    assert.equal(
      await policy.execute(() => {
        throw error;
      }),
      error.name,
    );
  }
});

test('lets through the errors handles declines', async () => {
  const policy = fallback('cached', { handles: (e) => e instanceof CircuitOpenError });
  await assert.rejects(
    policy.execute(() => {
      throw new TypeError('bug');
    }),
    TypeError,
  );
  assert.equal(
    await policy.execute(() => {
      throw new CircuitOpenError(5);
    }),
    'cached',
  );
});

test('never answers for the caller own abort', async () => {
  let computed = 0;
  const policy = fallback(() => {
    computed++;
    return 'cached';
  });
  const controller = new AbortController();
  await assert.rejects(
    policy.execute(
      ({ signal }) => {
        controller.abort();
        throw signal.reason;
      },
      { signal: controller.signal },
    ),
    { name: 'AbortError' },
  );
  assert.equal(computed, 0);
});

test('answers for a result handlesResult flags, receiving the result', async () => {
  const received: unknown[] = [];
  const policy = fallback(
    (failure) => {
      received.push(failure);
      return { status: 200, cached: true };
    },
    { handlesResult: (r) => (r as { status: number }).status >= 500 },
  );
  assert.deepEqual(await policy.execute(() => ({ status: 404 })), { status: 404 });
  assert.deepEqual(await policy.execute(() => ({ status: 503 })), { status: 200, cached: true });
  assert.deepEqual(received, [{ status: 503 }]);
});

test('rejects with the substitute own error when it throws', async () => {
  const policy = fallback(() => {
    throw new Error('no cache either');
  });
  await assert.rejects(
    policy.execute(() => {
      throw new Error('down');
    }),
    { message: 'no cache either' },
  );
});

test('hands the substitute the error inside a markAsSuccess wrapper', async () => {
  const original = new Error('unknown user');
  const received: unknown[] = [];
  const policy = fallback((error) => {
    received.push(error);
    return 'guest';
  });
  assert.equal(
    await policy.execute(() => {
      throw markAsSuccess(original);
    }),
    'guest',
  );
  assert.deepEqual(received, [original]);
});

test('emits a fallback event per answered call', async () => {
  const policy = fallback('cached');
  const seen: unknown[] = [];
  policy.on('fallback', (e) => seen.push(e.error));
  const error = new Error('down');
  await policy.execute(() => Promise.reject(error));
  await policy.execute(() => 'fine');
  assert.deepEqual(seen, [error]);
});

test('rejects bad options naming the option', () => {
  assert.throws(
    () => fallback('x', { handles: 'all' as never }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'handles',
  );
  assert.throws(
    () => fallback('x', { handlesResult: 1 as never }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'handlesResult',
  );
});

test('a throwing handles is logged and the original error surfaces', async (t) => {
  const logged = t.mock.method(console, 'error', () => {});
  const policy = fallback('cached', {
    handles: () => {
      throw new Error('predicate bug');
    },
  });
  await assert.rejects(
    policy.execute(() => {
      throw new Error('work failed');
    }),
    { message: 'work failed' },
  );
  assert.equal(logged.mock.callCount(), 1);
});
