/**
 * The options of a circuit breaker, and their validation: done once, at construction, naming
 * the offending option; the breaker then trusts the resolved values.
 */
import { type Backoff, toBackoff } from './backoff.ts';
import { type BreakerSnapshot, checkSnapshot } from './breaker-snapshot.ts';
import {
  checkClock,
  checkDuration,
  checkFunction,
  checkInteger,
  checkNumber,
  checkObject,
  checkPositive,
} from './check-option.ts';
import type { Clock } from './clock.ts';
import { InvalidOptionError } from './errors.ts';
import { type FailurePolicy, isFailurePolicy } from './failure-policy.ts';
import { MAX_TIMER_DELAY } from './internal.ts';
import { consecutiveFailures } from './policies/consecutive.ts';
import type { SyncMode, SyncTransport } from './sync.ts';

/**
 * Options of a half-open breaker's trial phase.
 *
 * @example
 * ```ts
 * new CircuitBreaker({ halfOpen: { maxCalls: 3, successesToClose: 3, maxDuration: 30_000 } });
 * ```
 */
export interface HalfOpenOptions {
  /** Trial calls allowed at once; the rest are rejected. Default: 1. */
  readonly maxCalls?: number;
  /** Successful trials needed to close. Default: 1. */
  readonly successesToClose?: number;
  /**
   * A trial still unsettled after this many ms counts as a failure, so a leaked permit cannot
   * hold the breaker half-open forever. Checked whenever the breaker is used (no timer); the
   * failure and the re-opening date from the moment the trial expired. Default: 60 000.
   * `Infinity` turns the check off.
   */
  readonly maxDuration?: number;
}

/**
 * Options of {@link CircuitBreaker}. Every one is optional; a misspelt one is an error.
 *
 * @example
 * ```ts
 * const options: CircuitBreakerOptions = {
 *   name: 'inventory',
 *   policy: failureRate({ threshold: 0.5, minimumCalls: 20, window: { duration: 30_000 } }),
 *   openDuration: exponential({ initial: 5_000, max: 120_000 }),
 *   callTimeout: 2_000,
 *   isFailure: (error) => !(error instanceof ValidationError),
 * };
 * ```
 */
export interface CircuitBreakerOptions {
  /** When to trip. Default: `consecutiveFailures(5)`. A policy with `clone()` is copied. */
  readonly policy?: FailurePolicy;
  /** How long to stay open: ms, or a backoff stepped on every re-opening. Default: 30 000. */
  readonly openDuration?: number | Backoff;
  readonly halfOpen?: HalfOpenOptions;
  /** Whether an error counts as a failure; an error it rejects counts as a success. Default: all are. */
  readonly isFailure?: (error: unknown) => boolean;
  /** Whether a result counts as a failure (the caller still receives it). Default: none does. */
  readonly isResultFailure?: (result: unknown) => boolean;
  /** Rejects `execute` with a TimeoutError after this many ms, aborting the work's signal. */
  readonly callTimeout?: number;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Shown in errors, snapshots and logs. */
  readonly name?: string;
  /** A `snapshot()` to start from. */
  readonly initialState?: BreakerSnapshot;
  /**
   * Shares this breaker's state with breakers of the same `name` in other processes:
   * `clusterSync()` from `breakwater/cluster`, `redisSync()` from `@breakwater/redis`. Calls never
   * wait for it. Requires `name`.
   */
  readonly sync?: SyncTransport;
  /** What is shared: `'transitions'` (the default) or `'outcomes'` as well. */
  readonly syncMode?: SyncMode;
}

const OPTIONS = new Set([
  'policy',
  'openDuration',
  'halfOpen',
  'isFailure',
  'isResultFailure',
  'callTimeout',
  'clock',
  'name',
  'initialState',
  'sync',
  'syncMode',
]);
const HALF_OPEN_OPTIONS = new Set(['maxCalls', 'successesToClose', 'maxDuration']);
type Predicate = ((value: unknown) => boolean) | undefined;

/** Options with defaults filled in, checked. */
export interface ResolvedBreakerOptions {
  readonly policy: FailurePolicy;
  readonly openDuration: Backoff;
  readonly maxCalls: number;
  readonly successesToClose: number;
  readonly maxDuration: number;
  readonly isFailure: Predicate;
  readonly isResultFailure: Predicate;
  readonly callTimeout: number | undefined;
  readonly clock: Clock;
  readonly name: string | undefined;
  readonly initialState: BreakerSnapshot | undefined;
  readonly sync: SyncTransport | undefined;
  readonly syncMode: SyncMode;
}

/** Checks every option (unknown names included) and fills in the defaults. */
export function resolveOptions(options: unknown): ResolvedBreakerOptions {
  const o = checkObject('options', options);
  for (const key of Object.keys(o)) {
    if (!OPTIONS.has(key)) throw new InvalidOptionError(key, 'a CircuitBreaker option', o[key]);
  }
  const policy = o.policy ?? consecutiveFailures(5);
  if (!isFailurePolicy(policy)) throw new InvalidOptionError('policy', 'a FailurePolicy', policy);
  const halfOpen = checkObject('halfOpen', o.halfOpen);
  for (const key of Object.keys(halfOpen)) {
    if (!HALF_OPEN_OPTIONS.has(key)) {
      throw new InvalidOptionError(`halfOpen.${key}`, 'a halfOpen option', halfOpen[key]);
    }
  }
  if (o.name !== undefined && typeof o.name !== 'string') {
    throw new InvalidOptionError('name', 'a string', o.name);
  }
  return {
    policy,
    openDuration: checkBackoff(o.openDuration),
    maxCalls: checkInteger('halfOpen.maxCalls', halfOpen.maxCalls, 1, 1),
    successesToClose: checkInteger('halfOpen.successesToClose', halfOpen.successesToClose, 1, 1),
    maxDuration: checkDuration('halfOpen.maxDuration', halfOpen.maxDuration, 1, 60_000),
    isFailure: checkFunction<Predicate>('isFailure', o.isFailure, undefined),
    isResultFailure: checkFunction<Predicate>('isResultFailure', o.isResultFailure, undefined),
    callTimeout: checkCallTimeout(o.callTimeout),
    clock: checkClock(o.clock),
    name: o.name,
    initialState: o.initialState === undefined ? undefined : checkSnapshot(o.initialState),
    sync: checkSync(o.sync, o.name),
    syncMode: checkSyncMode(o.syncMode),
  };
}

function checkSync(value: unknown, name: unknown): SyncTransport | undefined {
  if (value === undefined) return undefined;
  const sync = value as Partial<SyncTransport> | null;
  if (
    typeof sync !== 'object' ||
    sync === null ||
    typeof sync.attach !== 'function' ||
    typeof sync.instanceId !== 'string' ||
    typeof sync.flushInterval !== 'number'
  ) {
    throw new InvalidOptionError('sync', 'a SyncTransport (clusterSync(), redisSync())', value);
  }
  if (typeof name !== 'string' || name === '') {
    // Breakers agree by name: an unnamed one has nothing to share under.
    throw new InvalidOptionError('name', 'a non-empty name, since sync is set', name);
  }
  return sync as SyncTransport;
}

function checkSyncMode(value: unknown): SyncMode {
  if (value === undefined) return 'transitions';
  if (value !== 'transitions' && value !== 'outcomes') {
    throw new InvalidOptionError('syncMode', "'transitions' | 'outcomes'", value);
  }
  return value;
}

function checkBackoff(value: unknown): Backoff {
  if (value === undefined) return toBackoff(30_000);
  if (typeof value === 'number') return toBackoff(checkNumber('openDuration', value, 0));
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Backoff).delay === 'function'
  ) {
    return value as Backoff;
  }
  throw new InvalidOptionError('openDuration', 'a number of ms or a Backoff', value);
}

function checkCallTimeout(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const ms = checkPositive('callTimeout', value);
  if (ms > MAX_TIMER_DELAY) {
    throw new InvalidOptionError('callTimeout', `a number of ms <= ${MAX_TIMER_DELAY}`, ms);
  }
  return ms;
}
