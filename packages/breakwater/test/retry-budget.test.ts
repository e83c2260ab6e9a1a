import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../src/clock.ts';
import { InvalidOptionError } from '../src/errors.ts';
import { RetryBudget } from '../src/retry-budget.ts';

function spend(budget: RetryBudget): number {
  let granted = 0;
  while (budget.tryAcquireRetry()) granted++;
  return granted;
}

test('admits retries up to the ratio of recorded requests', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, clock });
  for (let i = 0; i < 100; i++) budget.recordRequest();
  assert.equal(spend(budget), 20);
  assert.equal(budget.retries, 20);
  assert.equal(budget.requests, 100);
});

test('caps retries interleaved with requests at the ratio', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, clock });
  let granted = 0;
  for (let i = 0; i < 100; i++) {
    budget.recordRequest();
    if (budget.tryAcquireRetry()) granted++;
  }
  assert.equal(granted, 20);
});

test('allows minPerSecond × window retries with no traffic at all', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 3, window: 2_000, clock });
  assert.equal(spend(budget), 6);
});

test('adds the per-second floor to the ratio allowance', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 1, window: 1_000, clock });
  for (let i = 0; i < 10; i++) budget.recordRequest();
  assert.equal(spend(budget), 6);
});

test('forgets requests and retries once they leave the window', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 0.5, minPerSecond: 0, window: 10_000, clock });
  for (let i = 0; i < 10; i++) budget.recordRequest();
  assert.equal(spend(budget), 5);
  clock.advance(10_000);
  assert.equal(budget.requests, 0);
  assert.equal(budget.retries, 0);
  assert.equal(budget.tryAcquireRetry(), false, 'no traffic left to earn a retry');
});

test('drops old traffic one bucket at a time', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 1_000, buckets: 4, clock });
  budget.recordRequest(); // bucket [0, 250)
  clock.advance(250);
  budget.recordRequest(); // bucket [250, 500)
  assert.equal(budget.tryAcquireRetry(), true);
  clock.advance(750); // t = 1000: the first bucket expired, the second still counts
  assert.equal(budget.requests, 1);
  assert.equal(budget.retries, 1);
  assert.equal(budget.tryAcquireRetry(), false, 'one request earned one retry, already spent');
  clock.advance(250); // t = 1250: the second bucket expired too
  assert.equal(budget.requests, 0);
  assert.equal(budget.retries, 0);
});

test('survives a long idle gap without walking every missed bucket', () => {
  const clock = new ManualClock();
  const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, window: 1_000, clock });
  budget.recordRequest();
  clock.advance(1e12);
  assert.equal(budget.requests, 0);
  budget.recordRequest();
  assert.equal(budget.tryAcquireRetry(), true);
  assert.equal(budget.tryAcquireRetry(), false);
});

test('rejects bad options naming the option', () => {
  assert.throws(
    () => new RetryBudget({ ratio: -1 }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'ratio',
  );
  assert.throws(
    () => new RetryBudget({ ratio: 0.2, window: 0 }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'window',
  );
  assert.throws(
    () => new RetryBudget({ ratio: 0.2, minPerSecond: Number.NaN }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'minPerSecond',
  );
  assert.throws(
    () => new RetryBudget({ ratio: 0.2, buckets: 1.5 }),
    (e: unknown) => e instanceof InvalidOptionError && e.option === 'buckets',
  );
});
