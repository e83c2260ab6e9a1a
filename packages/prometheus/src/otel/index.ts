/**
 * `@breakwater/prometheus/otel`: Breakwater's breakers and policies through OpenTelemetry — the
 * same counters as the Prometheus exporter through a meter, and breaker attributes and events on
 * the active span. Needs `@opentelemetry/api` (an optional peer dependency of this package).
 *
 * @module @breakwater/prometheus/otel
 */
export {
  instrumentOtel,
  type OtelInstrumentation,
  type OtelInstrumentOptions,
  spanNames,
} from './instrument-otel.ts';
