/**
 * The circuit breaker: stops calling a dependency that keeps failing, then probes it with a few
 * trial calls before trusting it again. The trip rule is a {@link FailurePolicy}, the states are
 * objects in `breaker-states.ts`, snapshots are made and restored in `breaker-snapshot.ts`; this
 * file admits calls, classifies outcomes, applies the generation rule and emits events.
 */
import type { Backoff } from './backoff.ts';
import type { BreakerEvents, IgnoredReason } from './breaker-events.ts';
import { type CircuitBreakerOptions, resolveOptions } from './breaker-options.ts';
import {
  type BreakerSnapshot,
  type BreakerTotals,
  restoredState,
  type StateFactory,
  takeSnapshot,
} from './breaker-snapshot.ts';
import {
  type AnyState,
  type BreakerState,
  Closed,
  Disabled,
  ForcedOpen,
  HalfOpen,
  type Machine,
  NO_SLOT,
  Open,
  REJECTED,
  type StateBehaviour,
} from './breaker-states.ts';
import type { Clock } from './clock.ts';
import { CircuitOpenError, TimeoutError, withoutStack } from './errors.ts';
import { Emitter, type Unsubscribe } from './events.ts';
import type { FailurePolicy } from './failure-policy.ts';
import { callContext, isThenable, MAX_TIMER_DELAY, UNABORTABLE } from './internal.ts';
import { MarkedOutcome, type Outcome } from './outcome.ts';
import {
  type CallContext,
  type ExecuteOptions,
  neverAborted,
  type Policy,
  type Work,
} from './policy.ts';
import type { SharedState } from './sync-agent.ts';
import { SyncAgent } from './sync-agent.ts';
import { runTimed, type TimedCallObserver } from './timeout.ts';
import { describePolicyTrip, FailureRing, frozenReason, type TripReason } from './trip-reason.ts';

export type { BreakerEvents, IgnoredReason } from './breaker-events.ts';
export type { CircuitBreakerOptions, HalfOpenOptions } from './breaker-options.ts';

/**
 * An admitted call, for callers that cannot hand the breaker a single function (a proxy admits
 * before forwarding and settles when the response is classified). Settling twice does nothing.
 *
 * @example
 * ```ts
 * const permit = breaker.tryAcquire();
 * if (permit) upstream.send(request).then(() => permit.success(), (error) => permit.failure(error));
 * ```
 */
export interface Permit {
  success(): void;
  /** Counts a failure; `error` is only passed on to `failure` listeners. */
  failure(error?: unknown): void;
  /** Counts nothing and frees the permit's trial slot. */
  ignore(): void;
}

// What opened the breaker last, for its trip reason; the reason is put into words only when asked.
const CAUSE_NONE = 0;
const CAUSE_POLICY = 1;
const CAUSE_TRIAL_FAILED = 2;
const CAUSE_TRIAL_EXPIRED = 3;
const CAUSE_FORCED = 4;
const CAUSE_RESTORED = 5;
const CAUSE_REMOTE = 6;

/** The most outcomes of one kind replayed from one message of another instance. */
const MAX_REPLAY = 10_000;

let settlePermit: (
  breaker: CircuitBreaker,
  generation: number,
  slot: number,
  start: number,
  outcome: Outcome,
  error: unknown,
) => void;
let guardTimedOut: (breaker: CircuitBreaker, guard: CallGuard, error: TimeoutError) => void;
let guardCallerAborted: (breaker: CircuitBreaker, guard: CallGuard, reason: unknown) => void;

/**
 * A circuit breaker. Closed, it runs calls and feeds their outcomes to its policy; tripped, it
 * rejects calls with {@link CircuitOpenError} for the open duration; then it lets trial calls
 * through (half-open) and closes after enough of them succeed. Transitions are computed from the
 * clock when the breaker is used, so an idle breaker holds no timer.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ policy: consecutiveFailures(3), openDuration: 10_000 });
 * breaker.on('open', ({ openDuration }) => log.warn(`inventory down, pausing ${openDuration} ms`));
 * const stock = await breaker.execute(({ signal }) => fetch(inventoryUrl, { signal }));
 * ```
 */
export class CircuitBreaker implements Policy {
  /** The name given in the options (or the restored snapshot). */
  readonly name: string | undefined;
  readonly #clock: Clock;
  readonly #policy: FailurePolicy;
  readonly #openDuration: Backoff;
  readonly #maxCalls: number;
  readonly #successesToClose: number;
  readonly #maxDuration: number;
  readonly #isFailure: ((error: unknown) => boolean) | undefined;
  readonly #isResultFailure: ((result: unknown) => boolean) | undefined;
  readonly #callTimeout: number | undefined;
  readonly #events = new Emitter<BreakerEvents>();
  readonly #machine: Machine;
  readonly #closed: Closed;
  #current: AnyState;
  /** Bumped on every transition; an outcome admitted under another generation is dropped. */
  #generation = 0;
  #openAttempt = 0;
  #lastOpenDuration = 0;
  #successes = 0;
  #failures = 0;
  #rejections = 0;
  #lastRejection: CircuitOpenError | undefined;
  #lastRejectionBy: AnyState | undefined;
  #ignored = 0;
  #timeouts = 0;
  readonly #policyNeedsTime: boolean;
  readonly #policyNeedsDuration: boolean;
  /** Whether closed-state calls read the clock at admission, to know their duration. */
  #timed: boolean;
  /** When the call being admitted started (NaN when not timed); set by `#admit`. */
  #admittedAt = 0;
  /** The last few failures, for the trip reason; written on the failure path only. */
  readonly #recentFailures = new FailureRing();
  /** What opened the breaker (a CAUSE_*), when, and its reason once someone asked for it. */
  #cause = CAUSE_NONE;
  #trippedAt = 0;
  #trialSuccesses = 0;
  #reason: TripReason | undefined;
  /** The link to breakers of the same name elsewhere, when `sync` is set. */
  #sync: SyncAgent | undefined;
  /** In `outcomes` mode, the agent that counts closed-state outcomes; otherwise undefined. */
  #sharedOutcomes: SyncAgent | undefined;

  static {
    settlePermit = (breaker, generation, slot, start, outcome, error) =>
      breaker.#record(generation, slot, start, outcome, error, undefined, 'permit');
    guardTimedOut = (breaker, guard, error) => breaker.#timedOut(guard, error);
    guardCallerAborted = (breaker, guard, reason) =>
      breaker.#record(
        guard.generation,
        guard.slot,
        guard.start,
        'ignored',
        reason,
        undefined,
        'caller-abort',
      );
  }

  constructor(options: CircuitBreakerOptions = {}) {
    const o = resolveOptions(options);
    this.#clock = o.clock;
    // A policy's window belongs to one breaker; copying lets one options object serve many.
    this.#policy = o.policy.clone ? o.policy.clone() : o.policy;
    const uses = this.#policy.uses;
    this.#policyNeedsTime = uses !== 'nothing';
    this.#policyNeedsDuration = uses !== 'nothing' && uses !== 'time';
    this.#timed = this.#policyNeedsDuration;
    this.#openDuration = o.openDuration;
    this.#maxCalls = o.maxCalls;
    this.#successesToClose = o.successesToClose;
    this.#maxDuration = o.maxDuration;
    this.#isFailure = o.isFailure;
    this.#isResultFailure = o.isResultFailure;
    this.#callTimeout = o.callTimeout;
    this.#machine = {
      policy: this.#policy,
      trip: () => this.#trip(),
      halfOpen: (now) => {
        if (this.#sync !== undefined && !this.#sync.trialAllowed(now)) return false;
        this.#transition(this.#halfOpen(0), 'half-open');
        return true;
      },
      reopen: () => this.#reopen(this.#clock.now(), CAUSE_TRIAL_FAILED),
      close: () => this.#close(),
      trialExpired: (at) => this.#trialExpired(at),
    };
    this.#closed = new Closed(this.#machine);
    this.#current = this.#closed;
    const snapshot = o.initialState;
    this.name = o.name ?? snapshot?.name ?? undefined;
    if (snapshot) this.#restore(snapshot, o.sync !== undefined);
    this.#policy.reset(this.#clock.now());
    if (o.sync !== undefined && this.name !== undefined) {
      this.#sync = new SyncAgent({
        name: this.name,
        transport: o.sync,
        mode: o.syncMode,
        clock: this.#clock,
        host: {
          adopt: (state) => this.#adopt(state),
          replay: (outcome, durationMs, count) => this.#replay(outcome, durationMs, count),
          current: () => this.#shared(),
        },
        readsDuration: this.#policyNeedsDuration,
        // A lease must run out even when trials never do, or a dead holder would block the fleet.
        leaseMs: Number.isFinite(this.#maxDuration) ? this.#maxDuration : 60_000,
      });
      if (o.syncMode === 'outcomes') {
        this.#sharedOutcomes = this.#sync;
        // Shared counts carry durations only when the policy reads them.
        this.#timed ||= this.#policyNeedsDuration;
      }
    }
  }

  /** The current state; an open breaker whose open duration has passed reports 'half-open'. */
  get state(): BreakerState {
    // Only open and half-open change with time; a closed breaker is read without a clock read
    // (a load balancer reads every target's state on every pick).
    if (this.#current !== this.#closed) this.#refresh(this.#clock.now());
    return this.#current.name;
  }

  /**
   * Milliseconds until a call would be admitted; 0 when one would be now; `Infinity` when forced
   * open (only {@link reset} admits calls again).
   */
  get retryAfter(): number {
    const now = this.#clock.now();
    this.#refresh(now);
    return this.#current.retryAfter(now);
  }

  /**
   * Runs `fn` unless the breaker is open, and settles with `fn`'s own result or error. `fn` may be
   * synchronous; the result is always a promise.
   *
   * @example
   * ```ts
   * const user = await breaker.execute(({ signal }) => db.findUser(id, { signal }), { signal });
   * ```
   */
  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    let signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // An outer retry or fallback without a caller signal hands down the shared never-aborting
    // one: nothing to listen to, so keep the fast path.
    if (signal === neverAborted) signal = undefined;
    const slot = this.#admit();
    const start = this.#admittedAt;
    if (slot === REJECTED) return Promise.reject(this.#rejection(start));
    const generation = this.#generation;
    if (signal !== undefined || this.#callTimeout !== undefined) {
      return this.#executeGuarded(fn, signal, generation, slot, start, options?.attempt);
    }
    let result: T | PromiseLike<T>;
    try {
      result = fn(callContext(undefined, options?.attempt));
    } catch (error) {
      return Promise.reject(this.#settleError(generation, slot, start, error));
    }
    if (!isThenable(result)) {
      this.#settleResult(generation, slot, start, result);
      return Promise.resolve(result);
    }
    // Promise.resolve returns a native promise as is: one reaction, like a bare `await fn()`.
    return Promise.resolve(result).then(
      (value) => {
        this.#settleResult(generation, slot, start, value);
        return value;
      },
      (error: unknown) => {
        throw this.#settleError(generation, slot, start, error);
      },
    );
  }

  /**
   * Runs synchronous `fn` unless the breaker is open; throws {@link CircuitOpenError} at once if it
   * is. `callTimeout` does not apply: synchronous work cannot be interrupted. Work that returns a
   * promise counts as a success when it returns; give asynchronous work to {@link execute}.
   *
   * @example
   * ```ts
   * const parsed = breaker.executeSync(() => parseConfig(text));
   * ```
   */
  executeSync<T>(fn: (context: CallContext) => T): T {
    const slot = this.#admit();
    const start = this.#admittedAt;
    if (slot === REJECTED) throw this.#rejection(start);
    const generation = this.#generation;
    let result: T;
    try {
      result = fn(UNABORTABLE);
    } catch (error) {
      throw this.#settleError(generation, slot, start, error);
    }
    this.#settleResult(generation, slot, start, result);
    return result;
  }

  /**
   * Admits one call without running anything: returns a {@link Permit} to settle when the outcome
   * is known, or `undefined` when the breaker rejects (see {@link retryAfter}). The call's
   * duration runs from here to the settle.
   *
   * @example
   * ```ts
   * const permit = breaker.tryAcquire();
   * if (!permit) {
   *   const wait = breaker.retryAfter; // Infinity when forced open: send no Retry-After then
   *   return reply(503, Number.isFinite(wait) ? { 'retry-after': Math.ceil(wait / 1000) } : {});
   * }
   * const response = await forward(request);
   * response.status >= 500 ? permit.failure() : permit.success();
   * ```
   */
  tryAcquire(): Permit | undefined {
    const slot = this.#admit();
    const start = this.#admittedAt;
    if (slot === REJECTED) {
      this.#countRejection(start);
      return undefined;
    }
    return new BreakerPermit(this, this.#generation, slot, start);
  }

  /**
   * Opens the breaker until {@link reset}: every call is rejected, and {@link retryAfter} is
   * `Infinity`. Emits `open` (with an `openDuration` of `Infinity`) and `state`.
   */
  forceOpen(): void {
    this.#opened(CAUSE_FORCED, this.#clock.now());
    this.#transition(new ForcedOpen(), 'open', Number.POSITIVE_INFINITY);
  }

  /** Lets every call through and records nothing, until {@link reset}. */
  disable(): void {
    this.#forgetTrip();
    this.#transition(new Disabled(), undefined);
  }

  /** Back to closed with an empty policy window and the first open duration. */
  reset(): void {
    const now = this.#clock.now();
    this.#openAttempt = 0;
    this.#lastOpenDuration = 0;
    this.#policy.reset(now);
    this.#forgetTrip();
    // Bump the generation even when already closed: calls admitted before a reset don't count.
    this.#transition(this.#closed, 'close', 0, 'reset');
    this.#share();
  }

  /**
   * Stops sharing state with other instances (a registry calls it when it forgets the breaker);
   * the breaker goes on alone. A half-open trial lease it holds is given back, so another
   * instance may probe without waiting for the lease to run out; the outcomes of calls admitted
   * before are still settled here, alone, and never shared. Does nothing without `sync`.
   *
   * @example
   * ```ts
   * breaker.dispose(); // no more messages to or from the other instances
   * ```
   */
  dispose(): void {
    this.#sync?.detach();
    this.#sync = undefined;
    this.#sharedOutcomes = undefined;
  }

  /**
   * Subscribes to an event; returns the unsubscribe function. A throwing listener is logged and
   * never breaks a call.
   *
   * @example
   * ```ts
   * const off = breaker.on('state', ({ from, to }) => console.log(`${from} → ${to}`));
   * ```
   */
  on<K extends keyof BreakerEvents>(
    name: K,
    listener: (payload: BreakerEvents[K]) => void,
  ): Unsubscribe {
    const off = this.#events.on(name, listener);
    this.#updateTiming();
    return () => {
      off();
      this.#updateTiming();
    };
  }

  #updateTiming(): void {
    const events = this.#events;
    // An `open` listener wants the durations of the failures in its trip reason.
    this.#timed =
      this.#policyNeedsDuration ||
      events.has('success') ||
      events.has('failure') ||
      events.has('open');
  }

  /** The breaker's state as JSON-serialisable data; see {@link BreakerSnapshot}. */
  snapshot(): BreakerSnapshot {
    const now = this.#clock.now();
    this.#refresh(now);
    return takeSnapshot(
      {
        name: this.name,
        state: this.#current,
        openAttempt: this.#openAttempt,
        lastOpenDuration: this.#lastOpenDuration,
        totals: {
          successes: this.#successes,
          failures: this.#failures,
          rejections: this.#rejections,
          ignored: this.#ignored,
          timeouts: this.#timeouts,
        },
        policy: this.#policy.stats?.() ?? null,
        reason: this.#tripReason(),
        sync: this.#sync?.snapshot(),
      },
      now,
    );
  }

  #restore(snapshot: BreakerSnapshot, shared: boolean): void {
    this.#openAttempt = snapshot.openAttempt;
    this.#lastOpenDuration = snapshot.lastOpenDuration;
    const totals: BreakerTotals = snapshot.totals;
    this.#successes = totals.successes;
    this.#failures = totals.failures;
    this.#rejections = totals.rejections;
    this.#ignored = totals.ignored;
    this.#timeouts = totals.timeouts;
    const states: StateFactory = {
      closed: this.#closed,
      open: (until) => new Open(this.#machine, until),
      halfOpen: (successes) => this.#halfOpen(successes),
      forcedOpen: () => new ForcedOpen(),
      disabled: () => new Disabled(),
    };
    const now = this.#clock.now();
    this.#current = restoredState(snapshot, now, states);
    // A shared breaker tries only under the fleet's trial lease: restored half-open, it waits
    // open until its first look asks for the lease (the sync is attached by then).
    if (shared && this.#current.name === 'half-open') this.#current = new Open(this.#machine, now);
    const name = this.#current.name;
    if (name !== 'closed' && name !== 'disabled') {
      this.#opened(CAUSE_RESTORED, now);
      this.#reason = frozenReason(
        snapshot.reason ?? {
          rule: 'restored',
          text: 'restored from a snapshot that gave no reason',
          window: null,
          recentFailures: [],
        },
      );
    }
  }

  /** Why the breaker is open (or half-open, or forced open); null when it is not. */
  #tripReason(): TripReason | null {
    if (this.#cause === CAUSE_NONE) return null;
    this.#reason ??= frozenReason(this.#describeTrip());
    return this.#reason;
  }

  #describeTrip(): TripReason {
    const recentFailures = this.#recentFailures.list(this.#trippedAt);
    const trials = {
      kind: 'halfOpen',
      successes: this.#trialSuccesses,
      successesToClose: this.#successesToClose,
    };
    switch (this.#cause) {
      case CAUSE_TRIAL_FAILED:
        return {
          rule: 'halfOpenTrial',
          text: 'half-open trial failed',
          window: trials,
          recentFailures,
        };
      case CAUSE_TRIAL_EXPIRED:
        return {
          rule: 'halfOpenTrial',
          text: `half-open trial did not settle within ${this.#maxDuration} ms`,
          window: trials,
          recentFailures,
        };
      case CAUSE_FORCED:
        return { rule: 'forced', text: 'forced open by operator', window: null, recentFailures };
      case CAUSE_REMOTE:
        return {
          rule: 'shared',
          text: `opened by instance ${this.#sync?.snapshot().source ?? 'elsewhere'}`,
          window: null,
          recentFailures,
        };
      default: {
        const described = describePolicyTrip(this.#policy);
        const window = described.window ?? this.#policy.stats?.() ?? null;
        return { rule: described.rule, text: described.text, window, recentFailures };
      }
    }
  }

  /** Notes what opened the breaker at `at`; the reason is put into words when first asked for. */
  #opened(cause: number, at: number): void {
    this.#cause = cause;
    this.#trippedAt = at;
    this.#reason = undefined;
  }

  #forgetTrip(): void {
    this.#cause = CAUSE_NONE;
    this.#reason = undefined;
    this.#recentFailures.clear();
  }

  /**
   * Makes the moves that time alone makes (open → half-open, a half-open trial expiring → open as
   * of its expiry, which may itself have ended by now); each state knows its own. At most three.
   */
  #refresh(now: number): void {
    while (this.#current.advance(now));
  }

  /** Admits a call, returning its slot or REJECTED, and leaves its start time in #admittedAt. */
  #admit(): number {
    if (this.#current === this.#closed) {
      // The hot path: a closed breaker needs the time only to report durations.
      this.#admittedAt = this.#timed ? this.#clock.now() : Number.NaN;
      return NO_SLOT;
    }
    const now = this.#clock.now();
    this.#admittedAt = now;
    this.#refresh(now);
    return this.#current.admit(now);
  }

  #countRejection(now: number): number {
    this.#rejections++;
    const retryAfter = this.#current.retryAfter(now);
    if (this.#events.has('rejected')) {
      this.#events.emit('rejected', { state: this.#current.name, retryAfter });
    }
    return retryAfter;
  }

  /**
   * The error for a rejected call. Even without a stack, building an Error costs about 0.7 µs,
   * and an outage rejects thousands of calls a millisecond; calls rejected by the same state in
   * the same whole millisecond of `retryAfter` get the same (identical-looking) error instance,
   * frozen. To add to it, wrap it: `new AppError('payments down', { cause: error })`.
   */
  #rejection(now: number): CircuitOpenError {
    const retryAfter = Math.max(0, Math.ceil(this.#countRejection(now)));
    const cached = this.#lastRejection;
    if (
      cached !== undefined &&
      cached.retryAfter === retryAfter &&
      this.#lastRejectionBy === this.#current
    ) {
      return cached;
    }
    // Frozen, since it is shared: one caller must not change (or annotate) another's error.
    const error = Object.freeze(withoutStack(() => new CircuitOpenError(retryAfter, this.name)));
    this.#lastRejection = error;
    this.#lastRejectionBy = this.#current;
    return error;
  }

  /** Records a thrown error and returns what the caller should receive. */
  #settleError(generation: number, slot: number, start: number, error: unknown): unknown {
    if (error instanceof MarkedOutcome) {
      const reason = error.outcome === 'ignored' ? 'marked' : undefined;
      this.#record(generation, slot, start, error.outcome, error.error, undefined, reason);
      return error.error;
    }
    this.#record(generation, slot, start, this.#classify(error), error, undefined, undefined);
    return error;
  }

  #settleResult(generation: number, slot: number, start: number, result: unknown): void {
    const failed =
      this.#isResultFailure !== undefined && this.#judge(this.#isResultFailure, result);
    this.#record(
      generation,
      slot,
      start,
      failed ? 'failure' : 'success',
      undefined,
      result,
      undefined,
    );
  }

  #classify(error: unknown): Outcome {
    if (this.#isFailure === undefined) return 'failure';
    return this.#judge(this.#isFailure, error) ? 'failure' : 'success';
  }

  /** Runs a user predicate; one that throws counts the call as a failure rather than losing it. */
  #judge(predicate: (value: unknown) => boolean, value: unknown): boolean {
    try {
      return predicate(value);
    } catch (error) {
      console.error(`breakwater: ${this.name ?? 'a circuit breaker'}'s predicate threw`, error);
      return true;
    }
  }

  #record(
    generation: number,
    slot: number,
    start: number,
    outcome: Outcome,
    error: unknown,
    result: unknown,
    reason: IgnoredReason | undefined,
  ): void {
    const events = this.#events;
    // A trial settling after its maxDuration already counted as a failure: find that out first.
    if (this.#current !== this.#closed) this.#refresh(this.#clock.now());
    if (generation !== this.#generation) {
      // Admitted under an earlier state or window: it says nothing about the current one.
      this.#ignored++;
      if (events.has('ignored')) events.emit('ignored', { reason: 'stale', error });
      return;
    }
    const state: StateBehaviour = this.#current;
    if (!state.records) return;
    // Failures and ignored outcomes are handled apart, so this stays small enough for V8 to
    // inline into every call's path (a closed-state success is the hot path).
    if (outcome === 'failure') {
      this.#recordFailure(state, slot, start, error, result, reason === 'permit');
      return;
    }
    if (outcome === 'ignored') {
      this.#ignored++;
      if (events.has('ignored')) events.emit('ignored', { reason: reason ?? 'marked', error });
      state.onIgnored(slot);
      return;
    }
    // A success reads no clock it needn't.
    const now =
      !Number.isNaN(start) || state !== this.#closed || this.#policyNeedsTime
        ? this.#clock.now()
        : Number.NaN;
    const durationMs = now - start;
    // Counted before the state sees it: a trip starts a new epoch, and this outcome belongs to the old one.
    if (this.#sharedOutcomes !== undefined && state === this.#closed) {
      this.#sharedOutcomes.outcome('success', durationMs);
    }
    this.#successes++;
    if (events.has('success')) events.emit('success', { durationMs });
    state.onSuccess(now, durationMs, slot);
  }

  /** A failure is always dated, for the trip reason's ring of recent failures. */
  #recordFailure(
    state: StateBehaviour,
    slot: number,
    start: number,
    error: unknown,
    result: unknown,
    byPermit: boolean,
  ): void {
    const now = this.#clock.now();
    const durationMs = now - start;
    if (this.#sharedOutcomes !== undefined && state === this.#closed) {
      this.#sharedOutcomes.outcome('failure', durationMs);
    }
    this.#failures++;
    if (this.#events.has('failure')) this.#events.emit('failure', { durationMs, error, result });
    // `error` is undefined for a returned value judged a failure, and for a bare permit.failure().
    this.#recentFailures.add(now, durationMs, error, error === undefined && !byPermit);
    state.onFailure(now, durationMs, slot);
  }

  /**
   * A call with a caller signal or a `callTimeout`: the timeout policy's timed call runs it, and
   * tells this breaker when time ran out (a failure) or the caller aborted (ignored).
   */
  #executeGuarded<T>(
    fn: Work<T>,
    callerSignal: AbortSignal | undefined,
    generation: number,
    slot: number,
    start: number,
    attempt: number | undefined,
  ): Promise<T> {
    const guard = new CallGuard(this, generation, slot, start);
    return runTimed(fn, callerSignal, this.#clock, this.#callTimeout, guard, attempt).then(
      (value) => {
        if (!guard.ended) this.#settleResult(generation, slot, start, value);
        return value;
      },
      (error: unknown) => {
        throw guard.ended ? error : this.#settleError(generation, slot, start, error);
      },
    );
  }

  /** The timed call of `guard` ran out of time. */
  #timedOut(guard: CallGuard, error: TimeoutError): void {
    // Like failures, timeouts count only when recorded: not stale, not disabled.
    if (guard.generation === this.#generation && this.#current.records) {
      this.#timeouts++;
      if (this.#events.has('timeout')) this.#events.emit('timeout', { timeout: error.timeout });
    }
    this.#record(guard.generation, guard.slot, guard.start, 'failure', error, undefined, undefined);
  }

  #nextOpenDuration(attempt: number, previous: number): number {
    const delay = this.#openDuration.delay(attempt, previous);
    // A custom backoff returning NaN or a negative number must not wedge the breaker open.
    return delay > 0 ? Math.min(delay, MAX_TIMER_DELAY) : 0;
  }

  #open(at: number, cause: number): void {
    const openDuration = this.#nextOpenDuration(this.#openAttempt, this.#lastOpenDuration);
    this.#lastOpenDuration = openDuration;
    this.#opened(cause, at);
    this.#transition(new Open(this.#machine, at + openDuration), 'open', openDuration);
    this.#share();
  }

  #trip(): void {
    this.#openAttempt = 0;
    this.#open(this.#clock.now(), CAUSE_POLICY);
  }

  #reopen(at: number, cause: number): void {
    const current = this.#current;
    this.#trialSuccesses = current.name === 'half-open' ? current.successes : 0;
    this.#openAttempt++;
    this.#open(at, cause);
  }

  #close(): void {
    this.#openAttempt = 0;
    this.#lastOpenDuration = 0;
    this.#policy.reset(this.#clock.now());
    this.#forgetTrip();
    const n = this.#successesToClose;
    this.#transition(
      this.#closed,
      'close',
      0,
      `${n} half-open trial${n === 1 ? '' : 's'} succeeded`,
    );
    this.#share();
  }

  /** Hands a local trip, re-opening or close to the other instances. */
  #share(): void {
    if (this.#sync === undefined) return;
    const state = this.#shared();
    if (state !== undefined) this.#sync.transitioned(state);
  }

  /** The shareable part of the current state: open (with its time left) or closed. */
  #shared(): SharedState | undefined {
    const current = this.#current;
    if (current.name !== 'open' && current.name !== 'closed') return undefined;
    return {
      state: current.name,
      openAttempt: this.#openAttempt,
      lastOpenDuration: this.#lastOpenDuration,
      remainingOpenMs: current.name === 'open' ? current.retryAfter(this.#clock.now()) : 0,
    };
  }

  /**
   * Takes on another instance's transition without sharing it back. An operator's forced-open or
   * disabled breaker keeps its override.
   */
  #adopt(state: SharedState): void {
    const current = this.#current.name;
    if (current === 'forced-open' || current === 'disabled') return;
    this.#openAttempt = state.openAttempt;
    this.#lastOpenDuration = state.lastOpenDuration;
    const now = this.#clock.now();
    if (state.state === 'closed') {
      this.#policy.reset(now);
      this.#forgetTrip();
      const by = this.#sync?.snapshot().source ?? 'another instance';
      this.#transition(this.#closed, 'close', 0, `closed by instance ${by}`);
      return;
    }
    const remaining = Math.min(state.remainingOpenMs, MAX_TIMER_DELAY);
    this.#opened(CAUSE_REMOTE, now);
    this.#transition(new Open(this.#machine, now + remaining), 'open', remaining);
  }

  /**
   * Feeds other instances' outcomes to the policy (`outcomes` mode), as if they were this
   * breaker's own closed-state calls; they are not added to this breaker's totals. Returns false
   * once the breaker is no longer closed (the replay tripped it, or it was not closed).
   */
  #replay(outcome: 'success' | 'failure', durationMs: number, count: number): boolean {
    if (this.#current !== this.#closed) return false;
    const policy = this.#policy;
    const now = this.#policyNeedsTime ? this.#clock.now() : Number.NaN;
    // Beyond this many, more of the same outcome tell a count window nothing new.
    const replays = Math.min(count, MAX_REPLAY);
    for (let i = 0; i < replays; i++) {
      const trip =
        outcome === 'success'
          ? policy.recordSuccess(now, durationMs)
          : policy.recordFailure(now, durationMs);
      if (trip) {
        this.#trip();
        return false;
      }
    }
    return true;
  }

  #trialExpired(at: number): void {
    this.#failures++;
    const maxDuration = this.#maxDuration;
    if (this.#events.has('failure')) {
      const error = new TimeoutError(maxDuration);
      this.#events.emit('failure', { durationMs: maxDuration, error, result: undefined });
    }
    const message = `half-open trial did not settle within ${maxDuration} ms`;
    this.#recentFailures.addLabelled(at, maxDuration, 'ERR_TIMEOUT', message);
    this.#reopen(at, CAUSE_TRIAL_EXPIRED);
  }

  #halfOpen(successes: number): HalfOpen {
    return new HalfOpen(
      this.#machine,
      this.#maxCalls,
      this.#successesToClose,
      this.#maxDuration,
      successes,
    );
  }

  #transition(
    next: AnyState,
    event: 'open' | 'half-open' | 'close' | undefined,
    openDuration = 0,
    closeReason = '',
  ): void {
    const from = this.#current.name;
    this.#current = next;
    this.#generation++;
    // reset() of a closed breaker, forceOpen() twice: a new generation, but no transition to tell.
    if (from === next.name) return;
    const events = this.#events;
    if (event === 'open') {
      if (events.has('open')) {
        const reason = this.#tripReason()!;
        events.emit('open', { attempt: this.#openAttempt, openDuration, reason });
      }
    } else if (event === 'close') {
      if (events.has('close')) events.emit('close', { reason: closeReason });
    } else if (event !== undefined) {
      events.emit(event, undefined);
    }
    if (events.has('state')) events.emit('state', { from, to: next.name });
  }
}

class BreakerPermit implements Permit {
  #breaker: CircuitBreaker | undefined;
  readonly #generation: number;
  readonly #slot: number;
  readonly #start: number;

  constructor(breaker: CircuitBreaker, generation: number, slot: number, start: number) {
    this.#breaker = breaker;
    this.#generation = generation;
    this.#slot = slot;
    this.#start = start;
  }

  success(): void {
    this.#settle('success', undefined);
  }

  failure(error?: unknown): void {
    this.#settle('failure', error);
  }

  ignore(): void {
    this.#settle('ignored', undefined);
  }

  #settle(outcome: Outcome, error: unknown): void {
    const breaker = this.#breaker;
    if (breaker === undefined) return;
    this.#breaker = undefined;
    settlePermit(breaker, this.#generation, this.#slot, this.#start, outcome, error);
  }
}

/**
 * One guarded call's admission, told by the timed call when it ended before its work did; after
 * that the work's own outcome is not recorded.
 */
class CallGuard implements TimedCallObserver {
  readonly #breaker: CircuitBreaker;
  readonly generation: number;
  readonly slot: number;
  readonly start: number;
  /** True once the call timed out or its caller aborted. */
  ended = false;

  constructor(breaker: CircuitBreaker, generation: number, slot: number, start: number) {
    this.#breaker = breaker;
    this.generation = generation;
    this.slot = slot;
    this.start = start;
  }

  timedOut(error: TimeoutError): void {
    this.ended = true;
    guardTimedOut(this.#breaker, this, error);
  }

  callerAborted(reason: unknown): void {
    this.ended = true;
    guardCallerAborted(this.#breaker, this, reason);
  }
}
