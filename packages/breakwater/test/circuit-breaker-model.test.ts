/**
 * The circuit breaker against a small reference model, with fast-check's model-based testing:
 * random sequences of admissions (`tryAcquire`), outcomes (success, failure, ignore, in any
 * order, twice, or long after a transition), clock moves, resets and forced openings, run on a
 * real breaker and on the model side by side. Only the public API is used, so the breaker's
 * internals can change freely under it.
 *
 * Checked after every step: the breaker admits exactly when the model does (never while open
 * before its time, never more than `halfOpen.maxCalls` trials at once), reports the model's state
 * and retry-after, and its lifetime totals equal the model's; an outcome of an earlier generation
 * changes nothing but the `ignored` count.
 *
 * `npm test` runs a fixed seed. More runs: `FC_RUNS=5000 npx node --conditions=@breakwater/source --test
 * packages/breakwater/test/circuit-breaker-model.test.ts`; another seed: `FC_SEED=…`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BreakerState,
  CircuitBreaker,
  consecutiveFailures,
  exponential,
  ManualClock,
  type Permit,
} from 'breakwater';
import fc from 'fast-check';

const RUNS = positiveIntegerFromEnv('FC_RUNS', 300);
const SEED = positiveIntegerFromEnv('FC_SEED', 20_261_201);

function positiveIntegerFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** The breaker's configuration for one run; the model reads the same numbers. */
interface Setup {
  readonly threshold: number;
  readonly openDuration: number;
  readonly maxOpenDuration: number;
  readonly maxCalls: number;
  readonly successesToClose: number;
  readonly maxDuration: number;
}

type Outcome = 'success' | 'failure' | 'ignore';

/** One permit handed out, as the model sees it. */
interface ModelPermit {
  readonly generation: number;
  /** Whether it holds a half-open trial slot (admitted while half-open). */
  readonly trial: boolean;
  readonly start: number;
  settled: boolean;
}

type ModelState =
  | { readonly name: 'closed' }
  | { readonly name: 'open'; readonly until: number }
  | { readonly name: 'half-open'; successes: number }
  | { readonly name: 'forced-open' };

/**
 * What the breaker should do, written as plainly as possible: consecutive failures trip it, an
 * exponential open duration (doubling up to a cap) steps on every re-opening, trials that
 * outlive `maxDuration` count as failures dated to their expiry.
 */
class Model {
  readonly setup: Setup;
  now = 0;
  state: ModelState = { name: 'closed' };
  generation = 0;
  consecutiveFailures = 0;
  openAttempt = 0;
  readonly permits: ModelPermit[] = [];
  readonly totals = { successes: 0, failures: 0, rejections: 0, ignored: 0 };
  /** How the generated history exercised settling, to show the run covered the rule. */
  readonly settled = { repeat: 0, stale: 0, current: 0 };

  constructor(setup: Setup) {
    this.setup = setup;
  }

  openDurationFor(attempt: number): number {
    return Math.min(this.setup.openDuration * 2 ** attempt, this.setup.maxOpenDuration);
  }

  liveTrials(): ModelPermit[] {
    return this.permits.filter((p) => p.trial && !p.settled && p.generation === this.generation);
  }

  enter(state: ModelState): void {
    this.state = state;
    this.generation++;
  }

  open(at: number): void {
    this.enter({ name: 'open', until: at + this.openDurationFor(this.openAttempt) });
  }

  /** The moves time alone makes, up to `now`. */
  refresh(): void {
    for (;;) {
      const state = this.state;
      if (state.name === 'open') {
        if (this.now < state.until) return;
        this.enter({ name: 'half-open', successes: 0 });
      } else if (state.name === 'half-open') {
        const trials = this.liveTrials();
        if (trials.length === 0) return;
        const expiry = Math.min(...trials.map((t) => t.start)) + this.setup.maxDuration;
        if (expiry > this.now) return;
        this.totals.failures++;
        this.openAttempt++;
        this.open(expiry);
      } else {
        return;
      }
    }
  }

  /** Returns the permit's index, or undefined when the call is rejected. */
  acquire(): number | undefined {
    this.refresh();
    const state = this.state;
    let trial = false;
    if (state.name === 'open' || state.name === 'forced-open') {
      this.totals.rejections++;
      return undefined;
    }
    if (state.name === 'half-open') {
      if (this.liveTrials().length >= this.setup.maxCalls) {
        this.totals.rejections++;
        return undefined;
      }
      trial = true;
    }
    this.permits.push({ generation: this.generation, trial, start: this.now, settled: false });
    return this.permits.length - 1;
  }

  /** Settles a permit: a repeat does nothing, a stale one (earlier generation) only counts. */
  settle(index: number, outcome: Outcome): 'repeat' | 'stale' | 'current' {
    const permit = this.permits[index]!;
    if (permit.settled) return 'repeat';
    permit.settled = true;
    this.refresh();
    if (permit.generation !== this.generation) {
      this.totals.ignored++;
      return 'stale';
    }
    const state = this.state;
    if (outcome === 'ignore') {
      this.totals.ignored++;
    } else if (outcome === 'success') {
      this.totals.successes++;
      if (state.name === 'closed') {
        this.consecutiveFailures = 0;
      } else if (state.name === 'half-open') {
        if (++state.successes >= this.setup.successesToClose) this.close();
      }
    } else {
      this.totals.failures++;
      if (state.name === 'closed') {
        if (++this.consecutiveFailures >= this.setup.threshold) {
          this.openAttempt = 0;
          this.open(this.now);
        }
      } else if (state.name === 'half-open') {
        this.openAttempt++;
        this.open(this.now);
      }
    }
    return 'current';
  }

  close(): void {
    this.openAttempt = 0;
    this.consecutiveFailures = 0;
    this.enter({ name: 'closed' });
  }

  reset(): void {
    this.close();
  }

  forceOpen(): void {
    this.enter({ name: 'forced-open' });
  }

  stateName(): BreakerState {
    this.refresh();
    return this.state.name;
  }

  /** Milliseconds until a call would be admitted; forced-open reports a hint the model skips. */
  retryAfter(): number | undefined {
    this.refresh();
    const state = this.state;
    if (state.name === 'open') return state.until - this.now;
    if (state.name === 'forced-open') return undefined;
    return 0;
  }
}

interface Real {
  readonly clock: ManualClock;
  readonly breaker: CircuitBreaker;
  readonly permits: Permit[];
}

/** What the outside can see of the breaker, minus the ignored count (stale outcomes bump it). */
function observe(real: Real) {
  const { totals, ...snapshot } = real.breaker.snapshot();
  const { ignored: _, ...counted } = totals;
  return { state: real.breaker.state, retryAfter: real.breaker.retryAfter, snapshot, counted };
}

function agree(model: Model, real: Real): void {
  assert.equal(real.breaker.state, model.stateName(), 'state');
  const retryAfter = model.retryAfter();
  if (retryAfter !== undefined) assert.equal(real.breaker.retryAfter, retryAfter, 'retryAfter');
  const { successes, failures, rejections, ignored } = real.breaker.snapshot().totals;
  assert.deepEqual({ successes, failures, rejections, ignored }, model.totals, 'totals');
  assert.ok(model.liveTrials().length <= model.setup.maxCalls, 'never more trials than maxCalls');
}

class Acquire implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    const state = model.stateName();
    const openEarly = state === 'open' || state === 'forced-open';
    const expected = model.acquire();
    const permit = real.breaker.tryAcquire();
    if (openEarly) assert.equal(permit, undefined, `admitted while ${state}`);
    assert.equal(
      permit !== undefined,
      expected !== undefined,
      'admits exactly when the model does',
    );
    if (permit) real.permits.push(permit);
    agree(model, real);
  }
  toString(): string {
    return 'acquire';
  }
}

class Settle implements fc.Command<Model, Real> {
  readonly pick: number;
  readonly outcome: Outcome;
  constructor(pick: number, outcome: Outcome) {
    this.pick = pick;
    this.outcome = outcome;
  }
  check(model: Model): boolean {
    return model.permits.length > 0;
  }
  run(model: Model, real: Real): void {
    const index = this.pick % model.permits.length;
    const before = observe(real);
    const kind = model.settle(index, this.outcome);
    real.permits[index]![this.outcome]();
    if (kind === 'stale')
      assert.deepEqual(observe(real), before, 'a stale outcome changes nothing');
    if (kind === 'repeat') assert.deepEqual(observe(real), before, 'settling twice does nothing');
    model.settled[kind]++;
    agree(model, real);
  }
  toString(): string {
    return `settle(#${this.pick}, ${this.outcome})`;
  }
}

class Advance implements fc.Command<Model, Real> {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    model.now += this.ms;
    real.clock.advance(this.ms);
    agree(model, real);
  }
  toString(): string {
    return `advance(${this.ms})`;
  }
}

class Reset implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    model.reset();
    real.breaker.reset();
    agree(model, real);
  }
  toString(): string {
    return 'reset';
  }
}

class ForceOpen implements fc.Command<Model, Real> {
  check(): boolean {
    return true;
  }
  run(model: Model, real: Real): void {
    model.forceOpen();
    real.breaker.forceOpen();
    agree(model, real);
  }
  toString(): string {
    return 'forceOpen';
  }
}

const setups: fc.Arbitrary<Setup> = fc
  .record({
    threshold: fc.integer({ min: 1, max: 4 }),
    openDuration: fc.integer({ min: 1, max: 400 }),
    growth: fc.integer({ min: 1, max: 8 }),
    maxCalls: fc.integer({ min: 1, max: 4 }),
    successesToClose: fc.integer({ min: 1, max: 4 }),
    maxDuration: fc.integer({ min: 1, max: 1_000 }),
  })
  .map(({ growth, ...rest }) => ({ ...rest, maxOpenDuration: rest.openDuration * growth }));

const outcomes = fc.constantFrom<Outcome>('success', 'failure', 'ignore');

/** Calls and outcomes far more often than resets, and long histories, so runs reach deep into half-open. */
const commands = fc.commands(
  [
    fc.constant(new Acquire()),
    fc.constant(new Acquire()),
    fc.tuple(fc.nat(), outcomes).map(([pick, outcome]) => new Settle(pick, outcome)),
    fc.tuple(fc.nat(), outcomes).map(([pick, outcome]) => new Settle(pick, outcome)),
    fc.tuple(fc.nat(), fc.constantFrom('failure' as const)).map(([p, o]) => new Settle(p, o)),
    fc.integer({ min: 0, max: 900 }).map((ms) => new Advance(ms)),
    fc.constant(new Reset()),
    fc.constant(new ForceOpen()),
  ],
  { maxCommands: 200, size: 'max' },
);

function start(setup: Setup): Real {
  const clock = new ManualClock();
  const breaker = new CircuitBreaker({
    clock,
    policy: consecutiveFailures(setup.threshold),
    openDuration: exponential({
      initial: setup.openDuration,
      max: setup.maxOpenDuration,
      factor: 2,
    }),
    halfOpen: {
      maxCalls: setup.maxCalls,
      successesToClose: setup.successesToClose,
      maxDuration: setup.maxDuration,
    },
  });
  return { clock, breaker, permits: [] };
}

describe('CircuitBreaker against a reference model', () => {
  it(`agrees with the model on every step of ${RUNS} random histories (seed ${SEED})`, () => {
    fc.assert(
      fc.property(setups, commands, (setup, history) => {
        fc.modelRun(() => ({ model: new Model(setup), real: start(setup) }), history);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('reaches every state in the generated histories, so the agreement means something', () => {
    const seen = new Set<BreakerState>();
    let trialsAtCap = 0;
    const settled = { repeat: 0, stale: 0, current: 0 };
    fc.assert(
      fc.property(setups, commands, (setup, history) => {
        const model = new Model(setup);
        const real = start(setup);
        for (const command of history) {
          if (!command.check(model)) continue;
          command.run(model, real);
          seen.add(model.stateName());
          if (model.liveTrials().length === setup.maxCalls) trialsAtCap++;
        }
        for (const kind of ['repeat', 'stale', 'current'] as const) {
          settled[kind] += model.settled[kind];
        }
      }),
      { numRuns: Math.min(RUNS, 100), seed: SEED },
    );
    assert.deepEqual([...seen].sort(), ['closed', 'forced-open', 'half-open', 'open']);
    assert.ok(trialsAtCap > 0, 'some history filled every half-open trial slot');
    assert.ok(
      settled.stale > 0 && settled.repeat > 0 && settled.current > 0,
      JSON.stringify(settled),
    );
  });
});
