import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consecutiveFailures, InvalidOptionError } from 'breakwater';

describe('consecutiveFailures', () => {
  it('trips on the nth failure in a row', () => {
    const policy = consecutiveFailures(3);
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), true);
  });

  it('starts counting again after a success or a reset', () => {
    const policy = consecutiveFailures(2);
    policy.recordFailure(0, 0);
    assert.equal(policy.recordSuccess(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), false);
    policy.reset(0);
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), true);
  });

  it('clones with the same threshold and an empty count', () => {
    const policy = consecutiveFailures(2);
    policy.recordFailure(0, 0);
    const copy = policy.clone?.();
    assert.ok(copy);
    assert.equal(copy.recordFailure(0, 0), false);
    assert.equal(copy.recordFailure(0, 0), true);
  });

  it('rejects a threshold that is not a positive integer', () => {
    for (const threshold of [0, -1, 1.5, Number.NaN]) {
      assert.throws(
        () => consecutiveFailures(threshold),
        (e) => e instanceof InvalidOptionError && e.option === 'consecutiveFailures.threshold',
      );
    }
  });
});
