/**
 * Validation of constructor options, done once at the edge so the hot paths can trust their
 * inputs. Each check names the offending option the way the user wrote it (`halfOpen.maxCalls`).
 */
import { type Clock, systemClock } from './clock.ts';
import { InvalidOptionError } from './errors.ts';

/** A finite number >= `min` (or the default when `value` is undefined). */
export function checkNumber(
  option: string,
  value: unknown,
  min: number,
  fallback?: number,
): number {
  const finite = (n: number) => n >= min && n !== Infinity;
  return checkNumeric(option, value, fallback, finite, `a finite number >= ${min}`);
}

/** A finite number > 0. */
export function checkPositive(option: string, value: unknown): number {
  const finite = (n: number) => n > 0 && n !== Infinity;
  return checkNumeric(option, value, undefined, finite, 'a finite number > 0');
}

/** A number >= `min` where `Infinity` means "never" (e.g. a duration that never elapses). */
export function checkDuration(
  option: string,
  value: unknown,
  min: number,
  fallback: number,
): number {
  const atLeast = (n: number) => n >= min;
  return checkNumeric(option, value, fallback, atLeast, `a number of ms >= ${min} (or Infinity)`);
}

/** An integer >= `min`. */
export function checkInteger(
  option: string,
  value: unknown,
  min: number,
  fallback?: number,
): number {
  const integer = (n: number) => Number.isSafeInteger(n) && n >= min;
  return checkNumeric(option, value, fallback, integer, `an integer >= ${min}`);
}

/** A rate in (0, 1]. */
export function checkRate(option: string, value: unknown): number {
  const rate = (n: number) => n > 0 && n <= 1;
  return checkNumeric(option, value, undefined, rate, 'a number in (0, 1]');
}

// Every numeric check: the default for a missing value, else a number that passes `valid` (NaN
// fails every comparison), else an error naming the option and what it expects.
function checkNumeric(
  option: string,
  value: unknown,
  fallback: number | undefined,
  valid: (n: number) => boolean,
  expected: string,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !valid(value)) {
    throw new InvalidOptionError(option, expected, value);
  }
  return value;
}

/** A function, or the default when undefined. */
export function checkFunction<F>(option: string, value: unknown, fallback: F): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new InvalidOptionError(option, 'a function', value);
  return value as F;
}

/** A plain object, or an empty one when undefined. */
export function checkObject(option: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) {
    throw new InvalidOptionError(option, 'an object', value);
  }
  return value as Record<string, unknown>;
}

/**
 * Refuses option names nobody reads, so a misspelt one (`maxAtempts: 5`) fails at construction
 * instead of being silently ignored. `prefix` is how the user reaches these options
 * (`'failureRate.'`); the error names the full path, as every other option check does.
 */
export function checkKnownOptions(
  prefix: string,
  options: object,
  known: readonly string[],
  owner: string,
): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(
        `${prefix}${key}`,
        `a ${owner} option (${known.join(', ')})`,
        (options as Record<string, unknown>)[key],
      );
    }
  }
}

/** The `clock` option: a {@link Clock}, or the system clock when left out. */
export function checkClock(value: unknown): Clock {
  if (value === undefined) return systemClock;
  const clock = value as Partial<Clock> | null;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw new InvalidOptionError('clock', 'a Clock (now, setTimeout, clearTimeout)', value);
  }
  return clock as Clock;
}
