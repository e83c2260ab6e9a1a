import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FailureRateOptions, failureRate, InvalidOptionError } from 'breakwater';

describe('failureRate', () => {
  it('trips at exactly the threshold', () => {
    const policy = failureRate({ threshold: 0.5, minimumCalls: 4, window: { calls: 4 } });
    assert.equal(policy.recordSuccess(0, 0), false);
    assert.equal(policy.recordSuccess(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), false, '1 of 3 and below minimumCalls');
    assert.equal(policy.recordFailure(0, 0), true, '2 of 4 is 50%');
  });

  it('trips at a threshold that is not exact in binary (7 of 100 at 0.07)', () => {
    const policy = failureRate({ threshold: 0.07, minimumCalls: 100, window: { calls: 100 } });
    for (let i = 0; i < 93; i++) policy.recordSuccess(0, 0);
    for (let i = 0; i < 6; i++) assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), true, '7 of 100 is 7%');
  });

  it('waits for minimumCalls however bad the rate', () => {
    const policy = failureRate({ threshold: 0.1, minimumCalls: 3, window: { calls: 10 } });
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), true);
  });

  it('looks only at the last N calls', () => {
    const policy = failureRate({ threshold: 0.5, minimumCalls: 4, window: { calls: 4 } });
    policy.recordFailure(0, 0);
    policy.recordSuccess(0, 0);
    policy.recordSuccess(0, 0);
    policy.recordSuccess(0, 0);
    assert.equal(policy.recordSuccess(0, 0), false, 'the failure slid out: 0 of 4');
    assert.equal(policy.recordFailure(0, 0), false, '1 of 4');
    assert.equal(policy.recordFailure(0, 0), true, '2 of 4');
  });

  it('trips after a success when the rate is still at the threshold', () => {
    const policy = failureRate({ threshold: 0.5, minimumCalls: 2, window: { calls: 10 } });
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordSuccess(0, 0), true, '1 of 2 is 50%');
  });

  it('does not count failures that have aged out of a time window', () => {
    const policy = failureRate({
      threshold: 0.5,
      minimumCalls: 3,
      window: { duration: 1_000, buckets: 10 },
    });
    policy.recordFailure(0, 0);
    policy.recordFailure(10, 0);
    assert.equal(policy.recordSuccess(1_500, 0), false, 'the two failures are forgotten');
    assert.equal(policy.recordSuccess(1_600, 0), false);
    assert.equal(policy.recordFailure(1_700, 0), false, '1 of 3');
    assert.deepEqual(policy.stats?.(), {
      kind: 'failureRate',
      threshold: 0.5,
      window: '1000 ms',
      calls: 3,
      failures: 1,
    });
  });

  it('starts from an empty window after reset', () => {
    const policy = failureRate({ threshold: 0.5, minimumCalls: 2, window: { calls: 2 } });
    policy.recordFailure(0, 0);
    policy.reset(0);
    assert.equal(policy.recordSuccess(0, 0), false);
    assert.equal(policy.recordSuccess(0, 0), false);
  });

  it('defaults minimumCalls to 10, or the window size when smaller', () => {
    const small = failureRate({ threshold: 1, window: { calls: 3 } });
    small.recordFailure(0, 0);
    small.recordFailure(0, 0);
    assert.equal(small.recordFailure(0, 0), true);
    const large = failureRate({ threshold: 1, window: { calls: 100 } });
    for (let i = 0; i < 9; i++) assert.equal(large.recordFailure(0, 0), false);
    assert.equal(large.recordFailure(0, 0), true);
  });

  it('rejects bad options, naming them', () => {
    const bad: Array<[string, unknown]> = [
      ['failureRate.threshold', { threshold: 0, window: { calls: 5 } }],
      ['failureRate.threshold', { threshold: 1.5, window: { calls: 5 } }],
      ['failureRate.window', { threshold: 0.5 }],
      ['failureRate.minimumCalls', { threshold: 0.5, minimumCalls: 6, window: { calls: 5 } }],
      ['failureRate.minimumCalls', { threshold: 0.5, minimumCalls: 0, window: { calls: 5 } }],
    ];
    for (const [option, options] of bad) {
      assert.throws(
        () => failureRate(options as FailureRateOptions),
        (e) => e instanceof InvalidOptionError && e.option === option,
        option,
      );
    }
  });
});
