/**
 * Finds every breaker and policy in what the user hands to an exporter (a breaker, a registry and
 * the breakers it makes later, a pipeline, a retry/timeout/bulkhead/fallback policy), subscribes
 * to their events, adds to the tallies, and tells an optional listener about calls, rejections
 * and trips (the OpenTelemetry exporter's span events). Returns one function that unsubscribes all.
 */
import {
  type BreakerEvents,
  BreakerRegistry,
  BulkheadPolicy,
  CircuitBreaker,
  FallbackPolicy,
  InvalidOptionError,
  Pipeline,
  RetryPolicy,
  TimeoutError,
  TimeoutPolicy,
  type Unsubscribe,
} from 'breakwater';
import type { Tallies } from './tally.ts';
import type { CallOutcome } from './vocabulary.ts';

/**
 * What an exporter can instrument: a breaker, a registry (its breakers now and later), a
 * pipeline (every breaker and policy in it), or a single retry, timeout, bulkhead or fallback
 * policy.
 *
 * @example
 * ```ts
 * const subject: Instrumentable = new BreakerRegistry({ defaults: {} });
 * ```
 */
export type Instrumentable =
  | CircuitBreaker
  | BreakerRegistry
  | Pipeline<unknown>
  | RetryPolicy
  | TimeoutPolicy
  | BulkheadPolicy
  | FallbackPolicy<unknown>;

/** Told about single calls, for exporters that act per call (span events). */
export interface CallListener {
  call(name: string, breaker: CircuitBreaker, outcome: CallOutcome, durationMs: number): void;
  rejected(name: string, breaker: CircuitBreaker, event: BreakerEvents['rejected']): void;
  open(name: string, breaker: CircuitBreaker, event: BreakerEvents['open']): void;
}

/**
 * Subscribes to everything in `subject`. `name` labels the policies, and a breaker that has no
 * name of its own; a subject that needs it and lacks it is refused with an InvalidOptionError.
 */
export function watch(
  subject: Instrumentable,
  name: string | undefined,
  tallies: Tallies,
  listener: CallListener | undefined,
): Unsubscribe {
  if (name !== undefined && (typeof name !== 'string' || name === '')) {
    throw new InvalidOptionError('name', 'a non-empty string', name);
  }
  const offs: Unsubscribe[] = [];
  try {
    walk(subject, name, tallies, listener, offs);
  } catch (error) {
    for (const off of offs) off();
    throw error;
  }
  return () => {
    for (const off of offs.splice(0)) off();
  };
}

function walk(
  subject: unknown,
  name: string | undefined,
  tallies: Tallies,
  listener: CallListener | undefined,
  offs: Unsubscribe[],
): void {
  if (subject instanceof CircuitBreaker) {
    const breakerName = subject.name ?? name;
    if (breakerName === undefined) {
      throw new InvalidOptionError('name', 'a name for a breaker made without one', undefined);
    }
    offs.push(watchBreaker(breakerName, subject, () => true, tallies, listener));
  } else if (subject instanceof BreakerRegistry) {
    offs.push(watchRegistry(subject, tallies, listener));
  } else if (subject instanceof Pipeline) {
    for (const policy of subject.policies) {
      // A policy of the user's own has no events we know of: nothing to count.
      if (isKnown(policy)) walk(policy, name, tallies, listener, offs);
    }
  } else if (isKnown(subject)) {
    if (name === undefined) {
      throw new InvalidOptionError('name', `a name for the ${subject.constructor.name}`, undefined);
    }
    offs.push(watchPolicy(subject, name, tallies));
  } else {
    throw new InvalidOptionError(
      'subject',
      'a CircuitBreaker, BreakerRegistry, Pipeline, RetryPolicy, TimeoutPolicy, BulkheadPolicy or FallbackPolicy',
      subject,
    );
  }
}

function isKnown(policy: unknown): policy is Instrumentable {
  return (
    policy instanceof CircuitBreaker ||
    policy instanceof BreakerRegistry ||
    policy instanceof Pipeline ||
    policy instanceof RetryPolicy ||
    policy instanceof TimeoutPolicy ||
    policy instanceof BulkheadPolicy ||
    policy instanceof FallbackPolicy
  );
}

function watchRegistry(
  registry: BreakerRegistry,
  tallies: Tallies,
  listener: CallListener | undefined,
): Unsubscribe {
  const offs = new Map<string, Unsubscribe>();
  const add = (name: string, breaker: CircuitBreaker): void => {
    offs.get(name)?.();
    // A breaker the registry deleted or evicted stops reporting a state; its counters keep their
    // totals. `has` alone: `get` would count each scrape as a use and keep a bounded registry's
    // idle breakers alive. A new breaker of this name comes through 'created' and replaces this.
    const live = (): boolean => registry.has(name);
    offs.set(name, watchBreaker(name, breaker, live, tallies, listener));
  };
  for (const [name, breaker] of registry.entries()) add(name, breaker);
  const offCreated = registry.on('created', ({ name, breaker }) => add(name, breaker));
  return () => {
    offCreated();
    for (const off of offs.values()) off();
    offs.clear();
  };
}

function watchBreaker(
  name: string,
  breaker: CircuitBreaker,
  live: () => boolean,
  tallies: Tallies,
  listener: CallListener | undefined,
): Unsubscribe {
  const tally = tallies.breaker(name);
  const state = () => (live() ? breaker.state : undefined);
  tally.state = state;
  const settled = (outcome: CallOutcome, durationMs: number): void => {
    tally.countCall(outcome);
    tally.observeDuration(durationMs);
    listener?.call(name, breaker, outcome, durationMs);
  };
  const offs = [
    breaker.on('success', ({ durationMs }) => settled('success', durationMs)),
    breaker.on('failure', ({ durationMs, error }) =>
      settled(error instanceof TimeoutError ? 'timeout' : 'failure', durationMs),
    ),
    breaker.on('ignored', () => settled('ignored', Number.NaN)),
    breaker.on('rejected', (event) => {
      tally.countCall('rejected');
      listener?.rejected(name, breaker, event);
    }),
    breaker.on('state', ({ to }) => tally.countTransition(to)),
  ];
  if (listener !== undefined)
    offs.push(breaker.on('open', (event) => listener.open(name, breaker, event)));
  return () => {
    for (const off of offs) off();
    // Only if no later instrumentation of the same name took over the state gauge.
    if (tally.state === state) tally.state = undefined;
  };
}

function watchPolicy(policy: Instrumentable, name: string, tallies: Tallies): Unsubscribe {
  if (policy instanceof RetryPolicy) {
    const retries = tallies.policy('retry', name);
    const giveUps = tallies.policy('give-up', name);
    const offRetry = policy.on('retry', () => retries.count++);
    const offGiveUp = policy.on('give-up', () => giveUps.count++);
    return () => {
      offRetry();
      offGiveUp();
    };
  }
  if (policy instanceof TimeoutPolicy) {
    const timeouts = tallies.policy('timeout', name);
    return policy.on('timeout', () => timeouts.count++);
  }
  if (policy instanceof BulkheadPolicy) {
    const rejections = tallies.policy('bulkhead-rejection', name);
    return policy.on('rejected', () => rejections.count++);
  }
  if (policy instanceof FallbackPolicy) {
    const fallbacks = tallies.policy('fallback', name);
    return policy.on('fallback', () => fallbacks.count++);
  }
  throw new InvalidOptionError('subject', 'a retry, timeout, bulkhead or fallback policy', policy);
}
