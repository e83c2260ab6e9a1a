import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, type SlowCallRateOptions, slowCallRate } from 'breakwater';

describe('slowCallRate', () => {
  it('counts slow successes and slow failures alike and trips at the threshold', () => {
    const policy = slowCallRate({
      threshold: 0.5,
      slowerThan: 1_000,
      minimumCalls: 4,
      window: { calls: 4 },
    });
    assert.equal(policy.recordSuccess(0, 2_000), false);
    assert.equal(policy.recordSuccess(0, 10), false);
    assert.equal(policy.recordFailure(0, 10), false);
    assert.equal(policy.recordFailure(0, 1_001), true, '2 slow of 4');
  });

  it('trips at a threshold that is not exact in binary (14 slow of 100 at 0.14)', () => {
    const policy = slowCallRate({
      threshold: 0.14,
      slowerThan: 100,
      minimumCalls: 100,
      window: { calls: 100 },
    });
    for (let i = 0; i < 86; i++) policy.recordSuccess(0, 1);
    for (let i = 0; i < 13; i++) assert.equal(policy.recordSuccess(0, 500), false);
    assert.equal(policy.recordSuccess(0, 500), true, '14 of 100 is 14%');
  });

  it('does not count a call of exactly slowerThan as slow', () => {
    const policy = slowCallRate({
      threshold: 1,
      slowerThan: 100,
      minimumCalls: 1,
      window: { calls: 1 },
    });
    assert.equal(policy.recordSuccess(0, 100), false);
    assert.equal(policy.recordSuccess(0, 101), true);
  });

  it('ignores fast failures', () => {
    const policy = slowCallRate({
      threshold: 0.5,
      slowerThan: 100,
      minimumCalls: 2,
      window: { calls: 10 },
    });
    for (let i = 0; i < 10; i++) assert.equal(policy.recordFailure(0, 5), false);
  });

  it('forgets slow calls older than a time window', () => {
    const policy = slowCallRate({
      threshold: 0.5,
      slowerThan: 100,
      minimumCalls: 2,
      window: { duration: 1_000, buckets: 5 },
    });
    policy.recordSuccess(0, 500);
    assert.equal(policy.recordSuccess(2_000, 5), false);
    assert.equal(policy.recordSuccess(2_100, 5), false);
    assert.equal(policy.stats?.().slowCalls, 0);
  });

  it('rejects bad options, naming them', () => {
    const bad: Array<[string, unknown]> = [
      ['slowCallRate.slowerThan', { threshold: 0.5, window: { calls: 5 } }],
      ['slowCallRate.slowerThan', { threshold: 0.5, slowerThan: -1, window: { calls: 5 } }],
      ['slowCallRate.threshold', { threshold: 2, slowerThan: 1, window: { calls: 5 } }],
      ['slowCallRate.window.calls', { threshold: 0.5, slowerThan: 1, window: { calls: -1 } }],
    ];
    for (const [option, options] of bad) {
      assert.throws(
        () => slowCallRate(options as SlowCallRateOptions),
        (e) => e instanceof InvalidOptionError && e.option === option,
        option,
      );
    }
  });
});
