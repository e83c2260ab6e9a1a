/**
 * Validation of constructor options, done once at the edge so the hot paths can trust their
 * inputs. Each check names the offending option the way the user wrote it (`halfOpen.maxCalls`).
 */
import { InvalidOptionError } from './errors.ts';

/** A finite number >= `min` (or the default when `value` is undefined). */
export function checkNumber(
  option: string,
  value: unknown,
  min: number,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value === Infinity) {
    throw new InvalidOptionError(option, `a finite number >= ${min}`, value);
  }
  return value;
}

/** A finite number > 0. */
export function checkPositive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0) || value === Infinity) {
    throw new InvalidOptionError(option, 'a finite number > 0', value);
  }
  return value;
}

/** A number >= `min` where `Infinity` means "never" (e.g. a duration that never elapses). */
export function checkDuration(
  option: string,
  value: unknown,
  min: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new InvalidOptionError(option, `a number of ms >= ${min} (or Infinity)`, value);
  }
  return value;
}

/** An integer >= `min`. */
export function checkInteger(
  option: string,
  value: unknown,
  min: number,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, `an integer >= ${min}`, value);
  }
  return value;
}

/** A rate in (0, 1]. */
export function checkRate(option: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new InvalidOptionError(option, 'a number in (0, 1]', value);
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
