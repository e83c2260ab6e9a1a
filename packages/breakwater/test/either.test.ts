import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  consecutiveFailures,
  either,
  type FailurePolicy,
  failureRate,
  InvalidOptionError,
  slowCallRate,
} from 'breakwater';

describe('either', () => {
  it('trips when any of its policies would', () => {
    const policy = either(
      consecutiveFailures(3),
      slowCallRate({ threshold: 1, slowerThan: 100, minimumCalls: 1, window: { calls: 1 } }),
    );
    assert.equal(policy.recordFailure(0, 5), false);
    assert.equal(policy.recordSuccess(0, 500), true, 'the slow-call rule trips');
    const failing = either(
      consecutiveFailures(2),
      failureRate({ threshold: 1, minimumCalls: 5, window: { calls: 5 } }),
    );
    failing.recordFailure(0, 0);
    assert.equal(failing.recordFailure(0, 0), true, 'the consecutive rule trips');
  });

  it('records every outcome in every policy, even after one asks to trip', () => {
    const seen: number[] = [];
    const spy: FailurePolicy = {
      recordSuccess: () => false,
      recordFailure: () => {
        seen.push(1);
        return false;
      },
      reset: () => seen.splice(0),
    };
    const policy = either(consecutiveFailures(1), spy);
    assert.equal(policy.recordFailure(0, 0), true);
    assert.equal(seen.length, 1);
    policy.reset(0);
    assert.equal(seen.length, 0);
  });

  it('summarises its policies and clones them all', () => {
    const policy = either(consecutiveFailures(2), consecutiveFailures(3));
    policy.recordFailure(0, 0);
    const copy = policy.clone?.();
    assert.deepEqual(copy?.stats?.(), {
      kind: 'either',
      policies: [
        { kind: 'consecutiveFailures', threshold: 2, failures: 0 },
        { kind: 'consecutiveFailures', threshold: 3, failures: 0 },
      ],
    });
  });

  it('cannot be cloned when one of its policies cannot', () => {
    const custom: FailurePolicy = {
      recordSuccess: () => false,
      recordFailure: () => true,
      reset: () => {},
    };
    assert.equal(either(consecutiveFailures(1), custom).clone, undefined);
    assert.equal(typeof either(consecutiveFailures(1)).clone, 'function');
  });

  it('rejects no policies or something that is not a policy', () => {
    assert.throws(
      () => either(),
      (e) => e instanceof InvalidOptionError && e.option === 'either',
    );
    assert.throws(
      () => either(consecutiveFailures(1), {} as FailurePolicy),
      (e) => e instanceof InvalidOptionError && e.option === 'either[1]',
    );
  });
});
