/**
 * Backoffs describe a sequence of delays: open durations of a breaker, waits between retries,
 * ejection times of an upstream target. A backoff is stateless; the caller keeps the attempt
 * number (and, for decorrelated jitter, the previous delay), so one backoff serves many breakers.
 *
 * Every delay is finite, non-negative and at most `max`, whatever the attempt number.
 */
import { checkKnownOptions } from './check-option.ts';
import { InvalidOptionError } from './errors.ts';

/**
 * A sequence of delays in milliseconds.
 *
 * @example
 * ```ts
 * // Open for 10 s the first time, 20 s the second, and so on.
 * const doubling: Backoff = { delay: (attempt) => 10_000 * 2 ** attempt };
 * new CircuitBreaker({ openDuration: doubling });
 * ```
 */
export interface Backoff {
  /**
   * The delay before attempt `attempt` (0 for the first). `previous` is the delay this backoff
   * returned for the attempt before (0 for the first); only decorrelated jitter uses it.
   */
  delay(attempt: number, previous: number): number;
}

/**
 * Options shared by the growing backoffs.
 *
 * @example
 * ```ts
 * const options: ExponentialOptions = { initial: 100, max: 5_000, factor: 3, random: () => 0.5 };
 * fullJitter(options);
 * ```
 */
export interface ExponentialOptions {
  /** The first delay, in ms. */
  readonly initial: number;
  /** The largest delay, in ms. Default: 30 000 (or `initial`, if that is larger). */
  readonly max?: number;
  /** Growth per attempt. Default: 2. */
  readonly factor?: number;
  /** Source of randomness in [0, 1), for the jittered kinds. Default: `Math.random`. */
  readonly random?: () => number;
}

function check(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(option, `a finite number >= ${min}`, value);
  }
  return value;
}

function resolve(kind: string, options: ExponentialOptions) {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(kind, 'an object of options', options);
  }
  checkKnownOptions(`${kind}.`, options, ['initial', 'max', 'factor', 'random'], kind);
  const initial = check(`${kind}.initial`, options.initial, 0);
  // The default max never undercuts an initial delay the caller chose above it.
  const max = check(`${kind}.max`, options.max ?? Math.max(30_000, initial), initial);
  const factor = check(`${kind}.factor`, options.factor ?? 2, 1);
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') {
    throw new InvalidOptionError(`${kind}.random`, 'a function returning [0, 1)', random);
  }
  return { initial, max, factor, random };
}

/** `initial * factor^attempt`, capped at `max`, computed without overflow to Infinity/NaN. */
function grow(initial: number, max: number, factor: number, attempt: number): number {
  if (initial === 0) return 0;
  if (factor === 1) return Math.min(initial, max);
  // Past this many steps the product exceeds max anyway; stop before it turns into Infinity.
  const steps = Math.log(max / initial) / Math.log(factor);
  if (attempt >= steps) return max;
  return Math.min(max, initial * factor ** Math.max(0, attempt));
}

function clampRandom(random: () => number): number {
  const r = random();
  return Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
}

/**
 * The same delay every time.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ openDuration: constant(10_000) });
 * ```
 */
export function constant(ms: number): Backoff {
  const value = check('constant.ms', ms, 0);
  return { delay: () => value };
}

/**
 * `initial`, `initial × factor`, … up to `max`.
 *
 * @example
 * ```ts
 * exponential({ initial: 1_000, max: 60_000 }); // 1 s, 2 s, 4 s … 60 s
 * ```
 */
export function exponential(options: ExponentialOptions): Backoff {
  const { initial, max, factor } = resolve('exponential', options);
  return { delay: (attempt) => grow(initial, max, factor, attempt) };
}

/**
 * Half the exponential delay fixed, half random: spreads retries while keeping a floor.
 *
 * @example
 * ```ts
 * equalJitter({ initial: 100, max: 5_000 });
 * ```
 */
export function equalJitter(options: ExponentialOptions): Backoff {
  const { initial, max, factor, random } = resolve('equalJitter', options);
  return {
    delay: (attempt) => {
      const base = grow(initial, max, factor, attempt);
      return base / 2 + (clampRandom(random) * base) / 2;
    },
  };
}

/**
 * A random delay between 0 and the exponential delay (AWS's "full jitter").
 *
 * @example
 * ```ts
 * fullJitter({ initial: 100, max: 5_000 });
 * ```
 */
export function fullJitter(options: ExponentialOptions): Backoff {
  const { initial, max, factor, random } = resolve('fullJitter', options);
  return { delay: (attempt) => clampRandom(random) * grow(initial, max, factor, attempt) };
}

/**
 * A random delay between `initial` and three times the previous delay, capped at `max` (AWS's
 * "decorrelated jitter"). `factor` is unused.
 *
 * @example
 * ```ts
 * decorrelatedJitter({ initial: 100, max: 5_000 });
 * ```
 */
export function decorrelatedJitter(options: ExponentialOptions): Backoff {
  const { initial, max, random } = resolve('decorrelatedJitter', options);
  // Each delay grows from the one before; from 0 it would stay 0 for ever.
  if (initial === 0) {
    throw new InvalidOptionError('decorrelatedJitter.initial', 'a number of ms > 0', initial);
  }
  return {
    delay: (_attempt, previous) => {
      const last = Number.isFinite(previous) && previous >= initial ? previous : initial;
      const upper = Math.min(max, last * 3);
      return Math.min(max, initial + clampRandom(random) * (upper - initial));
    },
  };
}

/**
 * Accepts a number of ms or a backoff, as options like `openDuration` do.
 *
 * @example
 * ```ts
 * toBackoff(250).delay(3, 0); // 250
 * toBackoff(exponential({ initial: 100 })).delay(3, 0); // 800
 * ```
 */
export function toBackoff(value: number | Backoff): Backoff {
  return typeof value === 'number' ? constant(value) : value;
}
