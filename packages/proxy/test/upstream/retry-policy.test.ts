import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from 'breakwater';
import type { AttemptResult } from '../../src/upstream/attempt-result.ts';
import {
  ProxyRetryPolicy,
  type RetryPolicyOptions,
  type RetryQuestion,
} from '../../src/upstream/retry-policy.ts';

function policy(overrides: Partial<RetryPolicyOptions> = {}): ProxyRetryPolicy {
  return new ProxyRetryPolicy({
    attempts: 3,
    on: ['connect-error', 'reset', 502, 503, 504],
    methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
    perTryTimeout: 2_000,
    backoff: { initial: 25, max: 250 },
    replayBodyUpTo: 64 * 1024,
    clock: new ManualClock(),
    ...overrides,
  });
}

const refused: AttemptResult = { kind: 'connect-error' };

function question(overrides: Partial<RetryQuestion> = {}): RetryQuestion {
  return {
    method: 'GET',
    attempt: 1,
    result: refused,
    responseStarted: false,
    bodyReplayable: true,
    ...overrides,
  };
}

test('retries a listed condition on an idempotent method', () => {
  const retries = policy();
  assert.equal(retries.decide(question()), 'retry');
  assert.equal(retries.decide(question({ result: { kind: 'response', status: 503 } })), 'retry');
  assert.equal(retries.decide(question({ result: { kind: 'reset' } })), 'retry');
});

test('stops when the attempts are used up', () => {
  const retries = policy();
  assert.equal(retries.decide(question({ attempt: 2 })), 'retry');
  assert.equal(retries.decide(question({ attempt: 3 })), 'exhausted');
  assert.equal(policy({ attempts: 1 }).decide(question()), 'exhausted');
});

test('retries any method, streamed body or not, after a connect error: nothing reached the target', () => {
  assert.equal(policy().decide(question({ method: 'POST' })), 'retry');
  assert.equal(policy().decide(question({ method: 'PATCH', bodyReplayable: false })), 'retry');
});

test('never retries a method that is not listed once bytes may have reached the target', () => {
  const reset: AttemptResult = { kind: 'reset' };
  assert.equal(policy().decide(question({ method: 'POST', result: reset })), 'method');
  const bad: AttemptResult = { kind: 'response', status: 502 };
  assert.equal(policy().decide(question({ method: 'POST', result: bad })), 'method');
  assert.equal(
    policy({ methods: ['GET', 'POST'] }).decide(question({ method: 'POST', result: reset })),
    'retry',
  );
});

test('does not retry unlisted results', () => {
  const retries = policy();
  assert.equal(
    retries.decide(question({ result: { kind: 'response', status: 500 } })),
    'condition',
  );
  assert.equal(retries.decide(question({ result: { kind: 'timeout' } })), 'condition');
  assert.equal(retries.decide(question({ result: { kind: 'aborted' } })), 'condition');
  assert.equal(
    policy({ on: ['timeout'] }).decide(question({ result: { kind: 'timeout' } })),
    'retry',
  );
});

test('does not retry once the response has started or when the body cannot be replayed', () => {
  const retries = policy();
  assert.equal(retries.decide(question({ responseStarted: true })), 'response-started');
  const reset: AttemptResult = { kind: 'reset' };
  assert.equal(retries.decide(question({ result: reset, bodyReplayable: false })), 'body');
});

test('stops retrying when the budget is spent, and recovers as the window slides', () => {
  const clock = new ManualClock();
  const retries = policy({ clock, budget: { ratio: 0.2, minPerSecond: 0, window: 1_000 } });
  for (let i = 0; i < 10; i++) retries.recordRequest();
  assert.equal(retries.shouldRetry(question()), true);
  assert.equal(retries.shouldRetry(question()), true);
  assert.equal(retries.decide(question()), 'budget', '20 % of 10 requests is 2 retries');
  clock.advance(1_000);
  for (let i = 0; i < 5; i++) retries.recordRequest();
  assert.equal(retries.shouldRetry(question()), true);
});

test('says whether a retry may follow without spending the budget', () => {
  const retries = policy({ budget: { ratio: 0.1, minPerSecond: 0 } });
  for (let i = 0; i < 10; i++) retries.recordRequest();
  const reset: AttemptResult = { kind: 'reset' };
  assert.equal(retries.mayRetry(question({ result: reset })), true);
  assert.equal(retries.mayRetry(question({ result: reset })), true);
  assert.equal(retries.mayRetry(question({ result: reset, attempt: 3 })), false, 'exhausted');
  assert.equal(retries.mayRetry(question({ result: reset, retriesAtLimit: true })), false);
  // The one retry the budget allows is still there.
  assert.equal(retries.decide(question()), 'retry');
  assert.equal(retries.decide(question()), 'budget');
});

test('refusals for other reasons do not spend the budget', () => {
  const retries = policy({ budget: { ratio: 0.1, minPerSecond: 0 } });
  for (let i = 0; i < 10; i++) retries.recordRequest();
  assert.equal(retries.decide(question({ method: 'POST', result: { kind: 'reset' } })), 'method');
  assert.equal(retries.decide(question({ responseStarted: true })), 'response-started');
  assert.equal(retries.decide(question()), 'retry');
  assert.equal(retries.decide(question()), 'budget');
});

test('the minimum per second allows retries with little traffic', () => {
  const retries = policy({ budget: { ratio: 0.2, minPerSecond: 1, window: 2_000 } });
  retries.recordRequest();
  assert.equal(retries.shouldRetry(question()), true);
  assert.equal(retries.shouldRetry(question()), true);
  assert.equal(retries.shouldRetry(question()), false);
});

test('waits a fully jittered, growing, capped delay', () => {
  const top = policy({ random: () => 0.999_999 });
  assert.ok(Math.abs(top.delay(1) - 25) < 0.01);
  assert.ok(Math.abs(top.delay(2) - 50) < 0.01);
  assert.ok(Math.abs(top.delay(10) - 250) < 0.01);
  const half = policy({ random: () => 0.5 });
  assert.equal(half.delay(3), 50);
  assert.equal(policy({ random: () => 0 }).delay(3), 0);
});

test('tells the forwarder which methods are worth buffering a body for', () => {
  assert.equal(policy().retriesMethod('PUT'), true);
  assert.equal(policy().retriesMethod('POST'), false);
  assert.equal(policy({ attempts: 1 }).retriesMethod('GET'), false);
});
