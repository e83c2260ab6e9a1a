/**
 * The options of an adaptive concurrency limiter, and their validation: done once, at
 * construction, naming the offending option the way the user wrote it (`gradient.tolerance`);
 * an unknown option, or one algorithm's settings given to the other, is an error rather than
 * silently ignored.
 */
import {
  checkClock,
  checkFunction,
  checkInteger,
  checkNumber,
  checkObject,
  checkPositive,
  checkRate,
} from './check-option.ts';
import type { Clock } from './clock.ts';
import { InvalidOptionError, TimeoutError } from './errors.ts';
import { AimdLimit } from './limits/aimd.ts';
import { GradientLimit } from './limits/gradient.ts';
import type { LimitAlgorithm } from './limits/limit-algorithm.ts';

/**
 * Settings of the gradient algorithm (Netflix's Gradient2, Envoy's adaptive concurrency).
 *
 * @example
 * ```ts
 * adaptiveConcurrency({ gradient: { tolerance: 2, longWindow: 300, queueSize: (limit) => Math.sqrt(limit) } });
 * ```
 */
export interface GradientOptions {
  /**
   * How much slower than the long-term RTT a window may be before the limit shrinks: 1.5 lets
   * latency rise by half before shedding. At least 1. Default: 1.5.
   */
  readonly tolerance?: number;
  /** Windows averaged into the long-term RTT (an exponential average). Default: 600. */
  readonly longWindow?: number;
  /**
   * Headroom added to the limit on every update, so it keeps probing for more capacity: a number
   * of calls, or a function of the current limit. Default: 4. A function that throws is logged
   * (`console.error`) and the limit stays where it was for that window; the call whose completion
   * closed the window settles as usual.
   */
  readonly queueSize?: number | ((limit: number) => number);
}

/**
 * Settings of the AIMD algorithm.
 *
 * @example
 * ```ts
 * adaptiveConcurrency({ algorithm: 'aimd', aimd: { latencyThreshold: 250, backoffRatio: 0.8 } });
 * ```
 */
export interface AimdOptions {
  /** Factor applied to the limit after an overloaded window, in (0, 1). Default: 0.9. */
  readonly backoffRatio?: number;
  /** A window slower than this on average (ms) counts as overloaded. Default: 5 000. */
  readonly latencyThreshold?: number;
  /** Added to the limit after a healthy window that used half of it or more. Default: 1. */
  readonly increase?: number;
}

/**
 * Options of {@link adaptiveConcurrency}. Every one is optional; a misspelt one is an error.
 *
 * @example
 * ```ts
 * const options: AdaptiveConcurrencyOptions = {
 *   algorithm: 'gradient',
 *   initialLimit: 20,
 *   minLimit: 2,
 *   maxLimit: 500,
 *   gradient: { tolerance: 1.5 },
 * };
 * ```
 */
export interface AdaptiveConcurrencyOptions {
  /** How the limit moves: `'gradient'` (default) or `'aimd'`. */
  readonly algorithm?: 'gradient' | 'aimd';
  /** The limit before any latency has been measured. Default: 20. */
  readonly initialLimit?: number;
  /** The limit never falls below this. Default: 1. */
  readonly minLimit?: number;
  /** The limit never rises above this. Default: 1 000. */
  readonly maxLimit?: number;
  /**
   * Weight of a newly computed limit against the current one, in (0, 1]; 1 takes it as is.
   * Default: 0.2 for `gradient` (Gradient2's), 1 for `aimd` (its steps are already small).
   */
  readonly smoothing?: number;
  /** The limit is recomputed at most once per this many ms of completed calls. Default: 100. */
  readonly window?: number;
  /** …and only from at least this many completed calls. Default: 10. */
  readonly minSamples?: number;
  /** Only with `algorithm: 'gradient'`. */
  readonly gradient?: GradientOptions;
  /** Only with `algorithm: 'aimd'`. */
  readonly aimd?: AimdOptions;
  /**
   * Whether a call's error means it was dropped for overload (a signal to back off) rather than
   * an ordinary answer whose latency counts. Default: a {@link TimeoutError}.
   */
  readonly isDrop?: (error: unknown) => boolean;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Shown in errors and events. */
  readonly name?: string;
}

/** Options with defaults filled in, checked. */
export interface ResolvedLimiterOptions {
  readonly algorithm: LimitAlgorithm;
  readonly initialLimit: number;
  readonly minLimit: number;
  readonly maxLimit: number;
  readonly smoothing: number;
  readonly window: number;
  readonly minSamples: number;
  readonly isDrop: (error: unknown) => boolean;
  readonly clock: Clock;
  readonly name: string | undefined;
}

const OPTIONS = new Set([
  'algorithm',
  'initialLimit',
  'minLimit',
  'maxLimit',
  'smoothing',
  'window',
  'minSamples',
  'gradient',
  'aimd',
  'isDrop',
  'clock',
  'name',
]);
const GRADIENT_OPTIONS = new Set(['tolerance', 'longWindow', 'queueSize']);
const AIMD_OPTIONS = new Set(['backoffRatio', 'latencyThreshold', 'increase']);

const isTimeout = (error: unknown): boolean => error instanceof TimeoutError;

/** Checks every option (unknown names included) and fills in the defaults. */
export function resolveLimiterOptions(options: unknown): ResolvedLimiterOptions {
  const o = checkObject('options', options);
  checkKeys(o, OPTIONS, '', 'an adaptiveConcurrency option');
  const kind = o.algorithm ?? 'gradient';
  if (kind !== 'gradient' && kind !== 'aimd') {
    throw new InvalidOptionError('algorithm', '"gradient" or "aimd"', o.algorithm);
  }
  const other = kind === 'gradient' ? 'aimd' : 'gradient';
  if (o[other] !== undefined) {
    throw new InvalidOptionError(other, `no ${other} settings with algorithm "${kind}"`, o[other]);
  }
  const minLimit = checkInteger('minLimit', o.minLimit, 1, 1);
  const maxLimit = checkInteger('maxLimit', o.maxLimit, minLimit, Math.max(1_000, minLimit));
  // The default start sits inside whatever bounds were given; an explicit one must already.
  const initialLimit = checkInteger(
    'initialLimit',
    o.initialLimit,
    minLimit,
    Math.min(Math.max(20, minLimit), maxLimit),
  );
  if (initialLimit > maxLimit) {
    throw new InvalidOptionError(
      'initialLimit',
      `an integer <= maxLimit (${maxLimit})`,
      initialLimit,
    );
  }
  if (o.name !== undefined && typeof o.name !== 'string') {
    throw new InvalidOptionError('name', 'a string', o.name);
  }
  return {
    algorithm: kind === 'gradient' ? gradient(o.gradient, minLimit, o.name) : aimd(o.aimd),
    initialLimit,
    minLimit,
    maxLimit,
    smoothing:
      o.smoothing === undefined
        ? kind === 'gradient'
          ? 0.2
          : 1
        : checkRate('smoothing', o.smoothing),
    window: checkNumber('window', o.window, 0, 100),
    minSamples: checkInteger('minSamples', o.minSamples, 1, 10),
    isDrop: checkFunction('isDrop', o.isDrop, isTimeout),
    clock: checkClock(o.clock),
    name: o.name,
  };
}

function gradient(value: unknown, minLimit: number, name: string | undefined): LimitAlgorithm {
  const g = checkObject('gradient', value);
  checkKeys(g, GRADIENT_OPTIONS, 'gradient.', 'a gradient option');
  const queueSize = g.queueSize ?? 4;
  let headroom: (limit: number) => number;
  if (typeof queueSize === 'function') {
    headroom = userQueueSize(queueSize as (limit: number) => number, name);
  } else {
    const calls = checkNumber('gradient.queueSize', queueSize, 0);
    headroom = () => calls;
  }
  return new GradientLimit({
    tolerance: checkNumber('gradient.tolerance', g.tolerance, 1, 1.5),
    longWindow: checkInteger('gradient.longWindow', g.longWindow, 1, 600),
    queueSize: headroom,
    minLimit,
  });
}

/**
 * A user's queueSize runs when a window closes, inside whichever call completed last: one that
 * throws is a bug in it, not in that call. It is logged and answers NaN, so the limit stays
 * where it was (as for a NaN answer), the window still closes, and the call settles as usual.
 */
function userQueueSize(
  queueSize: (limit: number) => number,
  name: string | undefined,
): (limit: number) => number {
  return (limit) => {
    try {
      return queueSize(limit);
    } catch (error) {
      console.error(
        `breakwater: ${name ?? 'an adaptive concurrency limiter'}'s gradient.queueSize threw; the limit stays at ${Math.floor(limit)}`,
        error,
      );
      return Number.NaN;
    }
  };
}

function aimd(value: unknown): LimitAlgorithm {
  const a = checkObject('aimd', value);
  checkKeys(a, AIMD_OPTIONS, 'aimd.', 'an aimd option');
  const backoffRatio = a.backoffRatio ?? 0.9;
  if (typeof backoffRatio !== 'number' || !(backoffRatio > 0 && backoffRatio < 1)) {
    throw new InvalidOptionError('aimd.backoffRatio', 'a number in (0, 1)', backoffRatio);
  }
  return new AimdLimit({
    backoffRatio,
    latencyThreshold:
      a.latencyThreshold === undefined
        ? 5_000
        : checkPositive('aimd.latencyThreshold', a.latencyThreshold),
    increase: a.increase === undefined ? 1 : checkPositive('aimd.increase', a.increase),
  });
}

function checkKeys(
  object: Record<string, unknown>,
  known: ReadonlySet<string>,
  prefix: string,
  expected: string,
): void {
  for (const key of Object.keys(object)) {
    if (!known.has(key)) throw new InvalidOptionError(prefix + key, expected, object[key]);
  }
}
