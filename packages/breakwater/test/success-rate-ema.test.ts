import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidOptionError, type SuccessRateEmaOptions, successRateEma } from 'breakwater';

describe('successRateEma', () => {
  it('trips when the smoothed success rate falls below the minimum', () => {
    // window 3 → each outcome weighs 0.5: 1 → 0.5 → 0.25
    const policy = successRateEma({ minimumRate: 0.3, window: 3, minimumCalls: 1 });
    assert.equal(policy.recordFailure(0, 0), false, 'rate 0.5');
    assert.equal(policy.recordFailure(0, 0), true, 'rate 0.25');
  });

  it('lets recent successes outweigh old failures', () => {
    const policy = successRateEma({ minimumRate: 0.5, window: 9, minimumCalls: 1 });
    for (let i = 0; i < 3; i++) policy.recordFailure(0, 0);
    for (let i = 0; i < 20; i++) policy.recordSuccess(0, 0);
    assert.equal(policy.recordFailure(0, 0), false);
    const stats = policy.stats?.();
    assert.ok(typeof stats?.rate === 'number' && stats.rate > 0.7);
  });

  it('waits for minimumCalls outcomes', () => {
    const policy = successRateEma({ minimumRate: 0.9, window: 1, minimumCalls: 3 });
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), false);
    assert.equal(policy.recordFailure(0, 0), true);
  });

  it('starts optimistic again after reset', () => {
    const policy = successRateEma({ minimumRate: 0.5, window: 1, minimumCalls: 1 });
    assert.equal(policy.recordFailure(0, 0), true);
    policy.reset(0);
    assert.equal(policy.recordSuccess(0, 0), false);
    assert.equal(policy.stats?.().rate, 1);
  });

  it('rejects bad options, naming them', () => {
    const bad: Array<[string, unknown]> = [
      ['successRateEma.minimumRate', { minimumRate: 0, window: 5 }],
      ['successRateEma.window', { minimumRate: 0.5, window: 0 }],
      ['successRateEma.minimumCalls', { minimumRate: 0.5, window: 5, minimumCalls: -2 }],
    ];
    for (const [option, options] of bad) {
      assert.throws(
        () => successRateEma(options as SuccessRateEmaOptions),
        (e) => e instanceof InvalidOptionError && e.option === option,
        option,
      );
    }
  });
});
