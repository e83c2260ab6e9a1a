import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type Backoff,
  constant,
  decorrelatedJitter,
  equalJitter,
  exponential,
  fullJitter,
  InvalidOptionError,
  toBackoff,
} from 'breakwater';

/** Walks a backoff the way a breaker does, feeding each delay back as `previous`. */
function walk(backoff: Backoff, steps: number): number[] {
  const delays: number[] = [];
  let previous = 0;
  for (let attempt = 0; attempt < steps; attempt++) {
    previous = backoff.delay(attempt, previous);
    delays.push(previous);
  }
  return delays;
}

function assertBounded(delays: number[], max: number, label: string): void {
  for (const [attempt, delay] of delays.entries()) {
    assert.ok(
      Number.isFinite(delay) && delay >= 0 && delay <= max,
      `${label}: attempt ${attempt} gave ${delay}`,
    );
  }
}

describe('backoff', () => {
  it('never yields NaN, a negative or more than max, over 10 000 steps, whatever the randomness', () => {
    const max = 30_000;
    for (const r of [0, 0.5, 0.999]) {
      const random = () => r;
      const kinds: Array<[string, Backoff]> = [
        ['exponential', exponential({ initial: 100, max, factor: 3 })],
        ['equalJitter', equalJitter({ initial: 100, max, random })],
        ['fullJitter', fullJitter({ initial: 100, max, random })],
        ['decorrelatedJitter', decorrelatedJitter({ initial: 100, max, random })],
      ];
      for (const [label, backoff] of kinds) assertBounded(walk(backoff, 10_000), max, label);
    }
  });

  it('stays bounded with a misbehaving random source', () => {
    for (const random of [() => Number.NaN, () => -1, () => 7]) {
      assertBounded(walk(fullJitter({ initial: 10, max: 1_000, random }), 100), 1_000, 'full');
      assertBounded(
        walk(decorrelatedJitter({ initial: 10, max: 1_000, random }), 100),
        1_000,
        'dec',
      );
    }
  });

  it('grows exponentially up to max', () => {
    assert.deepEqual(
      walk(exponential({ initial: 100, max: 1_000 }), 6),
      [100, 200, 400, 800, 1_000, 1_000],
    );
  });

  it('decorrelated jitter with random()=0 stays at initial', () => {
    const backoff = decorrelatedJitter({ initial: 100, max: 5_000, random: () => 0 });
    assert.deepEqual(walk(backoff, 5), [100, 100, 100, 100, 100]);
  });

  it('decorrelated jitter with random()=0.999 grows about threefold until max', () => {
    const delays = walk(decorrelatedJitter({ initial: 100, max: 5_000, random: () => 0.999 }), 8);
    assert.ok(Math.abs(delays[0]! - 299.8) < 1e-9);
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!);
    assert.ok(delays.at(-1)! <= 5_000 && delays.at(-1)! > 4_990);
  });

  it('equal jitter keeps half of the exponential delay', () => {
    const low = equalJitter({ initial: 100, max: 10_000, random: () => 0 });
    const high = equalJitter({ initial: 100, max: 10_000, random: () => 0.999 });
    assert.equal(low.delay(2, 0), 200);
    assert.ok(high.delay(2, 0) < 400 && high.delay(2, 0) > 399);
  });

  it('constant and toBackoff give the same delay every time', () => {
    assert.deepEqual(walk(constant(250), 3), [250, 250, 250]);
    assert.deepEqual(walk(toBackoff(40), 2), [40, 40]);
    const custom = constant(1);
    assert.equal(toBackoff(custom), custom);
  });

  it('rejects bad settings with an InvalidOptionError naming the backoff and the field', () => {
    const named = (option: string) => (error: unknown) =>
      error instanceof InvalidOptionError &&
      error.code === 'ERR_INVALID_OPTION' &&
      error.option === option;
    assert.throws(() => constant(-1), named('constant.ms'));
    assert.throws(() => exponential({ initial: Number.NaN }), named('exponential.initial'));
    assert.throws(() => exponential({ initial: 100, max: 50 }), named('exponential.max'));
    assert.throws(() => exponential({ initial: 100, factor: 0.5 }), named('exponential.factor'));
    assert.throws(
      () => fullJitter({ initial: 1, random: 0.5 as never }),
      named('fullJitter.random'),
    );
  });

  it('rejects a decorrelated jitter starting at 0, which could never grow', () => {
    assert.throws(
      () => decorrelatedJitter({ initial: 0, max: 1_000 }),
      (error: unknown) =>
        error instanceof InvalidOptionError && error.option === 'decorrelatedJitter.initial',
    );
  });

  it('lets an initial delay above the default max stand, without a max given', () => {
    assert.deepEqual(walk(exponential({ initial: 60_000 }), 2), [60_000, 60_000]);
  });
});
