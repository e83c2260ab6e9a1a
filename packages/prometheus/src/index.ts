/**
 * `@breakwater/prometheus`: Prometheus metrics for Breakwater's breakers and policies, named like
 * the proxy's `breakwater_*` metrics. OpenTelemetry lives at `@breakwater/prometheus/otel`.
 *
 * @module @breakwater/prometheus
 */
export { type Instrumentation, type InstrumentOptions, instrument } from './instrument.ts';
export type { CallOutcome } from './vocabulary.ts';
export type { Instrumentable } from './watch.ts';
