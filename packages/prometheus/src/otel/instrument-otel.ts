/**
 * `instrumentOtel()`: the same counters as the Prometheus exporter through an OpenTelemetry
 * meter, and the breaker's name and state on the active span with a span event when a call is
 * rejected or trips the breaker. Counters are observable instruments read from the tallies at
 * export time; only the duration histogram records per call (OpenTelemetry has no asynchronous
 * histogram), with attributes built once per breaker.
 */
import {
  type Attributes,
  type BatchObservableCallback,
  type Histogram,
  type Meter,
  metrics,
  type Observable,
  trace,
} from '@opentelemetry/api';
import { InvalidOptionError } from 'breakwater';
import { Tallies } from '../tally.ts';
import {
  breakerStates,
  callOutcomes,
  durationBuckets,
  metricNames,
  policyEventNames,
  policyEvents,
} from '../vocabulary.ts';
import { type CallListener, type Instrumentable, watch } from '../watch.ts';

/**
 * Span attribute and event names.
 *
 * @example
 * ```ts
 * span.attributes[spanNames.breaker]; // 'payments'
 * ```
 */
export const spanNames = {
  /** Attribute: the breaker's name. */
  breaker: 'breakwater.breaker.name',
  /** Attribute: the breaker's state when the call ended (`open` once it tripped). */
  state: 'breakwater.breaker.state',
  /** Event: the call was turned away by an open breaker. */
  rejected: 'breakwater.breaker.rejected',
  /** Event: the call's failure tripped (or re-opened) the breaker. */
  open: 'breakwater.breaker.open',
  /** Event attribute: ms until the breaker lets a call through. */
  retryAfter: 'breakwater.breaker.retry_after_ms',
  /** Event attribute: how long the breaker stays open, in ms. */
  openDuration: 'breakwater.breaker.open_duration_ms',
  /** Event attribute: the backoff step of this opening (0 for the first trip). */
  openAttempt: 'breakwater.breaker.open_attempt',
  /** Event attribute: the rule that fired (`consecutiveFailures`, `halfOpenTrial`…). */
  rule: 'breakwater.breaker.trip_rule',
  /** Event attribute: the trip reason in words, e.g. `'5 consecutive failures'`. */
  reason: 'breakwater.breaker.trip_reason',
} as const;

/**
 * Options of {@link instrumentOtel}.
 *
 * @example
 * ```ts
 * const options: OtelInstrumentOptions = { meter: provider.getMeter('checkout'), spans: true };
 * ```
 */
export interface OtelInstrumentOptions {
  /** Default: the global meter provider's meter `'breakwater'`. */
  readonly meter?: Meter;
  /** Annotate the active span (attributes, rejection and trip events). Default: true. */
  readonly spans?: boolean;
  /** The `policy` attribute of policies, and the `breaker` of a breaker made without a name. */
  readonly name?: string;
}

/**
 * What {@link instrumentOtel} returns: stops the counting and span annotation.
 *
 * @example
 * ```ts
 * using telemetry = instrumentOtel(breakers);
 * ```
 */
export interface OtelInstrumentation {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** One meter's instruments and tallies, shared by every instrumentation on it. */
interface Exporter {
  readonly tallies: Tallies;
  readonly histogram: Histogram;
  /** Histogram attributes by breaker name, built once. */
  readonly breakerAttributes: Map<string, Attributes>;
  readonly callback: BatchObservableCallback;
  readonly observables: Observable[];
  users: number;
}

const exporters = new WeakMap<Meter, Exporter>();

/**
 * Reports the breakers and policies of `subject` through OpenTelemetry: the same counters as
 * `instrument()` (`breakwater.breaker.calls`, `…transitions`, `…state`, `…call_duration` in
 * seconds, `breakwater.retries`…, which a Prometheus exporter names `breakwater_breaker_calls_total`
 * and so on), and on the span active when a call ends, the breaker's name and state as
 * attributes, with an event when the call is rejected or trips the breaker.
 *
 * @example
 * ```ts
 * import { instrumentOtel } from '@breakwater/prometheus/otel';
 *
 * instrumentOtel(breakers); // global meter provider; spans from the active context
 * await tracer.startActiveSpan('checkout', async (span) => {
 *   await breakers.get('payments').execute(charge); // span gets breakwater.breaker.name = payments
 *   span.end();
 * });
 * ```
 */
export function instrumentOtel(
  subject: Instrumentable,
  options: OtelInstrumentOptions = {},
): OtelInstrumentation {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'an object', options);
  }
  const meter = options.meter ?? metrics.getMeter('breakwater');
  if (typeof meter?.createObservableCounter !== 'function') {
    throw new InvalidOptionError('meter', 'an OpenTelemetry Meter', meter);
  }
  const spans = options.spans ?? true;
  if (typeof spans !== 'boolean') throw new InvalidOptionError('spans', 'a boolean', spans);
  const exporter = exporters.get(meter) ?? createExporter(meter);
  exporters.set(meter, exporter);
  exporter.users++;
  let off: (() => void) | undefined;
  try {
    off = watch(subject, options.name, exporter.tallies, listener(exporter, spans));
  } finally {
    if (off === undefined) release(meter, exporter);
  }
  let disposed = false;
  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    off();
    release(meter, exporter);
  };
  return { dispose, [Symbol.dispose]: dispose };
}

function release(meter: Meter, exporter: Exporter): void {
  exporter.users--;
  if (exporter.users > 0) return;
  meter.removeBatchObservableCallback(exporter.callback, exporter.observables);
  exporters.delete(meter);
}

function listener(exporter: Exporter, spans: boolean): CallListener {
  const { histogram, breakerAttributes } = exporter;
  return {
    call(name, breaker, _outcome, durationMs) {
      if (!Number.isNaN(durationMs)) {
        let attributes = breakerAttributes.get(name);
        if (attributes === undefined) {
          attributes = { breaker: name };
          breakerAttributes.set(name, attributes);
        }
        histogram.record(durationMs / 1000, attributes);
      }
      if (spans) {
        trace.getActiveSpan()?.setAttributes({
          [spanNames.breaker]: name,
          [spanNames.state]: breaker.state,
        });
      }
    },
    rejected(name, _breaker, { state, retryAfter }) {
      if (!spans) return;
      const span = trace.getActiveSpan();
      if (span === undefined) return;
      span.setAttributes({ [spanNames.breaker]: name, [spanNames.state]: state });
      span.addEvent(spanNames.rejected, {
        [spanNames.breaker]: name,
        [spanNames.state]: state,
        [spanNames.retryAfter]: retryAfter,
      });
    },
    open(name, _breaker, { attempt, openDuration, reason }) {
      if (!spans) return;
      const span = trace.getActiveSpan();
      if (span === undefined) return;
      span.setAttribute(spanNames.state, 'open');
      span.addEvent(spanNames.open, {
        [spanNames.breaker]: name,
        [spanNames.openAttempt]: attempt,
        [spanNames.openDuration]: openDuration,
        [spanNames.rule]: reason.rule,
        [spanNames.reason]: reason.text,
      });
    },
  };
}

function createExporter(meter: Meter): Exporter {
  const tallies = new Tallies();
  const state = meter.createObservableGauge(metricNames.state.otel, {
    description: metricNames.state.help,
  });
  const calls = meter.createObservableCounter(metricNames.calls.otel, {
    description: metricNames.calls.help,
  });
  const transitions = meter.createObservableCounter(metricNames.transitions.otel, {
    description: metricNames.transitions.help,
  });
  const policyCounters = policyEventNames.map((metric) =>
    meter.createObservableCounter(metric.otel, { description: metric.help }),
  );
  const histogram = meter.createHistogram(metricNames.duration.otel, {
    description: metricNames.duration.help,
    unit: 's',
    advice: { explicitBucketBoundaries: [...durationBuckets] },
  });
  const callback: BatchObservableCallback = (result) => {
    for (const tally of tallies.breakers.values()) {
      const breaker = tally.name;
      const current = tally.state?.();
      if (current !== undefined) {
        for (const s of breakerStates) {
          result.observe(state, s === current ? 1 : 0, { breaker, state: s });
        }
      }
      callOutcomes.forEach((outcome, i) => {
        result.observe(calls, tally.calls[i]!, { breaker, outcome });
      });
      breakerStates.forEach((to, i) => {
        result.observe(transitions, tally.transitions[i]!, { breaker, to });
      });
    }
    policyEvents.forEach((event, i) => {
      for (const [policy, counter] of tallies.policies.get(event) ?? []) {
        result.observe(policyCounters[i]!, counter.count, { policy });
      }
    });
  };
  const observables: Observable[] = [state, calls, transitions, ...policyCounters];
  meter.addBatchObservableCallback(callback, observables);
  return {
    tallies,
    histogram,
    breakerAttributes: new Map(),
    callback,
    observables,
    users: 0,
  };
}
