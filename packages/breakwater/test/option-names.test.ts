/**
 * Every policy and helper refuses option names it does not read, with the same coded error as
 * the breaker: a misspelt option (`maxAtempts`) fails at construction instead of being silently
 * ignored and leaving the default in force.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BreakerRegistry,
  bulkhead,
  CircuitBreaker,
  decorrelatedJitter,
  equalJitter,
  exponential,
  failureRate,
  fallback,
  fullJitter,
  InvalidOptionError,
  RetryBudget,
  retry,
  slowCallRate,
  successRateEma,
  timeout,
} from '../src/index.ts';

// Each builds something with one misspelt option next to valid ones; `option` is the path the
// error must name.
const cases: Array<{ name: string; option: string; build: () => unknown }> = [
  {
    name: 'CircuitBreaker',
    option: 'openDuraton',
    build: () => new CircuitBreaker({ openDuraton: 1 } as never),
  },
  { name: 'retry', option: 'maxAtempts', build: () => retry({ maxAtempts: 5 } as never) },
  {
    name: 'bulkhead',
    option: 'maxQueued',
    build: () => bulkhead({ maxConcurrent: 1, maxQueued: 5 } as never),
  },
  { name: 'timeout', option: 'clok', build: () => timeout(100, { clok: undefined } as never) },
  { name: 'fallback', option: 'handle', build: () => fallback(0, { handle: () => true } as never) },
  {
    name: 'failureRate',
    option: 'failureRate.minimumCall',
    build: () => failureRate({ threshold: 0.5, window: { calls: 10 }, minimumCall: 5 } as never),
  },
  {
    name: 'failureRate count window',
    option: 'failureRate.window.buckets',
    build: () => failureRate({ threshold: 0.5, window: { calls: 10, buckets: 2 } as never }),
  },
  {
    name: 'failureRate time window',
    option: 'failureRate.window.bucket',
    build: () => failureRate({ threshold: 0.5, window: { duration: 1_000, bucket: 2 } as never }),
  },
  {
    name: 'slowCallRate',
    option: 'slowCallRate.slowThan',
    build: () =>
      slowCallRate({
        threshold: 0.5,
        slowerThan: 100,
        window: { calls: 10 },
        slowThan: 1,
      } as never),
  },
  {
    name: 'successRateEma',
    option: 'successRateEma.minRate',
    build: () => successRateEma({ minimumRate: 0.9, window: 10, minRate: 0.5 } as never),
  },
  {
    name: 'exponential',
    option: 'exponential.maximum',
    build: () => exponential({ initial: 1, maximum: 5 } as never),
  },
  {
    name: 'equalJitter',
    option: 'equalJitter.jitter',
    build: () => equalJitter({ initial: 1, jitter: 1 } as never),
  },
  {
    name: 'fullJitter',
    option: 'fullJitter.rnd',
    build: () => fullJitter({ initial: 1, rnd: Math.random } as never),
  },
  {
    name: 'decorrelatedJitter',
    option: 'decorrelatedJitter.cap',
    build: () => decorrelatedJitter({ initial: 1, cap: 5 } as never),
  },
  {
    name: 'RetryBudget',
    option: 'rate',
    build: () => new RetryBudget({ ratio: 0.2, rate: 1 } as never),
  },
  {
    name: 'BreakerRegistry',
    option: 'default',
    build: () => new BreakerRegistry({ defaults: {}, default: {} } as never),
  },
];

describe('unknown option names', () => {
  for (const { name, option, build } of cases) {
    it(`${name} refuses "${option}" with ERR_INVALID_OPTION`, () => {
      assert.throws(build, (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.equal(error.code, 'ERR_INVALID_OPTION');
        assert.equal(error.option, option);
        assert.match(error.message, new RegExp(`"${option.replaceAll('.', '\\.')}"`));
        return true;
      });
    });
  }
});
