/**
 * The work's context carries the attempt number: 1 without a retry, and the retry's own count
 * through every policy between the retry and the work.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bulkhead,
  type CallContext,
  CircuitBreaker,
  consecutiveFailures,
  fallback,
  pipeline,
  retry,
  timeout,
} from '../src/index.ts';

/** Work that fails until its third attempt, recording the attempt numbers it saw. */
function flaky(seen: number[]) {
  return async ({ attempt, signal }: CallContext) => {
    assert.ok(signal instanceof AbortSignal);
    seen.push(attempt);
    if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
    return 'ok';
  };
}

describe('CallContext.attempt', () => {
  it('is 1 for a call without a retry, in every policy', async () => {
    const seen: number[] = [];
    const record = ({ attempt }: CallContext) => seen.push(attempt);
    await new CircuitBreaker().execute(record);
    await new CircuitBreaker({ callTimeout: 1_000 }).execute(record);
    new CircuitBreaker().executeSync(record);
    await timeout(1_000).execute(record);
    await bulkhead({ maxConcurrent: 1 }).execute(record);
    await fallback(0).execute(record);
    await pipeline().execute(record);
    assert.deepEqual(seen, [1, 1, 1, 1, 1, 1, 1]);
  });

  it('counts a retry’s attempts from 1', async () => {
    const seen: number[] = [];
    assert.equal(await retry({ maxAttempts: 3, backoff: 0 }).execute(flaky(seen)), 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('reaches the work through every policy inside the retry', async () => {
    const layers = {
      breaker: () => new CircuitBreaker({ policy: consecutiveFailures(10) }),
      'breaker with callTimeout': () => new CircuitBreaker({ callTimeout: 1_000 }),
      timeout: () => timeout(1_000),
      bulkhead: () => bulkhead({ maxConcurrent: 1 }),
      fallback: () => fallback('unused', { handles: () => false }),
    };
    for (const [name, layer] of Object.entries(layers)) {
      const seen: number[] = [];
      const policy = pipeline(retry({ maxAttempts: 3, backoff: 0 }), layer());
      assert.equal(await policy.execute(flaky(seen)), 'ok', name);
      assert.deepEqual(seen, [1, 2, 3], name);
    }
  });

  it('passes through a whole pipeline with the caller’s signal', async () => {
    const seen: number[] = [];
    const policy = pipeline(
      retry({ maxAttempts: 3, backoff: 0 }),
      new CircuitBreaker(),
      timeout(1_000),
      bulkhead({ maxConcurrent: 2 }),
    );
    const result = await policy.execute(flaky(seen), { signal: new AbortController().signal });
    assert.equal(result, 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
  });
});
