import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  BreakerRegistry,
  CircuitBreaker,
  consecutiveFailures,
  ManualClock,
  RetryPolicy,
} from 'breakwater';
import { instrumentOtel, spanNames } from '../../src/otel/index.ts';

// The active span follows async calls only with a context manager, as in any traced app.
const contextManager = new AsyncLocalStorageContextManager().enable();
context.setGlobalContextManager(contextManager);
after(() => context.disable());

const fail = () => Promise.reject(new Error('down'));

function tracing() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer('test') };
}

function metering() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exported on forceFlush only: the interval is longer than any test.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  /** Every data point of `name` as `attributes → value` after an export now. */
  const points = async (name: string): Promise<Map<string, unknown>> => {
    await reader.forceFlush();
    const out = new Map<string, unknown>();
    const last = exporter.getMetrics().at(-1);
    for (const scope of last?.scopeMetrics ?? []) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue;
        for (const point of metric.dataPoints) {
          const key = Object.entries(point.attributes)
            .map(([k, v]) => `${k}=${String(v)}`)
            .sort()
            .join(',');
          out.set(key, point.value);
        }
      }
    }
    return out;
  };
  return { meter: provider.getMeter('test'), points, provider };
}

test('puts the breaker name and state on the active span, with events on rejection and trip', async () => {
  const { exporter, tracer } = tracing();
  const breaker = new CircuitBreaker({
    name: 'payments',
    policy: consecutiveFailures(2),
    openDuration: 1_000,
    clock: new ManualClock(),
  });
  const { meter } = metering();
  instrumentOtel(breaker, { meter });

  const traced = (spanName: string, work: () => Promise<unknown>) =>
    tracer.startActiveSpan(spanName, async (span) => {
      await work().catch(() => {});
      span.end();
    });
  await traced('ok', () => breaker.execute(() => Promise.resolve('paid')));
  await traced('first failure', () => breaker.execute(fail));
  await traced('tripping', () => breaker.execute(fail));
  await traced('turned away', () => breaker.execute(fail));

  const spans = new Map(exporter.getFinishedSpans().map((span) => [span.name, span]));
  const ok = spans.get('ok')!;
  assert.equal(ok.attributes[spanNames.breaker], 'payments');
  assert.equal(ok.attributes[spanNames.state], 'closed');
  assert.deepEqual(ok.events, []);
  assert.deepEqual(spans.get('first failure')!.events, []);

  const tripping = spans.get('tripping')!;
  assert.equal(tripping.attributes[spanNames.state], 'open');
  assert.deepEqual(
    tripping.events.map((event) => [event.name, event.attributes]),
    [
      [
        spanNames.open,
        {
          [spanNames.breaker]: 'payments',
          [spanNames.openAttempt]: 0,
          [spanNames.openDuration]: 1_000,
          [spanNames.rule]: 'consecutiveFailures',
          [spanNames.reason]: '2 consecutive failures',
        },
      ],
    ],
  );

  const turnedAway = spans.get('turned away')!;
  assert.equal(turnedAway.attributes[spanNames.state], 'open');
  assert.equal(turnedAway.events.length, 1);
  assert.equal(turnedAway.events[0]!.name, spanNames.rejected);
  assert.equal(turnedAway.events[0]!.attributes?.[spanNames.retryAfter], 1_000);
});

test('leaves spans alone when asked to', async () => {
  const { exporter, tracer } = tracing();
  const breaker = new CircuitBreaker({ name: 'quiet' });
  instrumentOtel(breaker, { meter: metering().meter, spans: false });
  await tracer.startActiveSpan('call', async (span) => {
    await breaker.execute(() => Promise.resolve());
    span.end();
  });
  assert.deepEqual(exporter.getFinishedSpans()[0]!.attributes, {});
});

test('exports the same counters as the Prometheus exporter through the meter', async () => {
  const clock = new ManualClock();
  const breakers = new BreakerRegistry({
    defaults: { policy: consecutiveFailures(2), openDuration: 1_000 },
    clock,
  });
  const { meter, points } = metering();
  const telemetry = instrumentOtel(breakers, { meter });
  const retries = new RetryPolicy({ maxAttempts: 2, backoff: 0, clock });
  instrumentOtel(retries, { meter, name: 'stock-read' });

  const stock = breakers.get('stock'); // made after instrumentOtel()
  const { promise, resolve } = Promise.withResolvers<string>();
  const slow = stock.execute(() => promise);
  clock.advance(30);
  resolve('ok');
  await slow;
  await assert.rejects(retries.execute(() => stock.execute(fail))); // 2 failures: trips
  await assert.rejects(stock.execute(fail), { code: 'ERR_CIRCUIT_OPEN' });

  assert.deepEqual(Object.fromEntries(await points('breakwater.breaker.calls')), {
    'breaker=stock,outcome=success': 1,
    'breaker=stock,outcome=failure': 2,
    'breaker=stock,outcome=ignored': 0,
    'breaker=stock,outcome=rejected': 1,
    'breaker=stock,outcome=timeout': 0,
  });
  const state = await points('breakwater.breaker.state');
  assert.equal(state.get('breaker=stock,state=open'), 1);
  assert.equal(state.get('breaker=stock,state=closed'), 0);
  const transitions = await points('breakwater.breaker.transitions');
  assert.equal(transitions.get('breaker=stock,to=open'), 1);
  assert.deepEqual(Object.fromEntries(await points('breakwater.retries')), {
    'policy=stock-read': 1,
  });
  assert.deepEqual(Object.fromEntries(await points('breakwater.retry_give_ups')), {
    'policy=stock-read': 1,
  });
  const duration = (await points('breakwater.breaker.call_duration')).get('breaker=stock') as {
    count: number;
    sum: number;
    buckets: { boundaries: number[]; counts: number[] };
  };
  assert.equal(duration.count, 3, 'the success and both failures, not the rejection');
  assert.ok(Math.abs(duration.sum - 0.03) < 1e-9, 'in seconds');
  assert.equal(duration.buckets.boundaries[0], 0.001, "the proxy's buckets");

  telemetry.dispose();
  await stock.execute(() => Promise.resolve()).catch(() => {});
  const calls = await points('breakwater.breaker.calls');
  assert.equal(calls.get('breaker=stock,outcome=rejected'), 1, 'no count after dispose');
});
