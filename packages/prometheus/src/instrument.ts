/**
 * `instrument()`: Prometheus metrics for breakers and policies in a prom-client registry, under
 * the same `breakwater_*` names the proxy uses. Calls add to tallies; the metrics read them when
 * the registry is scraped. Every `instrument()` on one registry and prefix shares one set of
 * metrics, removed from the registry when the last of them is disposed.
 */
import { InvalidOptionError } from 'breakwater';
import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { Tallies } from './tally.ts';
import { TallyHistogram } from './tally-histogram.ts';
import {
  breakerStates,
  callOutcomes,
  defaultPrefix,
  metricNames,
  type PolicyEvent,
  policyEventNames,
  policyEvents,
} from './vocabulary.ts';
import { type Instrumentable, watch } from './watch.ts';

/**
 * Options of {@link instrument}.
 *
 * @example
 * ```ts
 * const options: InstrumentOptions = { register: new Registry(), prefix: 'checkout_' };
 * ```
 */
export interface InstrumentOptions {
  /** The prom-client registry to add the metrics to (e.g. prom-client's default `register`). */
  readonly register: Registry;
  /** Put before every metric name. Default: `'breakwater_'`, the proxy's. */
  readonly prefix?: string;
  /**
   * The `policy` label of a retry/timeout/bulkhead/fallback policy (alone or in a pipeline), and
   * the `breaker` label of a breaker made without a name. Required when the subject has such.
   */
  readonly name?: string;
}

/**
 * What {@link instrument} returns: stops the counting. `using` works too.
 *
 * @example
 * ```ts
 * const metrics = instrument(breakers, { register });
 * metrics.dispose(); // breakers report nothing more; series of other instrumentations stay
 * ```
 */
export interface Instrumentation {
  /** Unsubscribes from every breaker and policy; the last one on a registry removes the metrics. */
  dispose(): void;
  [Symbol.dispose](): void;
}

/** One registry and prefix's metrics and tallies, shared by every instrumentation on them. */
interface Exporter {
  readonly tallies: Tallies;
  /** The metrics registered so far (families are registered on first use). */
  readonly names: readonly string[];
  users: number;
}

const exporters = new WeakMap<Registry, Map<string, Exporter>>();

const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Exports the breakers and policies of `subject` to a prom-client registry: a state gauge per
 * breaker, calls by outcome, transitions by target state, a call-duration histogram, and counters
 * of retries, retry give-ups, timeouts, bulkhead rejections and fallbacks. A registry's breakers
 * made later are instrumented as they are made.
 *
 * @example
 * ```ts
 * import { register } from 'prom-client';
 * import { BreakerRegistry, consecutiveFailures } from 'breakwater';
 * import { instrument } from '@breakwater/prometheus';
 *
 * const breakers = new BreakerRegistry({ defaults: { policy: consecutiveFailures(5) } });
 * instrument(breakers, { register });
 * // breakwater_breaker_state{breaker="payments",state="closed"} 1, …
 * ```
 */
export function instrument(subject: Instrumentable, options: InstrumentOptions): Instrumentation {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object with a register', options);
  }
  const { register, prefix = defaultPrefix } = options;
  if (typeof register?.registerMetric !== 'function') {
    throw new InvalidOptionError('register', 'a prom-client Registry', register);
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !PROMETHEUS_NAME.test(prefix))) {
    throw new InvalidOptionError(
      'prefix',
      'letters, digits, _ and :, not starting with a digit',
      prefix,
    );
  }
  let byPrefix = exporters.get(register);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    exporters.set(register, byPrefix);
  }
  const exporter = byPrefix.get(prefix) ?? createExporter(register, prefix);
  byPrefix.set(prefix, exporter);
  exporter.users++;
  let off: (() => void) | undefined;
  try {
    off = watch(subject, options.name, exporter.tallies, undefined);
  } finally {
    if (off === undefined) release(register, prefix, exporter);
  }
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    off();
    release(register, prefix, exporter);
  };
  return { dispose, [Symbol.dispose]: dispose };
}

function release(register: Registry, prefix: string, exporter: Exporter): void {
  exporter.users--;
  if (exporter.users > 0) return;
  for (const name of exporter.names) register.removeSingleMetric(name);
  exporters.get(register)?.delete(prefix);
}

function createExporter(register: Registry, prefix: string): Exporter {
  const names: string[] = [];
  /** Registers a metric, refusing a name the registry already has from someone else. */
  const claim = (name: string): string => {
    if (register.getSingleMetric(name) !== undefined) {
      throw new InvalidOptionError('register', `a registry without a metric named ${name}`, name);
    }
    names.push(name);
    return name;
  };
  const tallies: Tallies = new Tallies((family) => {
    if (family === 'breaker') registerBreakerMetrics(register, prefix, tallies, claim);
    else registerPolicyCounter(register, prefix, tallies, family, claim);
  });
  return { tallies, names, users: 0 };
}

function registerBreakerMetrics(
  register: Registry,
  prefix: string,
  tallies: Tallies,
  claim: (name: string) => string,
): void {
  const breakers = () => tallies.breakers.values();
  const names = {
    state: claim(prefix + metricNames.state.prometheus),
    calls: claim(prefix + metricNames.calls.prometheus),
    transitions: claim(prefix + metricNames.transitions.prometheus),
    duration: claim(prefix + metricNames.duration.prometheus),
  };
  new Gauge({
    name: names.state,
    help: metricNames.state.help,
    labelNames: ['breaker', 'state'],
    registers: [register],
    collect() {
      this.reset();
      for (const tally of breakers()) {
        const current = tally.state?.();
        if (current === undefined) continue;
        for (const state of breakerStates) {
          this.set({ breaker: tally.name, state }, state === current ? 1 : 0);
        }
      }
    },
  });
  new Counter({
    name: names.calls,
    help: metricNames.calls.help,
    labelNames: ['breaker', 'outcome'],
    registers: [register],
    collect() {
      this.reset();
      for (const tally of breakers()) {
        callOutcomes.forEach((outcome, i) => {
          this.inc({ breaker: tally.name, outcome }, tally.calls[i]!);
        });
      }
    },
  });
  new Counter({
    name: names.transitions,
    help: metricNames.transitions.help,
    labelNames: ['breaker', 'to'],
    registers: [register],
    collect() {
      this.reset();
      for (const tally of breakers()) {
        breakerStates.forEach((to, i) => {
          this.inc({ breaker: tally.name, to }, tally.transitions[i]!);
        });
      }
    },
  });
  const histogram = new TallyHistogram(names.duration, metricNames.duration.help, breakers);
  register.registerMetric(histogram as unknown as Metric);
}

function registerPolicyCounter(
  register: Registry,
  prefix: string,
  tallies: Tallies,
  event: PolicyEvent,
  claim: (name: string) => string,
): void {
  const metric = policyEventNames[policyEvents.indexOf(event)]!;
  new Counter({
    name: claim(prefix + metric.prometheus),
    help: metric.help,
    labelNames: ['policy'],
    registers: [register],
    collect() {
      this.reset();
      for (const [policy, counter] of tallies.policies.get(event) ?? []) {
        this.inc({ policy }, counter.count);
      }
    },
  });
}
