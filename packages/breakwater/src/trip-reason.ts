/**
 * Why a breaker opened, in words and numbers: the rule that fired, the window's counts at that
 * moment and the last few failures. The failures come from a small fixed ring the breaker fills
 * on the failure path only; the reason itself is put together only when someone asks (an `open`
 * listener, a snapshot), never on the success path.
 */
import { InvalidOptionError } from './errors.ts';
import type { FailurePolicy, PolicyStats, TripDescription } from './failure-policy.ts';
import { type OutcomeWindow, TimeWindow } from './window.ts';

/**
 * One of the last failures before a trip.
 *
 * @example
 * ```ts
 * const [last] = breaker.snapshot().reason?.recentFailures.slice(-1) ?? [];
 * if (last) console.log(`${last.error}: ${last.message} (${last.msBeforeTrip} ms before)`);
 * ```
 */
export interface RecentFailure {
  /** How long before the trip it failed, in ms (0 for the failure that tripped the breaker). */
  readonly msBeforeTrip: number;
  /**
   * The error's `code` when it has a string one, else its `name` (`'TimeoutError'` …); `'result'`
   * when `isResultFailure` judged a returned value; the `typeof` of anything thrown that is not an
   * object.
   */
  readonly error: string;
  /** The error's message, cut to 120 characters. */
  readonly message: string;
  /** How long the call ran, in ms; null when the breaker did not time it (see below). */
  readonly durationMs: number | null;
}

/**
 * Why a breaker opened. Plain JSON: it rides on the `open` event and in `snapshot().reason`, and
 * `initialState` restores it.
 *
 * `rule` is the failure policy's kind for a trip from the closed state (`'consecutiveFailures'`,
 * `'failureRate'`, `'slowCallRate'`, `'successRateEma'`; for `either(…)` the policy that fired;
 * `'custom'` for a policy without {@link FailurePolicy.describeTrip}), `'halfOpenTrial'` when a
 * trial failed or never settled, `'forced'` for `forceOpen()`, and `'restored'` for a breaker
 * restored from a snapshot that carried no reason.
 *
 * Durations of the recent failures are known when the breaker timed its calls: when its policy
 * reads durations or an `open`, `success` or `failure` listener is subscribed; otherwise they are
 * null, since reading the clock for every call would cost as much as the rest of the call.
 *
 * @example
 * ```ts
 * breaker.on('open', ({ reason }) => log.warn({ reason }, `inventory open: ${reason.text}`));
 * // "failure rate 62.5 % ≥ 50 % over 24 calls in the last 10 s"
 * ```
 */
export interface TripReason {
  /** Which rule opened the breaker (see above). */
  readonly rule: string;
  /** The rule in words and numbers, e.g. `'5 consecutive failures'`. */
  readonly text: string;
  /** The counts the rule looked at, at that moment (a policy's `stats()`); null when none. */
  readonly window: PolicyStats | null;
  /** The last failures before the trip, oldest first; at most 5. */
  readonly recentFailures: readonly RecentFailure[];
}

/** How many recent failures a breaker keeps for its trip reason. */
const RECENT_FAILURES = 5;
/** Messages in a trip reason are cut to this many characters. */
const MESSAGE_LENGTH = 120;

/** What `policy` says about its trip, or a generic description when it says nothing. */
export function describePolicyTrip(policy: FailurePolicy): TripDescription {
  try {
    const described = policy.describeTrip?.();
    if (described !== undefined) return described;
  } catch (error) {
    console.error("breakwater: a failure policy's describeTrip threw", error);
  }
  return { rule: 'custom', text: 'the failure policy asked to trip' };
}

/**
 * The last {@link RECENT_FAILURES} failures, in preallocated slots: recording one stores a clock
 * reading, a duration and two strings the error already holds, and allocates nothing.
 */
export class FailureRing {
  readonly #at = new Float64Array(RECENT_FAILURES);
  readonly #durations = new Float64Array(RECENT_FAILURES);
  readonly #errors: string[] = new Array<string>(RECENT_FAILURES).fill('');
  readonly #messages: string[] = new Array<string>(RECENT_FAILURES).fill('');
  #next = 0;
  #size = 0;

  /** Records a failed call: the thrown `error`, or a `result` judged a failure when undefined. */
  add(at: number, durationMs: number, error: unknown, judgedResult: boolean): void {
    let label: string;
    let message: string;
    if (error === undefined && judgedResult) {
      label = 'result';
      message = 'isResultFailure judged the returned value a failure';
    } else if (typeof error === 'object' && error !== null) {
      // User errors may have throwing getters; a failure must still be recorded.
      try {
        const { code, name, message: text } = error as Record<string, unknown>;
        label = typeof code === 'string' ? code : typeof name === 'string' ? name : 'object';
        message = typeof text === 'string' ? text : '';
      } catch {
        label = 'object';
        message = '';
      }
    } else {
      label = typeof error;
      message = typeof error === 'string' ? error : '';
    }
    this.addLabelled(at, durationMs, label, message);
  }

  /** Records a failure already put in words. */
  addLabelled(at: number, durationMs: number, label: string, message: string): void {
    const i = this.#next;
    this.#at[i] = at;
    this.#durations[i] = durationMs;
    this.#errors[i] = label;
    this.#messages[i] = message;
    this.#next = (i + 1) % RECENT_FAILURES;
    if (this.#size < RECENT_FAILURES) this.#size++;
  }

  clear(): void {
    this.#size = 0;
    this.#next = 0;
    // Drop the strings too: a long message must not outlive its window.
    this.#errors.fill('');
    this.#messages.fill('');
  }

  /** The failures held, oldest first, dated relative to `trippedAt`. */
  list(trippedAt: number): RecentFailure[] {
    const failures: RecentFailure[] = [];
    const first = (this.#next - this.#size + RECENT_FAILURES) % RECENT_FAILURES;
    for (let k = 0; k < this.#size; k++) {
      const i = (first + k) % RECENT_FAILURES;
      const duration = this.#durations[i]!;
      const before = trippedAt - this.#at[i]!;
      failures.push({
        msBeforeTrip: Number.isFinite(before) ? Math.max(0, before) : 0,
        error: this.#errors[i]!,
        message: cut(this.#messages[i]!),
        durationMs: Number.isFinite(duration) ? duration : null,
      });
    }
    return failures;
  }
}

function cut(message: string): string {
  return message.length <= MESSAGE_LENGTH ? message : `${message.slice(0, MESSAGE_LENGTH - 1)}…`;
}

/** `0.625` → `'62.5 %'`: a rate in words, to one decimal place at most. */
export function percent(rate: number): string {
  return `${Math.round(rate * 1_000) / 10} %`;
}

/** A duration in words: `'250 ms'`, `'10 s'`, `'1.5 min'`. */
export function span(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 6_000) / 10} min`;
}

/** `'over 24 calls in the last 10 s'` or `'over the last 100 calls'`. */
export function overWindow(window: OutcomeWindow, calls: number): string {
  if (window instanceof TimeWindow)
    return `over ${calls} calls in the last ${span(window.duration)}`;
  if (window.capacity !== Number.POSITIVE_INFINITY) return `over the last ${calls} calls`;
  return `over ${calls} calls in a window of ${window.size}`;
}

/**
 * A frozen copy of `reason`: one reason is handed to every `open` listener and every snapshot, so
 * none of them may change it for the others.
 */
export function frozenReason(reason: TripReason): TripReason {
  return Object.freeze({
    rule: reason.rule,
    text: reason.text,
    window: reason.window === null ? null : frozenStats(reason.window),
    recentFailures: Object.freeze(
      reason.recentFailures.map((failure) =>
        Object.freeze({
          msBeforeTrip: failure.msBeforeTrip,
          error: failure.error,
          message: failure.message,
          durationMs: failure.durationMs,
        }),
      ),
    ),
  });
}

function frozenStats(stats: PolicyStats): PolicyStats {
  const copy: Record<string, PolicyStats[string]> = {};
  for (const [key, value] of Object.entries(stats)) {
    copy[key] = Array.isArray(value) ? Object.freeze(value.map(frozenStats)) : value;
  }
  return Object.freeze(copy);
}

/** Checks a trip reason given in `initialState`, naming the bad field. */
export function checkTripReason(option: string, value: unknown): TripReason {
  const reason = object(option, value);
  for (const key of ['rule', 'text']) {
    if (typeof reason[key] !== 'string') {
      throw new InvalidOptionError(`${option}.${key}`, 'a string', reason[key]);
    }
  }
  if (reason.window !== null) checkStats(`${option}.window`, reason.window);
  const failures = reason.recentFailures;
  if (!Array.isArray(failures)) {
    throw new InvalidOptionError(`${option}.recentFailures`, 'an array', failures);
  }
  failures.forEach((entry: unknown, index) => {
    const at = `${option}.recentFailures[${index}]`;
    const failure = object(at, entry);
    const before = failure.msBeforeTrip;
    if (typeof before !== 'number' || !Number.isFinite(before) || before < 0) {
      throw new InvalidOptionError(`${at}.msBeforeTrip`, 'a finite number >= 0', before);
    }
    for (const key of ['error', 'message']) {
      if (typeof failure[key] !== 'string') {
        throw new InvalidOptionError(`${at}.${key}`, 'a string', failure[key]);
      }
    }
    const duration = failure.durationMs;
    if (duration !== null && (typeof duration !== 'number' || !Number.isFinite(duration))) {
      throw new InvalidOptionError(`${at}.durationMs`, 'a finite number or null', duration);
    }
  });
  return value as TripReason;
}

function checkStats(option: string, value: unknown): void {
  for (const [key, entry] of Object.entries(object(option, value))) {
    if (Array.isArray(entry)) {
      entry.forEach((item: unknown, i) => {
        checkStats(`${option}.${key}[${i}]`, item);
      });
    } else if (typeof entry !== 'number' && typeof entry !== 'string') {
      throw new InvalidOptionError(`${option}.${key}`, 'a number, a string or an array', entry);
    }
  }
}

function object(option: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, 'an object', value);
  }
  return value as Record<string, unknown>;
}
